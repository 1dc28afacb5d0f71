import os

from django.core.management.base import BaseCommand, CommandError

from apps.audit.verification import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit hash chain and check the signed checkpoints; exit 1 naming the first bad sequence."

    def add_arguments(self, parser):
        default = min(4, os.cpu_count() or 1)
        parser.add_argument(
            "--workers",
            type=int,
            default=default,
            help=f"processes that hash a large chain in parallel (default {default}; 1: one process)",
        )

    def handle(self, *args, **options):
        result = verify_chain(workers=max(1, options["workers"]))
        if not result.ok:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
