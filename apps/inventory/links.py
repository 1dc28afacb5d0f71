from django.urls import reverse

from .models import ModelVersion, RegisteredModel


def _int_ids(ids):
    return [int(i) for i in ids if i.isdigit()]


def model_urls(ids: list[str]) -> dict[str, str]:
    rows = RegisteredModel.objects.filter(pk__in=_int_ids(ids)).values_list("pk", "slug")
    return {str(pk): reverse("inventory:model-detail", args=[slug]) for pk, slug in rows}


def version_urls(ids: list[str]) -> dict[str, str]:
    rows = ModelVersion.objects.filter(pk__in=_int_ids(ids)).values_list("pk", "model__slug", "version")
    return {str(pk): reverse("inventory:version-detail", args=[slug, version]) for pk, slug, version in rows}


def known_urls(model: RegisteredModel, versions=()) -> dict[tuple[str, str], str]:
    """The audit-target URLs a model's or a version's page holds already (the model's, and those of `versions`, all
    of that model), so its history looks up only the others."""
    urls = {("inventory.registeredmodel", str(model.pk)): reverse("inventory:model-detail", args=[model.slug])}
    for version in versions:
        url = reverse("inventory:version-detail", args=[model.slug, version.version])
        urls[("inventory.modelversion", str(version.pk))] = url
    return urls
