"""Deployments API: targets, observation intervals and statuses (read-only, scoped by the selectors), and what ran
for a model in an environment at a point in time."""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import DocumentedFilters, ordering_parameter
from apps.inventory import selectors as inventory

from .. import selectors
from ..filters import DeploymentTargetFilter
from ..models import DriftState, DriftStatus, Running
from . import serializers


class IntervalFilter(django_filters.FilterSet):
    target = django_filters.NumberFilter(field_name="target_id", help_text="Target id.")
    model = django_filters.CharFilter(field_name="model__slug", help_text="Registered model slug.")
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    current = django_filters.BooleanFilter(
        field_name="until", lookup_expr="isnull", help_text="true: only what runs now; false: only what stopped."
    )

    class Meta:
        model = Running
        fields = ["target", "model", "environment", "current"]


class DriftStateFilter(django_filters.FilterSet):
    team = django_filters.CharFilter(field_name="model__team__slug", help_text="Team slug, e.g. credit-risk.")
    environment = django_filters.CharFilter(field_name="environment__slug", help_text="Environment slug.")
    status = django_filters.MultipleChoiceFilter(
        choices=DriftStatus.choices, help_text="One or more statuses: ?status=unapproved&status=digest_mismatch"
    )
    model = django_filters.CharFilter(field_name="model__slug", help_text="Registered model slug.")
    exception = django_filters.BooleanFilter(field_name="exception_rank", method="filter_exception",
                                             help_text="true: only compliance exceptions.")  # fmt: skip

    class Meta:
        model = DriftState
        fields = ["team", "environment", "status", "model", "exception"]

    def filter_exception(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(exception_rank=0 if value else 1)


@extend_schema_view(
    list=extend_schema(
        summary="List deployment targets",
        description="Portal admins see every target; others those their teams operate.",
        parameters=[ordering_parameter("name", "last_observed_at")],
    ),
    retrieve=extend_schema(summary="Get a deployment target"),
)
class DeploymentTargetViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.DeploymentTargetOutput
    # The selector filters (the FilterSet the page uses too); the backend only documents its parameters.
    filter_backends = [DocumentedFilters, OrderingFilter]
    filterset_class = DeploymentTargetFilter
    ordering_fields = ["name", "last_observed_at"]

    def get_queryset(self):
        return selectors.target_list(user=self.request.user)

    def list(self, request, *args, **kwargs):
        # A bad filter value raises the selector's ValidationError: a 400 naming the parameter.
        targets = selectors.target_list(user=request.user, data=request.query_params)
        page = self.paginate_queryset(self.filter_queryset(targets))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="List observation intervals",
        description="Each interval in which a target reported a model version running, newest first: of models you "
        "may view, or on targets your teams operate.",
        parameters=[ordering_parameter("started_at")],
    ),
    retrieve=extend_schema(summary="Get an observation interval"),
)
class ObservationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.IntervalOutput
    # No text search: an interval has no name to search (the default backends would document a `search` that did
    # nothing).
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = IntervalFilter
    ordering_fields = ["started_at"]

    def get_queryset(self):
        return selectors.observation_list(user=self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List deployment statuses",
        description="One status per model and environment (what runs against what was approved), for models you may "
        "view; compliance exceptions first.",
    ),
    retrieve=extend_schema(summary="Get a deployment status"),
)
class DriftStateViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.DriftStateOutput
    # Filters only: statuses come in one order (exceptions first), so neither `search` nor `ordering` is offered.
    filter_backends = [DjangoFilterBackend]
    filterset_class = DriftStateFilter

    def get_queryset(self):
        return selectors.drift_state_list(user=self.request.user)


class InvalidQuery(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The query was not valid."


def _query(request, serializer_class) -> dict:
    """The query string through `serializer_class`; a 400 problem whose detail names each bad parameter."""
    serializer = serializer_class(data=request.query_params)
    if not serializer.is_valid():
        raise InvalidQuery(" ".join(
            f"{name}: {message}" for name, messages in serializer.errors.items() for message in messages
        ))  # fmt: skip
    return serializer.validated_data


def _required(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=True, description=description)


class PointInTimeView(APIView):
    @extend_schema(
        operation_id="deployments_at",
        summary="What ran at a point in time",
        description="What ran for a model in an environment at a time: since when, deployed by which commit, approved "
        "by whom under which policy revision. In a gap (`gap: true`), `before` and `after` are the intervals around "
        "it. A missing or malformed parameter, an unknown environment or a time in the future → 400; a model you "
        "may not view → 404.",
        parameters=[
            _required("model", "The model's slug."),
            _required("environment", "The environment's slug, e.g. production."),
            _required("time", "ISO 8601, e.g. 2026-03-01T12:00:00Z (without a zone: UTC)."),
        ],
        responses={
            200: serializers.PointInTimeOutput,
            (404, "application/problem+json"): OpenApiResponse(
                response={"$ref": "#/components/schemas/Problem"},
                description="No such model, or not one this principal may see.",
            ),
        },
    )
    def get(self, request):
        query = _query(request, serializers.PointInTimeInput)
        model = inventory.registered_model_get(user=request.user, slug=query["model"])
        answer = selectors.deployed_at(user=request.user, model=model, environment=query["environment"],
                                       moment=query["time"])  # fmt: skip
        return Response(serializers.PointInTimeOutput(answer).data)
