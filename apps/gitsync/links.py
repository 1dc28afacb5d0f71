from django.urls import reverse


def repository_urls(ids: list[str]) -> dict[str, str]:
    from .models import GitRepository

    pks = GitRepository.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()]).values_list("pk", flat=True)
    return {str(pk): reverse("gitsync:repository-detail", args=[pk]) for pk in pks}
