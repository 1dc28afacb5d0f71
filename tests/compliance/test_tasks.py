"""The export tasks moved from apps/audit/tasks.py but keep their Celery names: beat, queued messages and stored
results name them so."""

from apps.compliance import tasks
from govportal.celery import app


def test_the_export_tasks_answer_to_the_names_they_had_in_the_audit_app():
    app.loader.import_default_modules()

    for task in (tasks.export_run_task, tasks.exports_expire_task):
        assert task.name.startswith("apps.audit.tasks.")
        assert app.tasks[task.name].run.__module__ == "apps.compliance.tasks"
    assert "apps.audit.tasks.checkpoint_sign_task" in app.tasks


def test_a_queued_run_of_an_export_that_is_gone_is_skipped_quietly(db):
    message = app.signature("apps.audit.tasks.export_run_task", args=["00000000-0000-0000-0000-000000000000"])

    assert message.apply().get() == "skipped"
