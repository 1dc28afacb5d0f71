"""A model's compliance dossier: everything a model-risk reviewer asks about one model, as JSON or PDF.

`dossier_data` (data.py) gathers it under the headings of SECTIONS; `write_dossier_pdf`
(document.py) lays it out; `model_dossier_export` records it as an audit export (a signed
manifest whose file_sha256 is the dossier's, and an `audit.exported` event), like any other.
"""

import json

from django.core.exceptions import PermissionDenied

from apps.accounts import permissions
from apps.audit.actors import Actor
from apps.compliance.exports import services as exports
from apps.compliance.exports import writer
from apps.compliance.exports.filters import AuditFilters
from apps.compliance.models import AuditExport, ExportFormat
from apps.inventory.models import RegisteredModel

from .data import SECTIONS, TITLE, dossier_data
from .document import write_dossier_pdf

FORMATS = {"pdf": ExportFormat.DOSSIER_PDF, "json": ExportFormat.DOSSIER_JSON}
__all__ = ["FORMATS", "SECTIONS", "TITLE", "dossier_data", "model_dossier_export", "write_dossier_pdf"]


def model_dossier_export(*, actor: Actor, model: RegisteredModel, format: str) -> AuditExport:
    """Write `model`'s dossier (ExportFormat.DOSSIER_PDF or DOSSIER_JSON) and record it as an audit export.

    Auditors and admins of the model's team only. The file lands where every export's file does,
    so /audit/exports/<id>/download and /manifest serve it afterwards.
    """
    if format not in FORMATS.values():
        raise ValueError(f"not a dossier format: {format!r}")
    if not permissions.can(actor.user, permissions.EXPORT_AUDIT, model):
        raise PermissionDenied(f"Only auditors and admins of {model.team} can export {model.name}'s dossier.")
    export = exports.export_start(actor=actor, format=format, filters=AuditFilters(model=model.pk))
    path = exports.file_path(export)
    partial = path.with_suffix(path.suffix + ".part")
    tally = writer.Tally()
    try:
        data = dossier_data(model, export=export)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as handle:
            if format == ExportFormat.DOSSIER_PDF:
                write_dossier_pdf(data, handle)
            else:
                handle.write(json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
        for event in data["event_history"]:
            tally.add_event(event["sequence"])
        with open(partial, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                tally.add_bytes(block)
        manifest, signature = writer.build_manifest(export=export, tally=tally)
        partial.replace(path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        exports.export_fail(export=export, error=f"{type(error).__name__}: {error}")
        raise
    return exports.export_finish(export=export, tally=tally, manifest=manifest, signature=signature)
