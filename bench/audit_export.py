"""Audit export figures: CSV export against PostgreSQL's own COPY, peak memory, verification speed.

Runs in a throw-away test database on whatever DATABASE_URL points at (SQLite by default, where
the COPY row is skipped):
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/govportal .venv/bin/python bench/audit_export.py \
        [--events 1000000]

It inserts N valid, chained events fast (COPY on PostgreSQL, bulk_create elsewhere), then measures
each export in a fresh Python process, so the peak RSS is the export's, not the generator's:
  - CSV export: services.export_stream() consumed to /dev/null;
  - PostgreSQL `COPY (SELECT …) TO STDOUT WITH CSV` of the same rows into a null sink;
  - `manage.py audit_verify` (apps.audit.verification.verify_chain) over the whole chain;
  - JSON Lines export to a file, then clients/verify_audit.py on that file.
"""

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

from bench.report import print_table  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

BENCH_USER = "bench-auditor"
BATCH = 20_000
ACTIONS = ("model.updated", "version.created", "version.updated", "request.submitted", "request.step_approved",
           "request.approved", "role.granted", "model.lifecycle_changed")  # fmt: skip
WORDS = ("Zürich", "scorecard", "drift ✓", "naïve", 'quoted "label", with comma', "line\nbreak", "東京", "retail")
COLUMNS = ("sequence", "timestamp", "actor_id", "actor_label", "actor_kind", "action", "target_type", "target_id",
           "target_label", "team_id", "model_id", "version_id", "environment_id", "request_id", "changes", "context",
           "prev_hash", "hash")  # fmt: skip
COPY_SELECT = ("sequence, timestamp, actor_label, actor_kind, actor_id, action, target_type, target_id, "
               "target_label, changes, context, team_id, model_id, version_id, environment_id, request_id, hash, "
               "prev_hash")  # fmt: skip


# --- generation -------------------------------------------------------------------------------------------------


def event_values(sequence: int) -> dict:
    """Column values of one plausible event (like those the services write), deterministic in `sequence`."""
    word = WORDS[sequence % len(WORDS)]
    system = sequence % 5 == 0
    team = sequence % 7 + 1
    model = team * 100 + sequence % 23
    return {
        "actor_id": None if system else sequence % 61 + 1,
        "actor_label": "git-sync" if system else f"user{sequence % 61 + 1}",
        "actor_kind": "system" if system else "user",
        "action": ACTIONS[sequence % len(ACTIONS)],
        "target_type": "inventory.modelversion",
        "target_id": str(sequence),
        "target_label": f"Model {model} {word} 1.{sequence % 10}.0",
        "team_id": team,
        "model_id": model,
        "version_id": sequence if sequence % 2 else None,
        "environment_id": (None, 1, 2, 3)[sequence % 4],
        "request_id": sequence // 4 if sequence % 4 == 0 else None,
        "changes": {
            "description": [f"{word} {sequence - 1}", f"{word} {sequence}"],
            "score": [round((sequence % 997) / 997, 4), sequence / 7],
            "metrics": {"auc": (sequence % 89) / 89 + 0.001, "epochs": sequence % 50, "tags": [word, "v2"]},
        },
        "context": {
            "request_id": f"{sequence * 2654435761 % 2**64:016x}",
            "client_ip": f"10.0.{sequence % 256}.{sequence % 254 + 1}",
            "source": ("web", "api", "task", "command")[sequence % 4],
        },
    }


def chained_rows(count: int, first: int, prev_hash: str, start: datetime):
    """(column values, hash) of `count` events after `prev_hash`, hashed exactly as record() hashes them."""
    from apps.audit import hashing
    from apps.audit.models import SCOPE_FIELDS

    moment = start
    for sequence in range(first, first + count):
        moment += timedelta(microseconds=1_000 + sequence % 7_000)
        values = event_values(sequence)
        values["changes"] = hashing.normalize(values["changes"])
        values |= {"sequence": sequence, "timestamp": moment, "prev_hash": prev_hash}
        payload = {key: values[key] for key in hashing.HASHED_FIELDS if key != "scope"}
        payload["timestamp"] = hashing.format_timestamp(moment)
        payload["scope"] = {name.removesuffix("_id"): values[name] for name in SCOPE_FIELDS if values[name]}
        values["hash"] = prev_hash = hashing.compute_hash(payload)
        yield values


