import json

from django.core.management.base import BaseCommand, CommandError

from apps.audit.checkpoints import CheckpointRefused, checkpoint_document, checkpoint_sign


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit chain head now and print it (the beat scheduler does this hourly)."

    def handle(self, *args, **options):
        try:
            checkpoint = checkpoint_sign()
        except CheckpointRefused as error:
            raise CommandError(f"Checkpoint refused: {error}", returncode=1) from None
        if checkpoint is None:
            self.stdout.write("No checkpoint signed: the chain head has not moved since the last checkpoint.")
            return
        self.stdout.write(json.dumps(checkpoint_document(checkpoint), indent=2, sort_keys=True))
