from django.urls import reverse


def request_urls(ids: list[str]) -> dict[str, str]:
    return {i: reverse("approvals:request-detail", args=[int(i)]) for i in ids if i.isdigit()}


def policy_urls(ids: list[str]) -> dict[str, str]:
    return {i: reverse("approvals:policy-edit", args=[int(i)]) for i in ids if i.isdigit()}
