"""The audit filters, defined once: the page renders AuditFilterForm, and the page, the API's event list and every
export parse their parameters through it (parse()), so a field, its check, its message and what it selects are
written here only."""

import functools
from dataclasses import asdict, dataclass
from datetime import date

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html_join

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.audit.actions import Action
from apps.core.forms import BootstrapMixin
from apps.core.inputs import parse_id
from apps.inventory.models import Environment

from .. import pickers

FILTER_KEYS = ("date_from", "date_to", "team", "model", "version", "environment", "request", "actor", "action",
               "target")  # fmt: skip
NOT_FILTERS = ("page", "cursor", "format", "csrfmiddlewaretoken")
_INTEGER_KEYS = ("team", "model", "version", "environment", "request")


@dataclass(frozen=True)
class AuditFilters:
    date_from: date | None = None
    date_to: date | None = None
    team: int | None = None
    model: int | None = None
    version: int | None = None
    environment: int | None = None
    request: int | None = None
    actor: str = ""
    action: str = ""
    target: str = ""

    def as_dict(self) -> dict:
        """The filters that are set, JSON-ready (for manifests and audit events)."""
        return {key: (value.isoformat() if isinstance(value, date) else value)
                for key, value in asdict(self).items() if value not in (None, "")}  # fmt: skip

    def selector_kwargs(self) -> dict:
        data = asdict(self)
        kwargs = {key: data[key] for key in ("actor", "action", "target", "date_from", "date_to") if data[key]}
        for key in _INTEGER_KEYS:
            if data[key] is not None:
                kwargs[f"{key}_id"] = data[key]
        return kwargs


class _IdField(forms.CharField):
    """A positive id, as links and selects send it; refused with the message the API has always given."""

    def __init__(self, key: str, **kwargs):
        super().__init__(required=False, **kwargs)
        self.key = key

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        if (number := parse_id(text)) is None:
            raise ValidationError(f"{self.key} must be a positive number (an id), not {text!r}.")
        return number


class _DateField(forms.CharField):
    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{text!r} is not a date: use YYYY-MM-DD.") from None


def _text(label: str = "", **attrs) -> forms.CharField:
    widget = forms.TextInput(attrs={"autocomplete": "off", **attrs})
    field = forms.CharField(required=False, max_length=200, label=label or None, widget=widget)
    field.error_messages["max_length"] = "At most 200 characters."
    return field


class AuditFilterForm(BootstrapMixin, forms.Form):
    """The audit trail's filters. Model, version and actor are pickers (static/js/picker.js, /audit/suggest/) over
    plain text fields, so they work without JavaScript: a model's name, slug or id; a version's name under the
    chosen model (or an id, as old links give it); a username or system name."""

    actor = _text(placeholder="username", **{"data-suggest": "actor"})
    action = _text(placeholder="model. or role.granted", list="audit-actions")
    target = _text()
    team = _IdField("team", widget=forms.Select)
    model = _text(placeholder="name or slug", **{"data-suggest": "model"})
    version = _text(placeholder="e.g. 1.4.0", **{"data-suggest": "version", "data-suggest-model": "id_model"})
    environment = _IdField("environment", widget=forms.Select)
    request = _IdField("request", label="Request #", widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    date_from = _DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = _DateField(required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data=None, *, user, for_export: bool = False, choices: bool = False):
        """`choices`: fill the team and environment selects (the page); parsing alone needs no list."""
        super().__init__(data)
        self.user, self.for_export = user, for_export
        self.model_obj = self.version_obj = None
        self.version_model_name = ""
        if choices:
            action = permissions.EXPORT_AUDIT if for_export else permissions.VIEW_AUDIT
            self.fields["team"].widget.choices = [("", "All teams"), *permissions.team_choices(user, action)]
            self.fields["environment"].widget.choices = [
                ("", "All environments"),
                *Environment.objects.values_list("pk", "name"),
            ]

    def clean_model(self):
        text = self.cleaned_data["model"].strip()
        if not text:
            return None
        self.model_obj = pickers.find_model(self.user, text)
        if self.model_obj is not None:
            return self.model_obj.pk
        if (number := parse_id(text)) is not None:  # an id of a model you may not see: no events, as always
            return number
        raise ValidationError(f"No model {text!r} that you may see: type its name or slug, or choose from the list.")

    def clean(self):
        data = super().clean()
        self._clean_version(data)
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        self._show_names()
        return data

    def _show_names(self) -> None:
        """The pickers show the chosen model and version by name, also when a link gave their ids."""
        shown = {}
        if self.version_obj is not None:
            shown["version"] = self.version_obj.version
            if self.version_model_name and not self.data.get("model"):
                shown["model"] = self.version_model_name
        if self.model_obj is not None:
            shown["model"] = self.model_obj.name
        if shown:
            self.data = self.data.copy()
            for key, value in shown.items():
                self.data[key] = value

    def _clean_version(self, data) -> None:
        text = (data.get("version") or "").strip()
        if not text:
            data["version"] = None
            return
        if data.get("model") is not None:
            self.version_obj = pickers.find_version(self.user, data["model"], text)
            if self.version_obj is not None:
                data["version"] = self.version_obj.pk
                return
        if (number := parse_id(text)) is not None:  # ?version=<id>, as links made before the pickers
            data["version"] = number
            self.version_obj = pickers.version_label(self.user, number)
            self.version_model_name = self.version_obj.model.name if self.version_obj else ""
            return
        if "model" in self.errors:
            data.pop("version", None)
        elif data.get("model") is None:
            self.add_error("version", "Choose the model first: a version is looked up by its name under its model.")
        else:
            self.add_error("version", f"{self.model_obj or 'That model'} has no version {text!r} that you may see.")

    def filters(self) -> AuditFilters:
        """The checked filters; raises ValidationError (each bad or unknown parameter) or PermissionDenied."""
        self.is_valid()
        unknown = sorted(set(self.data) - set(FILTER_KEYS) - set(NOT_FILTERS))
        if unknown:
            self.add_error(None, f"Unknown filter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                                 f"Use {', '.join(FILTER_KEYS)}.")  # fmt: skip
        if self.errors:
            raise ValidationError({field: list(errors) for field, errors in self.errors.items()})
        filters = AuditFilters(**{key: value for key, value in self.cleaned_data.items() if value not in (None, "")})
        action = permissions.EXPORT_AUDIT if self.for_export else permissions.VIEW_AUDIT
        if filters.team is not None and not Team.objects.restrict(self.user, action).filter(pk=filters.team).exists():
            raise PermissionDenied("You may not read or export that team's audit trail.")
        return filters

    @staticmethod
    def action_suggestions() -> list[str]:
        """Entity prefixes ("model.") then every action in the catalogue, for the action field's datalist."""
        actions = sorted(action.value for action in Action)
        return sorted({action.split(".")[0] + "." for action in actions}) + actions

    @staticmethod
    @functools.cache
    def action_options() -> str:
        """The datalist's options, written once a process: the catalogue does not change while it runs, and its 80
        options cost a page 0.4 ms through the template."""
        return format_html_join(
            "", '<option value="{}">', ((action,) for action in AuditFilterForm.action_suggestions())
        )


def parse(params, *, user, for_export: bool = False) -> AuditFilters:
    """AuditFilters from query parameters; ValidationError naming each bad one; PermissionDenied for a foreign team."""
    return AuditFilterForm(params, user=user, for_export=for_export).filters()
