"""The portal's session store (apps/core/sessions.py) reads a session as Django's database store does: a live session
signs its person in, with one query; an expired or unknown one signs nobody in, and its key is not adopted."""

import datetime

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.core.sessions import SessionStore


def test_a_live_session_signs_its_person_in_with_one_query(cast, client, django_assert_num_queries):
    client.force_login(cast.dana)
    key = client.session.session_key

    with django_assert_num_queries(1):
        data = SessionStore(key).load()

    assert data == db.SessionStore(key).load() and data["_auth_user_id"] == str(cast.dana.pk)
    response = client.get("/api/v1/models/")
    assert response.status_code == 200


def test_an_expired_session_signs_nobody_in(cast, client):
    client.force_login(cast.dana)
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))

    api = client.get("/api/v1/models/")
    page = client.get("/models/")

    assert api.status_code == 401 and api.json()["code"] == "not_authenticated"
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


def test_a_key_with_no_session_is_forgotten_so_a_new_one_is_made(db):
    chosen = "attackerchosenkey0123456789abcdef"
    store = SessionStore(chosen)

    assert store.load() == {} and store.session_key is None
    store["note"] = "x"
    store.save()
    assert store.session_key != chosen and not Session.objects.filter(session_key=chosen).exists()