def generate(count: int) -> float:
    """Append `count` chained events to the (empty) chain and move its head; returns seconds taken."""
    from apps.audit import hashing
    from apps.audit.models import AuditEvent, ChainHead

    started = time.perf_counter()
    start = datetime.now(UTC) - timedelta(milliseconds=8 * count)
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        last, last_hash, batch = head.sequence, head.hash, []
        for values in chained_rows(count, head.sequence + 1, head.hash, start):
            batch.append(values)
            if len(batch) == BATCH:
                _insert(batch, AuditEvent)
                batch.clear()
            last, last_hash = values["sequence"], values["hash"]
        _insert(batch, AuditEvent)
        ChainHead.objects.filter(pk=1).update(sequence=last, hash=last_hash)
    assert last_hash != hashing.GENESIS_HASH
    return time.perf_counter() - started


def _insert(batch: list[dict], model) -> None:
    if not batch:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**values) for values in batch])
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for values in batch:
        row = dict(values)
        row["timestamp"] = row["timestamp"].isoformat()
        row["changes"] = json.dumps(row["changes"], ensure_ascii=False)
        row["context"] = json.dumps(row["context"], ensure_ascii=False)
        writer.writerow([row[name] for name in COLUMNS])  # None → empty unquoted → NULL; no text column is empty
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY audit_auditevent ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer)


# --- measurements -----------------------------------------------------------------------------------------------


class NullSink:
    def __init__(self):
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)


def peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM rather than ru_maxrss: on Linux a child's ru_maxrss starts
    at its parent's RSS at fork (and keeps it across exec), which would charge the generator's memory to it."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Runs a script unchanged as __main__ in a bare interpreter, then prints that process's peak RSS on stderr.
MEASURED = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    status = 0
except SystemExit as stop:
    status = stop.code
with open("/proc/self/status") as proc:
    print(next(line for line in proc if line.startswith("VmHWM:")).split()[1], file=sys.stderr)
sys.exit(status)
"""


def run_measured(args: list[str]) -> tuple[str, str, float]:
    """Run a child process; return (its stdout, its stderr, wall seconds)."""
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)  # noqa: S603
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout, result.stderr, seconds


def export_in_child(fmt: str, out_path: str) -> dict:
    """Measured in a fresh process: export everything the bench user may read, as `fmt`, to `out_path`."""
    out, _, _ = run_measured([sys.executable, __file__, "--child", fmt, "--database",
                              connection.settings_dict["NAME"], "--out", out_path])  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def verify_in_child(export_path: Path, key_path: Path) -> tuple[str, float, float]:
    """clients/verify_audit.py in a bare interpreter: (its output, wall seconds, peak RSS in MB)."""
    verifier = str(ROOT / "clients" / "verify_audit.py")
    out, err, seconds = run_measured(
        [sys.executable, "-c", MEASURED, verifier, str(export_path), "--public-key", str(key_path)]
    )
    return out, seconds, int(err.strip().splitlines()[-1]) / 1024


def child(fmt: str, database: str, out_path: str) -> None:
    """The child process: start the export as the bench user, consume the stream, report figures as JSON."""
    from django.conf import settings

    from apps.accounts.models import User
    from apps.audit.actors import Actor
    from apps.compliance.exports import services
    from apps.compliance.exports.filters import AuditFilters

    connection.settings_dict["NAME"] = database
    # The whole trail in one stream, as the page streams a small export: above the limit export_start() would
    # write the file itself (in-process without a broker) before the stream is measured.
    settings.AUDIT_EXPORT_STREAM_LIMIT = sys.maxsize
    user = User.objects.get(username=BENCH_USER)
    export = services.export_start(actor=Actor.of(user), format=fmt, filters=AuditFilters())
    baseline = peak_rss_mb()
    started = time.perf_counter()
    with open(out_path, "wb") as sink:
        for chunk in services.export_stream(export):
            sink.write(chunk)
    seconds = time.perf_counter() - started
    export.refresh_from_db()
    result = {"events": export.row_count, "seconds": seconds, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(result))


def copy_csv() -> tuple[int, float]:
    """PostgreSQL's own CSV of the same rows, oldest first, into a null sink: (bytes, seconds)."""
    sink = NullSink()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY (SELECT {COPY_SELECT} FROM audit_auditevent ORDER BY sequence) TO STDOUT WITH CSV HEADER", sink
        )
    return sink.size, time.perf_counter() - started


