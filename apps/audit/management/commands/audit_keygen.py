import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.audit import signing


class Command(BaseCommand):
    help = (
        "Write a new Ed25519 audit signing key (PEM, mode 0600) and print its public key and the setting to use. "
        "The private key is never printed."
    )

    def add_arguments(self, parser):
        default = settings.AUDIT_SIGNING_KEY_FILE or str(settings.VAR_DIR / "audit-signing-key.pem")
        parser.add_argument("--out", default=default, help=f"where to write the private key (default: {default})")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace an existing key file (exports and checkpoints signed with it no longer verify)",
        )

    def handle(self, *args, **options):
        path = Path(options["out"]).expanduser().resolve()
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} exists: refusing to overwrite a signing key (use --force to replace it).")
        if path.is_dir():
            raise CommandError(f"{path} is a directory.")
        # Written beside the target, then renamed over it: a reader never sees a half-written key.
        draft = path.with_name(f".{path.name}.{os.getpid()}.new")
        try:
            signing.write_key_file(draft)
            os.replace(draft, path)
        except OSError as error:
            draft.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
        self.stdout.write(f"Wrote a new Ed25519 private key to {path} (mode 0600). Keep it secret; back it up.")
        self.stdout.write("Public key (give it to auditors to verify exports and checkpoints offline):")
        self.stdout.write(signing.public_key_pem_of_file(path).rstrip("\n"))
        self.stdout.write("Set in the portal's environment:")
        self.stdout.write(f"AUDIT_SIGNING_KEY_FILE={path}")
        if options["force"]:
            self.stdout.write(
                self.style.WARNING("The old key was replaced: what it signed verifies only with its public key.")
            )
