"""Run a benchmark in its own throw-away database (created, then dropped), never the portal's."""

import os

from django.db import connection
from django.test.utils import setup_test_environment


def run_in_throwaway_database(main, *args, label: str = "bench"):
    setup_test_environment()
    test_settings = connection.settings_dict.setdefault("TEST", {})
    base = test_settings.get("NAME") or "test_" + connection.settings_dict["NAME"]
    test_settings["NAME"] = f"{base}_{label}{os.getpid()}"  # one per process: parallel runs never collide
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return main(*args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
