"""The served application's garbage collector (govportal/collector.py): loaded whole, frozen, still collecting.

Each check runs in a process of its own that imports `govportal.wsgi` as gunicorn does: freezing this test process
would change every other test's memory.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVED = """
import gc, json, sys, weakref
import govportal.wsgi
from govportal import collector

frozen, threshold, enabled = gc.get_freeze_count(), gc.get_threshold(), gc.isenabled()
views = "apps.inventory.api.views" in sys.modules and "apps.compliance.views" in sys.modules

class Node:
    pass

# A cycle nobody holds, made after the freeze: reference counts never free it, only a collection does. No
# gc.collect() here: the allocations of a few requests must set one off.
first, second = Node(), Node()
first.other, second.other = second, first
alive = weakref.ref(first)
del first, second
kept = []
for _ in range(5 * collector.YOUNG):
    kept.append([])
print(json.dumps({"frozen": frozen, "threshold": threshold, "enabled": enabled, "views": views,
                  "cycle_freed": alive() is None}))
"""


def _served() -> dict:
    env = {**os.environ, "DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SERVED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_served_application_is_loaded_whole_then_frozen_and_still_collects_cycles():
    served = _served()
    # Django, the apps and every view are in the frozen generation, which no collection scans again...
    assert served["views"], "the views should be imported before the freeze, not by the first request"
    assert served["frozen"] > 50_000
    # ... the young generation is wide enough for a request's objects to die by reference count first ...
    assert served["threshold"] == [10_000, 10, 10]
    # ... and garbage in cycles is still found, without anyone calling gc.collect().
    assert served["enabled"]
    assert served["cycle_freed"]
