from django.core.management.base import BaseCommand, CommandError

from apps.audit.verification import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit hash chain; exit 1 naming the first bad sequence."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
