from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import selectors


@login_required
def home(request):
    """What the signed-in person must act on first, then the state of things: only what they may see."""
    return render(request, "dashboard/home.html", selectors.home_page(user=request.user))
