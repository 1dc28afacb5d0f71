class TransientSyncError(Exception):
    """A sync failed for a reason that may pass (network, remote busy): the task retries with backoff."""
