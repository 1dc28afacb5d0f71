"""/favicon.ico, which every browser asks for: a redirect to the static icon, also linked from every page."""

from django.contrib.staticfiles import finders


def test_favicon_ico_redirects_to_the_static_icon_for_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    assert finders.find("favicon.ico") and finders.find("img/favicon.svg")
    with open(finders.find("favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file


def test_every_page_links_its_icons(client, cast):
    client.force_login(cast.vera)
    page = client.get("/").text
    assert '<link rel="icon" href="/static/favicon.ico" sizes="48x48">' in page
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page
