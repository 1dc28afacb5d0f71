from django.dispatch import Signal

# Sent inside the transaction that changed a version's artifact digest; kwargs: actor, version, old_digest.
# Approvals connects to it: a pending request for that version goes back to draft.
version_artifact_changed = Signal()
