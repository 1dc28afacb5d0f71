"""Tables of many requests (the request list, the inbox, a version's panel) show a request's state as its page does."""

import pytest
from django.template.loader import render_to_string

from apps.approvals.models import DeploymentRequest, RequestState
from apps.approvals.templatetags.approvals import state_badge


@pytest.mark.parametrize("state", RequestState.values)
def test_a_table_shows_a_requests_state_as_the_state_template_does(state):
    request = DeploymentRequest(state=state)

    badge = str(state_badge(request))

    assert badge == render_to_string("approvals/_state.html", {"req": request})
    assert f">{request.get_state_display()}</span>" in badge


def test_a_state_label_is_escaped():
    request = DeploymentRequest(state="<b>")  # never stored (a check constraint refuses it), still never raw HTML

    assert str(state_badge(request)) == '<span class="badge text-bg-light border">&lt;b&gt;</span>\n'
