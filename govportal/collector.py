"""The garbage collector of a serving process (gunicorn's workers, runserver), tuned once the application is loaded.

CPython's cyclic collector counts container allocations: every 700 it scans the young objects, every tenth of those
the middle generation, and now and then every object in the process. A worker holds about 140,000 objects of its
own (Django, the apps, their modules and caches), made at start and never freed, and a request makes thousands more
(the API's page of 100 models: about 4 young and a third of a middle collection a request). Measured in process at
10k models (bench/request_profile.py's paths, 300 requests each, collection time read through gc.callbacks):

- the API's page of 100: 1.5-1.9 ms a request in the collector, 0.5-0.7 ms tuned as below;
- the model page: 0.45 ms, 0.2-0.3 ms tuned; a full collection of the whole heap took 60-80 ms of one request.

`gc.freeze()` moves what is alive once the application is loaded into a generation the collector never scans again
(Python's documentation recommends it for a process that serves many requests from one loaded state); a young
generation of 10,000 allocations lets most of a request's objects die by reference count before any scan. Cyclic
garbage is still collected, a little later.
"""

import gc

YOUNG, MIDDLE, OLD = 10_000, 10, 10


def tune() -> None:
    """Import every view (the URLconf), freeze what is alive then, and widen the generations: call once, after the
    application is loaded. The views would otherwise be imported by the first request, after the freeze: a third of
    a worker's objects."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the URLconf and every view it names
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
