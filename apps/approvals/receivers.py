from django.dispatch import receiver

from apps.inventory.signals import version_artifact_changed


@receiver(version_artifact_changed, dispatch_uid="approvals-reset-on-artifact-change")
def reset_requests_for_changed_artifact(sender, *, actor, version, old_digest, **kwargs):
    """What was approved is no longer what would be deployed: pending requests go back to draft."""
    from .services import deployment_request_reset_for_version_change

    deployment_request_reset_for_version_change(actor=actor, version=version, old_digest=old_digest)
