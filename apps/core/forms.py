from html import escape

from django.core.exceptions import ValidationError
from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape


def error_text(exc) -> str:
    """A refusal (ValidationError, PermissionDenied, DomainError) as one sentence for a flash message."""
    return " ".join(getattr(exc, "messages", None) or [getattr(exc, "message", None) or str(exc)])


def filter_error_text(exc: ValidationError, page_params: dict[str, str]) -> str:
    """A list's refused filter values as one flash message, each under the name the page's address gives it
    (`page_params`: page parameter → FilterSet field), so the reader sees which part of a bookmark to fix."""
    names = {field: param for param, field in page_params.items()}
    return " ".join(f"{names.get(field, field)}: {' '.join(errors)}" for field, errors in exc.message_dict.items())


def apply_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on a form: on the field it names, else at the top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class BootstrapMixin:
    """Give widgets Bootstrap classes and mark invalid fields, so templates stay plain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            input_type = getattr(widget, "input_type", "")
            classes = {"select": "form-select", "checkbox": "form-check-input", "hidden": ""}
            base = classes.get(input_type, "form-control")
            if base:
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} {base}".strip()

    def full_clean(self):
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field, error):
        """Also after validation: a service's refusal (a wrong signature password) marks its field like any error."""
        super().add_error(field, error)
        if hasattr(self, "cleaned_data"):
            self._mark_invalid()

    def _mark_invalid(self):
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                classes = widget.attrs.get("class", "").split()
                widget.attrs["class"] = " ".join([*classes, "is-invalid"] if "is-invalid" not in classes else classes)
                widget.attrs["aria-invalid"] = "true"


class WidgetRenderer(DjangoTemplates):
    """Django's form renderer, except that inputs and selects are written here as Django's widget templates write
    them (django/forms/widgets/input.html, select.html, select_option.html and attrs.html; tests/core/test_forms.py
    holds them equal): through those templates an input costs about 0.15 ms and a short select 0.35 ms, the audit
    trail's ten filters some 2 ms a page. Any other widget (textareas, checkboxes, radios) still goes through them."""

    INPUTS = frozenset(f"django/forms/widgets/{name}.html" for name in (
        "input", "text", "search", "email", "url", "tel", "number", "password", "hidden", "date", "datetime", "time",
        "color",
    ))  # fmt: skip
    SELECT, OPTION = "django/forms/widgets/select.html", "django/forms/widgets/select_option.html"

    def render(self, template_name, context, request=None):
        widget = context["widget"]
        if template_name in self.INPUTS:
            value = "" if widget["value"] is None else f' value="{escape(str(widget["value"]))}"'
            return f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"{value}{_attrs(widget)}>'
        if template_name == self.SELECT and _options_are(widget, self.OPTION):
            return f'<select name="{escape(widget["name"])}"{_attrs(widget)}>{_optgroups(widget)}\n</select>'
        return super().render(template_name, context, request)


def _attrs(widget: dict) -> str:
    """Each attribute as name="value", a bare name when True, and none when False, as attrs.html writes them."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(str(value))}"'
        for name, value in widget["attrs"].items()
        if value is not False
    )


def _options_are(widget: dict, template_name: str) -> bool:
    return all(option["template_name"] == template_name for _, options, _ in widget["optgroups"] for option in options)


def _optgroups(widget: dict) -> str:
    """select.html's options, each on its own line, in an <optgroup> where the choices are grouped."""
    groups = []
    for name, options, _index in widget["optgroups"]:
        rows = "".join(  # select_option.html ends in a newline, kept after each option
            f'\n  <option value="{escape(str(option["value"]))}"{_attrs(option)}>{_text(option["label"])}</option>\n'
            for option in options
        )
        groups.append(f'\n  <optgroup label="{_text(name)}">{rows}\n  </optgroup>' if name else rows)
    return "".join(groups)


def _text(value) -> str:
    """{{ value }}: a number localized, then escaped unless it is markup already."""
    return conditional_escape(localize(value))


# One for the process, as Django keeps its default renderer: each holds its own template engine.
WIDGET_RENDERER = WidgetRenderer()
