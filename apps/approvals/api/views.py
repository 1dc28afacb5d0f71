"""/api/v1/deployment-requests/: parse the body, call one service, answer with the request as it now is.

Refusals are the services' own (DomainError, PermissionDenied, ValidationError): the project's
exception handler turns them into problem details, so this module maps no errors itself.
"""

from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from apps.accounts import permissions
from apps.audit.actors import Actor
from apps.core.api import DocumentedFilters

from .. import selectors, services
from ..exceptions import ApprovalForbidden
from ..filters import DeploymentRequestFilter
from ..models import Decision, RequestStep
from ..services.reports import deployment_report
from . import serializers as s

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem(description: str) -> dict:
    return {(409, "application/problem+json"): OpenApiResponse(response=PROBLEM, description=description)}


class PeopleDecide(BasePermission):
    """Deciding is for people: no token scope carries the approve action, so a token is refused outright."""

    message = "API tokens cannot decide deployment requests; an approver decides as a person."

    def has_permission(self, request, view):
        return permissions.token_allows(request.user, permissions.APPROVE)


@extend_schema_view(
    list=extend_schema(summary="List deployment requests you may see", responses=s.DeploymentRequestOutput(many=True)),
    retrieve=extend_schema(summary="One deployment request with its steps, decisions and checks"),
)
class DeploymentRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeploymentRequestOutput
    filterset_class = DeploymentRequestFilter
    filter_backends = [DocumentedFilters, SearchFilter, OrderingFilter]
    search_fields = ["justification", "version__model__name", "version__version", "requester__username"]
    ordering_fields = ["id", "created_at", "submitted_at", "closed_at", "expires_at", "state"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        # Every step of every round with its decisions: a page of requests is a fixed number of queries.
        decisions = Prefetch("decisions", queryset=Decision.objects.order_by("decided_at", "pk"))
        steps = RequestStep.objects.order_by("round", "order").prefetch_related(decisions)
        # The page's FilterSet, applied here once (DocumentedFilters below only documents it in the schema).
        filters = selectors.deployment_request_filter(user=self.request.user, data=self.request.query_params)
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        return filters.qs.prefetch_related(Prefetch("steps", queryset=steps))

    def get_permissions(self):
        extra = [PeopleDecide()] if self.action == "decisions" else []
        return [IsAuthenticated(), *extra]

    def _parse(self, serializer_class):
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, pk, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        summary="Request a deployment (submitted at once unless submit is false)",
        request=s.RequestCreateInput,
        responses={201: s.DeploymentRequestOutput}
        | _problem("Refused by the workflow: `policy_check_failed` (the failing checks in `detail`), "
                   "`request_already_open`, `no_policy`, `policy_unsatisfiable`."),
    )  # fmt: skip
    def create(self, request):
        data = self._parse(s.RequestCreateInput)
        make = services.request_deployment if data["submit"] else services.deployment_request_create
        created = make(
            actor=Actor.of(request.user),
            version=data["version"],
            environment=data["environment"],
            justification=data["justification"],
        )
        return self._answer(created.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Submit a draft for approval (the requester)",
        request=s.SubmitInput,
        responses={200: s.DeploymentRequestOutput}
        | _problem("`not_draft`, `policy_check_failed`, `no_policy`, `policy_unsatisfiable`."),
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        self._parse(s.SubmitInput)
        services.deployment_request_submit(actor=Actor.of(request.user), request=self.get_object())
        return self._answer(pk)

    @extend_schema(
        summary="Withdraw a draft or pending request (the requester)",
        request=s.CancelInput,
        responses={200: s.DeploymentRequestOutput}
        | _problem("`request_closed`: already decided, withdrawn or expired."),
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = self._parse(s.CancelInput)
        services.deployment_request_cancel(
            actor=Actor.of(request.user), request=self.get_object(), reason=data["reason"]
        )
        return self._answer(pk)

    @extend_schema(
        summary="Approve or reject the open step, if it needs no e-signature (people only, not tokens)",
        description=(
            "A step that needs an electronic signature is refused with 403 `signature_required`: the approver "
            "signs in the browser at the request's `url`. Repeating the same decision returns the first one."
        ),
        request=s.DecisionInput,
        responses={201: s.DecisionResultOutput}
        | _problem("`request_closed`, or `step_closed` when the step was decided meanwhile."),
    )
    @action(detail=True, methods=["post"])
    def decisions(self, request, pk=None):
        data = self._parse(s.DecisionInput)
        deployment_request = self.get_object()
        step_id = self._unsigned_step_id(deployment_request, data["step"])
        decision = services.deployment_request_decide(
            actor=Actor.of(request.user), request=deployment_request, outcome=data["outcome"],
            comment=data["comment"], password=None, step_id=step_id,
        )  # fmt: skip
        fresh = self.get_queryset().get(pk=pk)
        body = {"decision": s.DecisionOutput(decision).data, "request": self.get_serializer(fresh).data}
        return Response(body, status=status.HTTP_201_CREATED)

    def _unsigned_step_id(self, deployment_request, step_id: int | None) -> int | None:
        """The step this decision is pinned to; refuses one that needs a signature, which the API cannot carry.

        Pinning the checked step means the service refuses (step_closed) rather than asking for a password
        if the request moves on to a signed step meanwhile. A person who already decided is not pinned:
        a repeated POST gets their first decision back, and the service refuses a different decision
        before it would ask for any password.
        """
        steps = list(deployment_request.steps.all())  # every round: a step id may name a voided one
        already = any(d.approver_id == self.request.user.pk and d.voided_at is None for x in steps
                      for d in x.decisions.all())  # fmt: skip
        if step_id is None and already:
            return None
        step = next((x for x in steps if x.pk == step_id), None) if step_id else deployment_request.open_step()
        if step is not None and step.requires_signature:
            page = self.request.build_absolute_uri(reverse("approvals:request-detail", args=[deployment_request.pk]))
            raise ApprovalForbidden(
                f"Step {step.order} ({step.name}) needs an electronic signature: sign in the browser at {page}",
                code="signature_required",
            )
        return step.pk if step is not None else step_id

    @extend_schema(
        summary="Report that an approved request was deployed (or failed to deploy)",
        description="Recorded as a `deployment.reported` audit event on the request. Needs the "
        "report-deployment scope (tokens) or a contributor or admin role in the model's team.",
        request=s.DeploymentReportInput,
        responses={201: s.DeploymentReportOutput} | _problem("`not_approved`: only an approved request is deployed."),
    )
    @action(detail=True, methods=["post"])
    def deployments(self, request, pk=None):
        data = self._parse(s.DeploymentReportInput)
        event = deployment_report(actor=Actor.of(request.user), request=self.get_object(), **data)
        body = {
            "recorded": True, "request": event.request_id, "target": event.changes["target"][1],
            "status": event.changes["status"][1], "details": event.changes["details"][1] or "",
            "url": event.changes["url"][1] or "", "event": event.sequence, "reported_at": event.timestamp,
        }  # fmt: skip
        return Response(s.DeploymentReportOutput(body).data, status=status.HTTP_201_CREATED)
