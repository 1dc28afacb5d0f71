"""Browser input for deployments: the point-in-time question, and the time it asks about (shared with the API)."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.forms import BootstrapMixin
from apps.inventory.models import Environment

EXAMPLE = "2026-03-01T12:00:00Z"
MAX_OFFSET = 18 * 60  # minutes: the widest UTC offset ISO 8601 allows


def parse_moment(value: str, *, offset_minutes: int | None = None, now: datetime | None = None) -> datetime:
    """A moment in the past from ISO 8601 text. Without a zone it is UTC, or local time `offset_minutes` behind
    UTC (what a browser's getTimezoneOffset() says). ValidationError in plain words otherwise."""
    text = (value or "").strip()
    if not text:
        raise ValidationError(f"Give a date and time, e.g. {EXAMPLE}.", code="required")
    try:
        moment = parse_datetime(text)
    except ValueError:  # the right shape, an impossible value (month 13, 25 o'clock)
        moment = None
    if moment is None:
        raise ValidationError(f"“{text[:40]}” is not a date and time; use ISO 8601, e.g. {EXAMPLE}.", code="invalid")
    try:
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC) + timedelta(minutes=offset_minutes or 0)
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"“{text[:40]}” is out of range.", code="invalid") from None
    if moment > (now or timezone.now()):
        raise ValidationError("That time is in the future: ask about a moment up to now.", code="future")
    return moment


class PointInTimeForm(BootstrapMixin, forms.Form):
    """What ran for a model in an environment at a time. `tz` is filled in by static/js/deployments.js."""

    environment = forms.ModelChoiceField(
        queryset=Environment.objects.order_by("order"), to_field_name="slug", empty_label=None
    )
    time = forms.CharField(
        max_length=64, widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
        help_text="Your local time (UTC when JavaScript is off); ISO 8601 with a zone is read as given.",
    )  # fmt: skip
    tz = forms.IntegerField(required=False, min_value=-MAX_OFFSET, max_value=MAX_OFFSET, widget=forms.HiddenInput)

    def __init__(self, *args, environments=None, **kwargs):
        """`environments`: the environments in promotion order, when the caller has them already (the model page):
        the form shows them as they are instead of reading them again (twice: for the options and the first one)."""
        kwargs.setdefault("auto_id", "pit-%s")  # unique beside the other forms of the model page
        super().__init__(*args, **kwargs)
        if environments is not None:
            field = self.fields["environment"]
            field.choices = [(env.slug, field.label_from_instance(env)) for env in environments]

    def clean(self):
        data = super().clean()
        if "time" in data and "tz" not in self.errors:
            try:
                data["moment"] = parse_moment(data["time"], offset_minutes=data.get("tz"))
            except ValidationError as exc:
                self.add_error("time", exc)
        return data


class BreakGlassForm(BootstrapMixin, forms.Form):
    """An emergency deployment, recorded by a portal admin. The rules (reason, a deploying target) are the service's."""

    model = forms.SlugField(
        label="Model", help_text="The model's slug, as in its page's address (e.g. churn-predictor)."
    )
    version = forms.CharField(max_length=64, help_text="The version that runs (or must run) now, e.g. 1.4.1.")
    environment = forms.ModelChoiceField(queryset=Environment.objects.order_by("order"), empty_label=None)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=5000,
        help_text="Why this could not wait for an approval. It goes on record, and auditors read it.",
    )  # fmt: skip
    deploy = forms.BooleanField(
        required=False, label="Deploy it through the portal",
        help_text="Leave unticked to record a deployment already made by hand.",
    )  # fmt: skip
