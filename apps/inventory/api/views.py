"""Inventory API: models, their versions, environments. Selectors read (scoped), one service writes, serializers show.

An object the principal may not see is a 404; one it may see but not change is a 403 from the service.
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from apps.audit.actors import Actor
from apps.core.api import CountedPagination, DocumentedFilters, KeysetPagination, ordering_parameter, parse_body

from .. import selectors, services
from ..filters import RegisteredModelFilter
from ..models import Environment, ModelVersion, Source
from . import serializers

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
MODEL_SLUG = OpenApiParameter(
    "model_slug", str, OpenApiParameter.PATH, description="The model's slug.", pattern=SLUG_PATTERN
)
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The model's slug.", pattern=SLUG_PATTERN)
VERSION = OpenApiParameter(
    "version", str, OpenApiParameter.PATH, description="The version string, e.g. 1.4.0.",
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
)  # fmt: skip


@extend_schema_view(
    list=extend_schema(
        summary="List models",
        description=(
            "Models this principal may see, a page at a time: follow `next` (it carries `cursor=`), which costs "
            "the same on page 1 and page 1,000. `count` is exact up to 1,000; above, "
            "`count_capped` is true."
        ),
    ),
    retrieve=extend_schema(summary="Get a model", parameters=[SLUG]),
)
class RegisteredModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = serializers.RegisteredModelOutput
    lookup_field = "slug"
    lookup_value_regex = r"[^/]+"
    # The selector filters (the FilterSet the page uses too); the backend only documents its parameters.
    filter_backends = [DocumentedFilters]
    filterset_class = RegisteredModelFilter
    pagination_class = KeysetPagination

    def get_queryset(self):
        return selectors.registered_models_visible(user=self.request.user)

    def retrieve(self, request, *args, **kwargs):
        model = selectors.with_owner_names([self.get_object()])[0]
        return Response(self.get_serializer(model).data)

    def list(self, request, *args, **kwargs):
        pager = self.paginator
        page = selectors.registered_model_list(
            user=request.user, data=request.query_params, cursor=pager.cursor_of(request),
            per_page=pager.page_size_of(request), with_owners=True,
        )  # fmt: skip
        return pager.response(request, page, self.get_serializer(page.rows, many=True).data)

    def _render(self, model, status_code=status.HTTP_200_OK):
        model = self.get_queryset().get(pk=model.pk)  # as the list shows it: tags, owners, latest version
        selectors.with_owner_names([model])
        headers = {}
        if status_code == status.HTTP_201_CREATED:
            headers["Location"] = reverse("inventory-api:model-detail", args=[model.slug])
        return Response(self.get_serializer(model).data, status=status_code, headers=headers)

    @extend_schema(
        summary="Register a model",
        request=serializers.ModelRegisterInput,
        responses={201: serializers.RegisteredModelOutput},
    )
    def create(self, request, *args, **kwargs):
        data = parse_body(request, serializers.ModelRegisterInput)
        model = services.registered_model_register(actor=Actor.of(request.user), **data)
        return self._render(model, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a model's metadata",
        parameters=[SLUG],
        request=serializers.ModelUpdateInput,
        responses={200: serializers.RegisteredModelOutput},
    )
    def partial_update(self, request, *args, **kwargs):
        model = self.get_object()
        data = parse_body(request, serializers.ModelUpdateInput, partial=True)
        model = services.registered_model_update(actor=Actor.of(request.user), model=model, **data)
        return self._render(model)


@extend_schema_view(
    list=extend_schema(
        summary="List a model's versions",
        description="Newest first.",
        parameters=[ordering_parameter("created_at", "version")],
    ),
    retrieve=extend_schema(summary="Get a version", parameters=[VERSION]),
)
@extend_schema(parameters=[MODEL_SLUG])
class ModelVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = serializers.ModelVersionOutput
    lookup_field = "version"
    lookup_value_regex = r"[^/]+"
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "version"]
    pagination_class = CountedPagination  # the count is the model's version_count, kept by the services

    def get_model(self):
        """The model in the URL, if this principal may see it (else 404); the services decide on changes. Its row
        alone: the versions' output and the services need none of its relations."""
        if not hasattr(self, "_model"):
            self._model = selectors.registered_model_get(
                user=self.request.user, slug=self.kwargs["model_slug"], joined=False
            )
        return self._model

    def list_count(self) -> int:
        """How many versions the list holds (all of the model's, whatever the order): CountedPagination's count."""
        return self.get_model().version_count

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no URL to read
            return ModelVersion.objects.none()
        return selectors.model_version_list(model=self.get_model(), row=True)

    def get_object(self, *, row: bool = False):
        """The version in the URL with its model, in one query: restrict() on versions is the model's rule, so a
        model this principal may not see is a 404 here as in get_model(). `row`: only what the output shows of its
        relations (reading it, not changing it)."""
        version = selectors.model_version_get(
            user=self.request.user, slug=self.kwargs["model_slug"], version=self.kwargs[self.lookup_field], row=row
        )
        if not row:
            self._model = version.model
        self.check_object_permissions(self.request, version)
        return version

    def retrieve(self, request, *args, **kwargs):
        return Response(self.get_serializer(self.get_object(row=True)).data)

    def _render(self, version, status_code=status.HTTP_200_OK, fresh: bool = False):
        """The version as the API shows it; `fresh` when the service just made it, with everything the output reads
        (its model, creator and parent), so it is not read back."""
        if not fresh:
            version = self.get_queryset().get(pk=version.pk)
        headers = {}
        if status_code == status.HTTP_201_CREATED:
            args = [version.model.slug, version.version]
            headers["Location"] = reverse("inventory-api:model-version-detail", args=args)
        return Response(self.get_serializer(version).data, status=status_code, headers=headers)

    @extend_schema(
        summary="Add a version",
        description="Versions made through the API have source `api`.",
        request=serializers.VersionCreateInput,
        responses={201: serializers.ModelVersionOutput},
    )
    def create(self, request, *args, **kwargs):
        model = self.get_model()
        data = parse_body(request, serializers.VersionCreateInput, model=model)
        version = services.model_version_create(actor=Actor.of(request.user), model=model, source=Source.API, **data)
        return self._render(version, status.HTTP_201_CREATED, fresh=True)

    @extend_schema(
        summary="Add many versions",
        description=(
            f"All or none: 1 to {services.MAX_VERSIONS_PER_BATCH:,} versions, each with the fields of adding one "
            "version, registered in one transaction with a `version.created` audit event each (source `api`). A bad "
            "entry refuses the whole batch; `errors` names it, e.g. `versions[3].artifact_digest`."
        ),
        request=serializers.VersionsBulkInput,
        responses={201: serializers.VersionsBulkOutput},
    )
    @action(detail=False, methods=["post"], url_path="bulk", filter_backends=[], pagination_class=None)
    def bulk(self, request, *args, **kwargs):
        model = self.get_model()
        data = parse_body(request, serializers.VersionsBulkInput, model=model)
        versions = services.model_versions_create_bulk(
            actor=Actor.of(request.user), model=model, versions=data["versions"], source=Source.API
        )
        position = {version.pk: index for index, version in enumerate(versions)}
        created = sorted(self.get_queryset().filter(pk__in=position), key=lambda version: position[version.pk])
        body = serializers.VersionsBulkOutput({"versions": created}, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    # A version may be called "bulk" (a Git tag can name it so): GET and PATCH on .../versions/bulk/ are that version,
    # as on any other version's URL; only POST is the batch. Left out of the schema, which documents them once.
    @extend_schema(exclude=True)
    @bulk.mapping.get
    def bulk_version_get(self, request, *args, **kwargs):
        self.kwargs[self.lookup_field] = "bulk"
        return self.retrieve(request, *args, **kwargs)

    @extend_schema(exclude=True)
    @bulk.mapping.patch
    def bulk_version_patch(self, request, *args, **kwargs):
        self.kwargs[self.lookup_field] = "bulk"
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        summary="Change a version's metadata",
        parameters=[VERSION],
        request=serializers.VersionUpdateInput,
        responses={200: serializers.ModelVersionOutput},
    )
    def partial_update(self, request, *args, **kwargs):
        version = self.get_object()
        data = parse_body(request, serializers.VersionUpdateInput, partial=True, model=version.model)
        version = services.model_version_update(actor=Actor.of(request.user), version=version, **data)
        return self._render(version)


@extend_schema_view(
    list=extend_schema(summary="List environments", description="In promotion order."),
    retrieve=extend_schema(summary="Get an environment"),
)
class EnvironmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Deployment environments: portal configuration every signed-in principal may read."""

    queryset = Environment.objects.order_by("order")
    serializer_class = serializers.EnvironmentOutput
    lookup_field = "slug"
    lookup_value_regex = r"[^/]+"
    filter_backends = []