def main(events: int) -> None:
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.audit import signing
    from apps.audit.models import ChainHead

    User.objects.create(username=BENCH_USER, is_superuser=True, is_staff=True)
    generation_seconds = generate(events)

    csv_result = export_in_child("csv", os.devnull)
    csv_rate = csv_result["events"] / csv_result["seconds"]
    copy_rate = ratio = None
    if connection.vendor == "postgresql":
        _, copy_seconds = copy_csv()
        copy_rate = events / copy_seconds
        ratio = copy_rate / csv_rate

    # As operators run it (`manage.py audit_verify`, its default workers): the chain, then the signed checkpoints.
    verified = ChainHead.objects.get(pk=1).sequence
    out = io.StringIO()
    started = time.perf_counter()
    call_command("audit_verify", stdout=out)  # raises CommandError (exit 1) if the chain does not verify
    verify_seconds = time.perf_counter() - started
    assert out.getvalue().startswith(f"OK: {verified} events"), out.getvalue()
    verify_rate = verified / verify_seconds

    with tempfile.TemporaryDirectory(prefix="govportal-bench-") as directory:
        export_path, key_path = Path(directory) / "export.jsonl", Path(directory) / "govportal-audit.pub"
        key_path.write_text(signing.public_key_pem())
        jsonl_result = export_in_child("jsonl", str(export_path))
        size_mb = export_path.stat().st_size / 1024**2
        verifier_out, verifier_seconds, verifier_rss = verify_in_child(export_path, key_path)
    assert verifier_out.startswith("OK: "), verifier_out
    jsonl_rate = jsonl_result["events"] / jsonl_result["seconds"]
    verifier_rate = jsonl_result["events"] / verifier_seconds

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    rows = [
        ("generate N chained events (COPY / bulk insert)", f"{events / generation_seconds:,.0f} events/s", "", ""),
        ("CSV export (export_stream to /dev/null)", f"{csv_rate:,.0f} events/s", "", ""),
    ]
    if copy_rate is not None:
        rows += [
            ("PostgreSQL COPY (SELECT ...) TO STDOUT WITH CSV", f"{copy_rate:,.0f} events/s", "", ""),
            ("CSV export vs COPY", f"{ratio:.2f}x slower", "within 3x", met(ratio <= 3)),
        ]
    else:
        rows.append(("PostgreSQL COPY (SELECT ...) TO STDOUT WITH CSV", "n/a (not PostgreSQL)", "", ""))
    csv_rss, jsonl_rss, csv_start = (
        csv_result["peak_rss_mb"],
        jsonl_result["peak_rss_mb"],
        csv_result["baseline_rss_mb"],
    )
    rows += [
        ("peak RSS, CSV export process", f"{csv_rss:,.0f} MB (before the export {csv_start:,.0f} MB)", "< 150 MB",
         met(csv_rss < 150)),
        ("manage.py audit_verify (verify_chain)", f"{verify_rate:,.0f} events/s", ">= 200,000 events/s",
         met(verify_rate >= 200_000)),
        ("JSON Lines export (to a file)", f"{jsonl_rate:,.0f} events/s, {size_mb:,.0f} MB", "", ""),
        ("peak RSS, JSON Lines export process", f"{jsonl_rss:,.0f} MB", "< 150 MB", met(jsonl_rss < 150)),
        ("clients/verify_audit.py on that file", f"{verifier_rate:,.0f} events/s, peak RSS {verifier_rss:,.0f} MB", "",
         ""),
    ]  # fmt: skip
    print(f"\nAudit export benchmark: {events:,} events on {connection.vendor} "
          f"(CSV {csv_result['events']:,} rows, JSON Lines {jsonl_result['events']:,} rows)\n")  # fmt: skip
    print_table(("measure", "figure", "goal", "met"), rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--child", choices=("csv", "jsonl"), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child, options.database, options.out)
        sys.exit(0)

    from bench.throwaway import run_in_throwaway_database

    run_in_throwaway_database(main, options.events, label="export")
