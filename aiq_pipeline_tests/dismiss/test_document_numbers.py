"""Documents named by the number people use (`INV-1007`) as well as by their partition key (`8`), through the real
command line against both emulators, with the store on DuckDB and PostgreSQL: `retry`, `preview`, `exceptions
dismiss` and `undismiss` take either form per argument, refuse an ambiguous or unknown argument before doing anything,
and name documents by key and number. Partition keys stay the Bunny ids.

The demo tenant after the sensor's first tick: invoices 6 (INV-1005, tax code V99), 7 (INV-1006, closed period) and
8 (INV-1007, a charge on a control account) are exceptions; the others are posted. Credit note 1 is CN-0001."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiq_emulators.runner import running_emulators
from aiq_pipeline.bunny import BunnyClient
from aiq_pipeline_tests.dismiss.test_dismiss import cli, history, listed, three_failures
from aiq_pipeline_tests.pair_names import INVOICES
from aiq_pipeline_tests.pipeline.conftest import BUNNY_CLIENT, BUNNY_ENTITY, Stack
from aiq_pipeline_tests.pipeline.helpers import aiq_documents

pytestmark = pytest.mark.slow


def _second_credit_note_numbered(stack: Stack, number: str) -> None:
    """Bunny holds a second credit note (id 2) whose number is `number`."""
    store = stack.emulators.bunny.store
    with store.lock:
        first = store.tenant.credit_notes[0]
        store.tenant.credit_notes.append(
            first.model_copy(update={"id": "2", "uuid": "8a7d5c3b-0000-4000-8000-000000000002", "number": number})
        )
        store.save()


def _bunny_secret_absent(*outputs: str) -> None:
    for output in outputs:
        assert BUNNY_CLIENT[1] not in output


def test_dismiss_and_undismiss_by_number_and_key_mixed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    found = three_failures(stack, monkeypatch)
    assert set(found) == {"6", "7", "8"}
    assert {k: e["number"] for k, e in found.items()} == {"6": "INV-1005", "7": "INV-1006", "8": "INV-1007"}

    # An unknown number among good arguments: refused, naming it, and nothing is dismissed.
    for args, words in [
        (["INV-1006", "number:INV-9999"], "nothing done: number:INV-9999: no invoice or credit note is numbered"),
        (["6", "NO SUCH NUMBER"], "not on the exceptions list, nothing dismissed: NO SUCH NUMBER"),
        (["INV-1006", "key:"], "nothing done: key:: not a document key"),
    ]:
        refused = cli("exceptions", "dismiss", *args, "--reason", "x", "--by", "alice")
        assert refused.exit_code == 2, refused.output
        assert words in refused.output
    assert (
        "No invoice or credit note is numbered NO SUCH NUMBER either."
        in cli("exceptions", "dismiss", "NO SUCH NUMBER", "--reason", "x").output
    )
    assert set(listed()) == {"6", "7", "8"}
    assert history(stack, "7") == [] and history(stack, "6") == []

    # A number, a key and a prefixed number, mixed: each dismissed once, named by key and number.
    done = cli("exceptions", "dismiss", "INV-1006", "6", "--reason", "booked by hand", "--by", "alice")
    assert done.exit_code == 0, done.output
    assert "dismissed: 7 (INV-1006), 6 (INV-1005)" in done.output
    assert "exceptions undismiss 7 6" in done.output  # the keys, which undismiss takes as well
    assert set(listed()) == {"8"}
    dismissed = json.loads(cli("exceptions", "--dismissed", "--json").output)
    assert {(d["key"], d["number"]) for d in dismissed} == {("7", "INV-1006"), ("6", "INV-1005")}
    again = cli("exceptions", "dismiss", "number:INV-1006", "--reason", "booked by hand", "--by", "alice")
    assert again.exit_code == 0 and "already dismissed: 7 (INV-1006)" in again.output
    assert len(history(stack, "7")) == 1

    back = cli("exceptions", "undismiss", "number:INV-1006", "key:6", "--by", "bob")
    assert back.exit_code == 0, back.output
    assert "undismissed: 7 (INV-1006), 6 (INV-1005)" in back.output
    assert set(listed()) == {"6", "7", "8"}
    assert [h.actor for h in history(stack, "7")] == ["alice", "bob"]
    _bunny_secret_absent(done.output, back.output, refused.output)


def test_retry_by_number_and_an_unknown_number_posts_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    three_failures(stack, monkeypatch)
    stack.fix_demo_data()  # all three would post now
    runs = len(stack.instance.get_runs())

    refused = cli("retry", "INV-1007", "6", "number:INV-9999")
    assert refused.exit_code == 2, refused.output
    assert "number:INV-9999: no invoice or credit note is numbered INV-9999" in refused.output
    assert len(stack.instance.get_runs()) == runs
    assert not {"BUNNY-INV-8", "BUNNY-INV-6"} & set(aiq_documents(stack))

    never = cli("retry", "INV-1007", "CN-0001")  # credit note 1 exists in Bunny, but no sensor has picked it up
    assert never.exit_code == 2, never.output
    assert "never picked up by the pipeline (no partition): CN-0001 (key CN-1)" in never.output
    nothing = cli("retry", "6", "INV-9999")
    assert nothing.exit_code == 2 and "No invoice or credit note is numbered INV-9999 either." in nothing.output
    assert len(stack.instance.get_runs()) == runs

    posted = cli("retry", "INV-1007", "6", "number:INV-1006")
    assert posted.exit_code == 0, posted.output
    assert posted.output.startswith("retrying: 8 (INV-1007), 6 (INV-1005), 7 (INV-1006)\n")
    assert "posted: 3" in posted.output
    documents = aiq_documents(stack)
    assert (documents["BUNNY-INV-8"], documents["BUNNY-INV-6"], documents["BUNNY-INV-7"]) == (1, 1, 1)
    assert listed() == {}
    partitions = stack.instance.get_dynamic_partitions(INVOICES.partitions_name)
    assert {"6", "7", "8"} <= set(partitions) and not any(k.startswith("INV-") for k in partitions)  # still the ids
    assert {o["claim_key"] for o in stack.journal_outcomes()} >= {"6", "7", "8"}
    _bunny_secret_absent(refused.output, posted.output)


def test_preview_by_number_equals_preview_by_key(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    three_failures(stack, monkeypatch)
    by_key = cli("preview", "8", "CN-1", "--json")
    by_number = cli("preview", "INV-1007", "CN-0001", "--json")
    assert by_number.exit_code == by_key.exit_code == 1  # invoice 8 would fail
    assert json.loads(by_number.stdout) == json.loads(by_key.stdout)
    assert [p["key"] for p in json.loads(by_number.stdout)] == ["8", "CN-1"]
    assert cli("preview", "INV-1007").stdout == cli("preview", "8").stdout
    voided = cli("preview", "VOID-INV-1003", "--json")  # the reversal of voided invoice 4, by the invoice's number
    assert [p["key"] for p in json.loads(voided.stdout)] == ["VOID-4"]
    assert json.loads(voided.stdout) == json.loads(cli("preview", "VOID-4", "--json").stdout)
    assert "8 INV-1007 (invoice): would fail" in cli("preview", "number:INV-1007").stdout

    # Under the reading where Bunny refuses `number` in a filter the client falls back: the same answer.
    stack.emulators.bunny.store.set_options({"number_filter": "refused"})
    assert json.loads(cli("preview", "INV-1007", "CN-0001", "--json").stdout) == json.loads(by_key.stdout)

    unknown = cli("preview", "8", "INV-9999")
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert (
        "Error: unknown document INV-9999: Bunny has no invoice INV-9999 in entity 1. Nor is any invoice or credit "
        "note numbered INV-9999." in unknown.stderr
    )
    numbered = cli("preview", "8", "number:INV-9999")
    assert numbered.exit_code == 2 and numbered.stdout == ""
    assert "Error: not a document: 'number:INV-9999': no invoice or credit note is numbered INV-9999" in numbered.stderr


def test_an_argument_that_is_a_key_and_another_documents_number_is_refused(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    three_failures(stack, monkeypatch)
    _second_credit_note_numbered(stack, "CN-1")  # CN-1 is credit note 1's key, and credit note 2's number

    for command in (["preview"], ["retry"], ["exceptions", "dismiss", "--reason", "x"]):
        refused = cli(*command, "INV-1007", "CN-1")
        assert refused.exit_code == 2, refused.output
        assert "CN-1 is ambiguous: the key of credit note 1, and the number of credit note 2 (key CN-2)" in (
            refused.output
        )
        assert "key:CN-1" in refused.output and "number:CN-1" in refused.output
    assert set(listed()) == {"6", "7", "8"}

    first = json.loads(cli("preview", "key:CN-1", "--json").stdout)
    second = json.loads(cli("preview", "number:CN-1", "--json").stdout)
    assert [p["key"] for p in first] == ["CN-1"] and [p["key"] for p in second] == ["CN-2"]
    assert second == json.loads(cli("preview", "CN-2", "--json").stdout)

    # Two documents with one number: named by key only.
    store = stack.emulators.bunny.store
    with store.lock:
        store.tenant.credit_notes[1].number = "CN-0001"
        store.save()
    several = cli("preview", "CN-0001")
    assert several.exit_code == 2
    assert "CN-0001 is the number of several documents: credit note 1 (key CN-1)" in several.stderr


@pytest.mark.parametrize("reading", ["accepted", "refused"])
def test_the_client_finds_invoices_and_credit_notes_by_number_under_either_reading(
    tmp_path: Path, reading: str
) -> None:
    with running_emulators(accountsiq_port=None, state_dir=tmp_path) as emulators:
        emulators.bunny.store.set_options({"number_filter": reading})
        with BunnyClient(base_url=emulators.bunny_url, client_id=BUNNY_CLIENT[0], client_secret=BUNNY_CLIENT[1]) as c:
            invoices = c.invoices_numbered(BUNNY_ENTITY, ["INV-1007", "inv-1001", "US-2001", "INV-9999"])
            notes = c.credit_notes_numbered(BUNNY_ENTITY, ["CN-0001"])
            single = c.invoices_numbered(BUNNY_ENTITY, ["INV-1008"])
            filtered = c._filter_level  # which filter Bunny accepted: the number's own, or the entity's
    assert sorted((i.id, i.number) for i in invoices) == [("1", "INV-1001"), ("8", "INV-1007")]  # entity 1 only
    assert [(n.id, n.number) for n in notes] == [("1", "CN-0001")]
    assert [(i.id, i.number) for i in single] == [("9", "INV-1008")]
    assert filtered == (
        {"InvoiceNumbers": 0, "CreditNoteNumbers": 0}
        if reading == "accepted"
        else {"InvoiceNumbers": 2, "CreditNoteNumbers": 2}
    )
