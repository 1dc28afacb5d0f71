"""End-to-end tests of the production processes. They run only when asked (`make prod-smoke`, i.e.
`pytest -m prod_smoke`): the normal suite skips them, saying how to run them."""

import pytest

RUN_ALONE = "the production smoke test runs on its own: `make prod-smoke` (pytest -m prod_smoke)"


def pytest_configure(config):
    config.addinivalue_line("markers", "prod_smoke: starts the Procfile's processes with honcho; `make prod-smoke`")


def pytest_collection_modifyitems(config, items):
    if "prod_smoke" in (config.getoption("markexpr") or ""):
        return
    for item in items:
        if item.get_closest_marker("prod_smoke"):
            item.add_marker(pytest.mark.skip(reason=RUN_ALONE))
