"""Repositories API: read repositories and their sync runs, ask for a sync. Secrets never appear."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from apps.audit.actors import Actor
from apps.core.api import DocumentedFilters, ordering_parameter, parse_body

from .. import selectors, services
from ..filters import GitRepositoryFilter
from ..models import Trigger
from . import serializers


def _sync_detail(repository, queued: bool) -> str:
    if not queued:
        return f"A sync of {repository.name} was already queued; this request joins it."
    if settings.CELERY_TASK_ALWAYS_EAGER:  # no broker: the sync ran in this request
        return f"{repository.name} was synced in-process; the run is the first of its runs."
    return f"A sync of {repository.name} is queued; a worker picks it up."


@extend_schema_view(
    list=extend_schema(
        summary="List repositories",
        description="Repositories of the principal's teams.",
        parameters=[ordering_parameter("name", "last_synced_at")],
    ),
    retrieve=extend_schema(summary="Get a repository", description="With its latest sync runs."),
)
class GitRepositoryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.GitRepositoryOutput
    # The selector filters (the FilterSet the page uses too); the backend only documents its parameters.
    filter_backends = [DocumentedFilters, OrderingFilter]
    filterset_class = GitRepositoryFilter
    ordering_fields = ["name", "last_synced_at"]
    ordering = ["name"]

    def get_queryset(self):
        return selectors.git_repositories_visible(user=self.request.user)

    def list(self, request, *args, **kwargs):
        # A bad filter value raises the selector's ValidationError: a 400 naming the parameter.
        repositories = selectors.git_repository_list(user=request.user, data=request.query_params)
        page = self.paginate_queryset(self.filter_queryset(repositories))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.GitRepositoryDetailOutput
        return super().get_serializer_class()

    @extend_schema(summary="List a repository's sync runs", description="Newest first.",
                   responses=serializers.SyncRunOutput(many=True))  # fmt: skip
    @action(detail=True, methods=["get"], filter_backends=[], serializer_class=serializers.SyncRunOutput)
    def runs(self, request, pk=None):
        repository = self.get_object()
        page = self.paginate_queryset(repository.runs.order_by("-started_at", "-pk"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Sync now",
        description="Queue a sync (needs the `register` scope or a contributor role); a request while one is "
        "queued joins it (`queued: false`).",
        request=serializers.SyncInput,
        responses={202: serializers.SyncRequestedOutput},
    )
    @action(detail=True, methods=["post"], filter_backends=[], serializer_class=serializers.SyncInput)
    def sync(self, request, pk=None):
        repository = self.get_object()
        parse_body(request, serializers.SyncInput)
        queued = services.repository_request_sync(
            actor=Actor.of(request.user), repository=repository, trigger=Trigger.MANUAL
        )
        body = {"queued": queued, "detail": _sync_detail(repository, queued)}
        return Response(serializers.SyncRequestedOutput(body).data, status=status.HTTP_202_ACCEPTED)
