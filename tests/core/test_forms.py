"""core.forms.WidgetRenderer writes inputs and selects in Python: it must write exactly what Django's widget templates
write, for any value and attribute, so a page using it looks the same (and a Django upgrade that changes the
templates fails here rather than drifting)."""

from datetime import date

import pytest
from django import forms
from django.forms.renderers import get_default_renderer
from django.http import QueryDict
from django.utils.translation import gettext_lazy

from apps.compliance.exports.filters import AuditFilterForm
from apps.core.forms import WIDGET_RENDERER

TRICKY = [None, "", "plain", "<script>\"x\" & 'y'</script>", 0, 7, 12345678, 2.5, date(2026, 12, 3), ["a", "b"]]
ATTRS = {"class": "form-control is-invalid", "placeholder": 'say "hi" <b>', "required": True, "disabled": False,
         "data-n": 3, "aria-invalid": "true", "list": None}  # fmt: skip
CHOICES = [("", "All teams"), (1, "Credit Risk"), (2, "Fraud & <Financial> Crime"), (3, gettext_lazy("Marketing")),
           ("Grouped", [(4, "four"), ("5", 5)]), (6, 6.5)]  # fmt: skip
WIDGETS = [forms.TextInput, forms.DateInput, forms.NumberInput, forms.EmailInput, forms.URLInput, forms.HiddenInput,
           forms.SearchInput, forms.TelInput, forms.ColorInput]  # fmt: skip


def both(widget, name, value):
    return (
        widget.render(name, value, renderer=get_default_renderer()),
        widget.render(name, value, renderer=WIDGET_RENDERER),
    )


@pytest.mark.parametrize("widget_class", WIDGETS)
@pytest.mark.parametrize("value", TRICKY)
def test_inputs_are_written_as_djangos_templates_write_them(widget_class, value):
    for attrs in ({}, ATTRS):
        django_html, ours = both(widget_class(attrs=attrs), 'na"me', value)
        assert ours == django_html


def test_a_password_input_is_written_as_djangos_template_writes_it():
    django_html, ours = both(forms.PasswordInput(attrs=ATTRS, render_value=True), "secret", "<p>ss")
    assert ours == django_html


@pytest.mark.parametrize("widget_class", [forms.Select, forms.SelectMultiple])
@pytest.mark.parametrize("value", [None, "", 2, "2", ["1", "5"], 6.5])
def test_selects_with_groups_numbers_and_markup_in_labels_are_written_as_djangos_templates_write_them(
    widget_class, value
):
    for attrs in ({}, ATTRS):
        django_html, ours = both(widget_class(attrs=attrs, choices=CHOICES), "team", value)
        assert ours == django_html


def test_other_widgets_go_through_djangos_templates():
    widget = forms.Textarea(attrs=ATTRS)
    assert widget.render("notes", "<x>", renderer=WIDGET_RENDERER) == widget.render("notes", "<x>")


@pytest.mark.parametrize("query", ["", "actor=dana&action=model.&team=1&date_from=2026-01-01",
                                   "model=nope&version=1.0&request=abc&date_from=2026-02-30&date_to=x"])  # fmt: skip
def test_the_audit_filters_look_the_same_as_djangos_templates_draw_them(cast, query):
    def drawn(renderer):
        form = AuditFilterForm(QueryDict(query), user=cast.audrey, choices=True)
        form.renderer = renderer
        form.is_valid()
        return [str(form[name]) for name in form.fields]

    assert drawn(WIDGET_RENDERER) == drawn(get_default_renderer())
