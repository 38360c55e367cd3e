"""`aiq-pipeline journal` through click, on a store written by real posting (both emulators over real HTTP, the
posting service) on DuckDB and PostgreSQL: the JSON export lists every posted document with its AIQ id and the run
that posted it, the refused one with its reason; filters by pair, day and document; a readable table by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from aiq_pipeline.cli import main
from aiq_pipeline.service.outcome import Status
from aiq_pipeline.sync.identity import invoice_reference
from aiq_pipeline_tests.audit_log.conftest import Bench, Writer, history
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY


def journal(*args: str) -> Result:
    return CliRunner().invoke(main, ["journal", *args])


def exported(*args: str) -> list[dict]:
    result = journal("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def aiq_ids(bench: Bench) -> dict[str, int]:
    """What AIQ holds: the transaction id of each reference."""
    transactions = bench.emulators.accountsiq.state.data.entities[AIQ_ENTITY].transactions
    return {t.external_reference: transaction_id for transaction_id, t in transactions.items()}


def post(bench: Bench) -> tuple[list[str], list[str]]:
    """Three invoices posted by run-1; two AIQ refuses in run-2 (their revenue account closed), which also finds one
    of the first three already posted. Returns (posted, refused)."""
    first = bench.emulators.bunny.create_invoices({}, count=3, release=True)
    assert {o.status for o in bench.service("run-1").post_many(first)} == {Status.POSTED}
    items = [{"charge": "PRO-SERVICES", "quantity": 1, "price": "100.00"}]
    refused = bench.emulators.bunny.create_invoices({"items": items}, count=2, release=True)
    service = bench.service("run-2")
    assert service.reference is not None  # the ledger as planned, then the account is closed in AIQ
    with bench.emulators.accountsiq.state.writing() as data:
        accounts = data.entities[AIQ_ENTITY].gl_accounts
        accounts["4010"] = accounts["4010"].model_copy(update={"is_active": False})
    outcomes = {o.key: o.status for o in service.post_many([first[0], *refused])}
    assert outcomes == {first[0]: Status.ALREADY_POSTED, **dict.fromkeys(refused, Status.FAILED)}
    return list(first), list(refused)


def test_the_export_lists_every_posted_document_with_its_aiq_id_and_run(bench: Bench, cli_env: None) -> None:
    posted, refused = post(bench)
    rows = exported()
    documents = {r["key"]: r for r in rows if not r["key"].startswith("CUSTOMER:")}
    assert set(documents) == {*posted, *refused}
    held = aiq_ids(bench)
    for key in posted:
        row = documents[key]
        reference = invoice_reference(key)
        assert row["external_reference"] == reference and reference in row["references"]
        assert row["aiq_transaction_id"] == held[reference] and row["aiq_transaction_ids"][0] == held[reference]
        assert row["posted_by"] == "run-1" and row["entity_id"] == AIQ_ENTITY
        assert row["posted_at"].endswith("Z") and date.fromisoformat(row["posted_at"][:10]) == date.today()
        assert isinstance(row["gross"], str) and row["gross"] == row["aiq_gross"]  # money as exact text
        (write,) = [w for w in row["writes"] if w["reference"] == reference]
        assert (write["state"], write["aiq_id"], write["sent_by"], write["target"]) == (
            "posted",
            held[reference],
            "run-1",
            "SI",
        )
    assert (documents[posted[0]]["outcome"], documents[posted[0]]["run_id"]) == ("already_posted", "run-2")
    assert {documents[k]["outcome"] for k in posted[1:]} == {"posted"}
    for key in refused:
        row = documents[key]
        assert (row["outcome"], row["aiq_transaction_id"], row["posted_at"], row["run_id"]) == (
            "failed",
            None,
            None,
            "run-2",
        )
        assert row["reason_code"] and "AccountsIQ refused" in row["reason"] and row["fix"]
        assert invoice_reference(key) not in held
    # Oldest first.
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    # Customers created for the invoices are writes of their own.
    for row in rows:
        if row["key"].startswith("CUSTOMER:"):
            assert row["outcome"] is None and {w["target"] for w in row["writes"]} == {"CUSTOMER"}


def test_filters_by_pair_day_and_document(bench: Bench, cli_env: None) -> None:
    posted, refused = post(bench)
    everything = exported()
    number = next(r["number"] for r in everything if r["key"] == posted[1])
    assert [r["key"] for r in exported("--document", number.lower())] == [posted[1]]
    assert [r["key"] for r in exported("--document", invoice_reference(posted[2]))] == [posted[2]]
    assert [r["key"] for r in exported("--document", refused[0], "--document", posted[1])] == [posted[1], refused[0]]
    assert exported("--entity", AIQ_ENTITY) == everything
    assert exported("--bunny-entity", "1") == everything  # the pair syncing Bunny entity 1 posts to DEMO01
    assert exported("--entity", "ANOTHER") == []
    today = date.today()
    assert exported("--from", today.isoformat(), "--to", today.isoformat()) == everything
    assert exported("--to", (today - timedelta(days=1)).isoformat()) == []
    assert exported("--from", (today + timedelta(days=1)).isoformat()) == []
    assert [r["key"] for r in exported("--last", "1")] == [everything[-1]["key"]]

    unknown = journal("--bunny-entity", "9")
    assert unknown.exit_code == 2 and "no configured pair syncs Bunny entity 9" in unknown.output
    backwards = journal("--from", "2026-02-01", "--to", "2026-01-01")
    assert backwards.exit_code == 2 and "--to is before --from" in backwards.output


def test_a_readable_table_by_default(bench: Bench, cli_env: None) -> None:
    posted, refused = post(bench)
    result = journal()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["when", "(UTC)", "entity", "key", "kind", "number", "outcome", "amount", "AIQ",
                                "id(s)", "references", "run"]  # fmt: skip
    held = aiq_ids(bench)
    for key in posted[1:]:
        (line,) = [x for x in lines if f" {invoice_reference(key)} " in x]
        assert f" {key} " in line and " posted " in line and f" {held[invoice_reference(key)]} " in line
        assert line.endswith(" run-1")
    for key in refused:
        (line,) = [i for i, x in enumerate(lines) if f" {invoice_reference(key)} " in x]
        assert " failed " in lines[line] and "AccountsIQ refused" in lines[line + 1]
    assert lines[-1].startswith(
        f"{len(posted) + len(refused) + sum('CUSTOMER:' in x for x in lines)} document(s), 3 posted"
    )
    nothing = journal("--document", "INV-NOPE")
    assert nothing.exit_code == 0 and nothing.output == "No document in the journal matches.\n"


def test_an_empty_journal_says_so(store, cli_env: None) -> None:  # type: ignore[no-untyped-def]
    result = journal()
    assert (result.exit_code, result.output) == (0, "The journal is empty.\n")
    assert exported() == []


def test_the_console_script_prints_only_what_was_asked(writer: Writer, tmp_path: Path) -> None:
    history(writer)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "DAGSTER_HOME": str(home), "AIQ_PIPELINE_STORE": writer.store.location}
    command = Path(sys.executable).parent / "aiq-pipeline"
    done = subprocess.run(
        [str(command), "journal", "--json", "--document", "INV-1007"], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert [(r["entity_id"], r["key"], r["gross"]) for r in json.loads(done.stdout)] == [
        ("DEMO01", "8", "1234567890123456.78"),
        ("OTHER", "8", "5.00"),
    ]
    table = subprocess.run([str(command), "journal", "--entity", "OTHER"], env=env, capture_output=True, text=True)
    assert (table.returncode, table.stderr) == (0, "")
    row = "2026-01-10 10:00:00  OTHER  8  invoice  INV-1007  posted  5.00 EUR  900  BUNNY-8  run-x"
    assert table.stdout.splitlines()[1].split() == row.split()
