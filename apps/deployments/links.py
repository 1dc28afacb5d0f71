from django.urls import reverse


def target_urls(ids: list[str]) -> dict[str, str]:
    return {i: reverse("deployments:target-detail", args=[int(i)]) for i in ids if i.isdigit()}
