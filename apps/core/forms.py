from django.core.exceptions import ValidationError


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
