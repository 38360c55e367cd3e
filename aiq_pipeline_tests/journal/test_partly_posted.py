"""A document partly in AIQ (its invoice posted, its remainder credit note not) is never taken as complete: when it
cannot be planned any more (here AIQ lost the tax code), the failure shows on the exceptions list instead of the
document passing as already posted with its remainder silently never written."""

from __future__ import annotations

from aiq_pipeline.service.outcome import Status
from aiq_pipeline.store.journal import WriteState
from aiq_pipeline.sync.identity import invoice_credit_reference, invoice_reference
from aiq_pipeline_tests.journal.conftest import Bench
from aiq_pipeline_tests.pipeline.conftest import AIQ_ENTITY

STANDARD = {"charge": "SUB-MONTHLY", "tax_rate": "23", "tax_code": "V01", "price": "200.00"}
SERVICES = {"charge": "PRO-SERVICES", "tax_rate": "13.5", "tax_code": "V02", "charge_kind": "quote", "price": "50.00"}
# The V02 group's credit exceeds its charge by 20.00: a remainder credit note, allocated to the invoice.
CREDIT = SERVICES | {"price": "-70.00", "is_credit": True, "credits_line": 2, "line_text": "Credit"}
CREDIT_NOTE_CREATES = [
    "CreateBatchSalesCreditNoteGetBackTransactionID",
    "CreateBatchSalesCreditNoteBulkGetBackTransactionIDs",
]


def test_an_invoice_whose_remainder_is_unwritten_fails_its_preflight_visibly_then_completes(bench: Bench) -> None:
    (invoice_id,) = bench.emulators.bunny.create_invoices({"items": [STANDARD, SERVICES, CREDIT]}, release=True)
    main, rest = invoice_reference(invoice_id), invoice_credit_reference(invoice_id)
    aiq = bench.emulators.accountsiq
    aiq.faults.add({"kind": "throttle", "count": 20, "operations": CREDIT_NOTE_CREATES})  # AIQ refuses, writes nothing
    first = bench.service("run-1").post(invoice_id)
    aiq.faults.clear()
    assert first.status == Status.FAILED and bench.aiq_count(main) == 1 and bench.aiq_count(rest) == 0, first
    left = bench.journal_entry(rest)
    assert left is not None and left.state == WriteState.REJECTED

    with aiq.state.writing() as data:  # the invoice can no longer be planned
        tax_codes = data.entities[AIQ_ENTITY].tax_codes
        v02 = tax_codes.pop("V02")
    blocked = bench.service("run-2").post(invoice_id)
    assert blocked.status == Status.FAILED and blocked.reason_code == "UNKNOWN_TAX_CODE", blocked

    with aiq.state.writing() as data:
        data.entities[AIQ_ENTITY].tax_codes["V02"] = v02
    done = bench.service("run-3").post(invoice_id)
    assert done.status == Status.POSTED, done
    assert bench.aiq_count(main) == bench.aiq_count(rest) == 1
