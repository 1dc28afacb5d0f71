"""Racing service calls against each other, each in its own thread and database connection."""

import threading

from django.db import connection


def race(jobs) -> list:
    """Run each job in its own thread and connection, all released at once; return what each returned or raised."""
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def worker(index, job):
        try:
            start.wait()
            results[index] = job()
        except BaseException as exc:  # reported by the test, not swallowed
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing job hung"
    return results
