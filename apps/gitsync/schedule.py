"""The periodic Git sync as a database schedule entry, created once and edited in the admin afterwards."""

from django.apps import apps as global_apps
from django.conf import settings

TASK_NAME = "sync-git-repositories"
TASK = "apps.gitsync.tasks.sync_enabled_repositories_task"


def ensure_periodic_sync(apps=global_apps) -> None:
    """Create the entry unless it exists (an edited or paused entry is left as the admin left it)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=TASK_NAME).exists():
        return
    every, _ = IntervalSchedule.objects.get_or_create(every=settings.GITSYNC_INTERVAL_SECONDS, period="seconds")
    PeriodicTask.objects.create(
        name=TASK_NAME,
        task=TASK,
        interval=every,
        description="Queue a sync of every enabled Git repository (one task per repository).",
    )
