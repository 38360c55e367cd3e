"""Sales credit journals (type SC): the mirror of the debit journal, the customer credited and each line's GL account
debited (a payment's processor fees, account credit applied to an invoice); their look-ups, balance, allocation under
both `allocation_pairs` readings and faults. Every answer is validated against the WSDL schema (the `soap` fixture)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from aiq_emulators.accountsiq import SERVICE_PATH
from aiq_pipeline_tests.emulators.accountsiq.conftest import (
    NS,
    Clock,
    Soap,
    aiq_header,
    envelope,
    invoice_xml,
    lookup_xml,
)
from aiq_pipeline_tests.emulators.accountsiq.test_balances import balances
from aiq_pipeline_tests.emulators.accountsiq.test_receipts import receipt_xml
from aiq_pipeline_tests.emulators.accountsiq.test_refunds import allocate, journal_line_xml, journal_xml, lookup_typed
from aiq_pipeline_tests.emulators.accountsiq.test_unverified_options import JULY, options

POST = "PostSalesCreditJournalGetBackTransactionID"
DEBIT = "PostSalesDebitJournalGetBackTransactionID"


def fees_xml(*, reference: str = "BUNNY-FEES-1", amount: str = "2.50", gl: str = "8000", **changes: str) -> str:
    """A credit journal of EXISTING-001 with one line to an expense (Posting) account."""
    return journal_xml(reference=reference, lines=journal_line_xml(gl=gl, amount=amount, bank_rate=None), **changes)


def found(soap: Soap, reference: str, kind: str = "SC") -> dict[str, str | None]:
    answer = soap.call("GetTransactionsByExternalReference", lookup_typed(reference, kind))
    assert answer.status == "Success"
    names = ("TransactionID", "TransactionType", "InternalNumber", "ControlAmount", "OutstandingAmount")
    return {name: answer.text(name) for name in names}


def test_a_credit_journal_credits_the_customer_and_debits_each_line(soap: Soap) -> None:
    created = soap.call(POST, fees_xml())
    assert (created.status, created.error_code) == ("Success", "SUCCESS")
    transaction_id = created.text("transactionID")
    answer = soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-FEES-1", "SC"))
    assert answer.texts("TransactionID") == [transaction_id]
    assert (answer.text("TransactionType"), answer.text("InternalNumber")) == ("SC", "SC000001")
    assert Decimal(answer.text("ControlAmount")) == Decimal(answer.text("OutstandingAmount")) == Decimal("-2.50")
    assert list(zip(answer.texts("GLAccountCode"), map(Decimal, answer.texts("Amount")), strict=True)) == [
        ("1100", Decimal("-2.50")),  # the customer's control account, credited
        ("8000", Decimal("2.50")),  # the expense account, debited
    ]
    assert answer.text("TransactionBankGLAccountNumber") is None
    transaction = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert transaction.text("TransactionType") == "SalesCreditJournal"
    assert transaction.texts("IsAccountControlLine") == ["true", "false"]
    # Not a debit journal: a type filter of SD does not find it.
    assert (
        soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-FEES-1", "SD")).texts("TransactionID") == []
    )


def test_credit_journals_number_apart_from_debit_journals(soap: Soap) -> None:
    assert soap.call(DEBIT, journal_xml(reference="REFUND-1")).status == "Success"
    assert soap.call(POST, fees_xml(reference="FEES-1")).status == "Success"
    assert soap.call(POST, fees_xml(reference="FEES-2")).status == "Success"
    assert [found(soap, r)["InternalNumber"] for r in ("FEES-1", "FEES-2")] == ["SC000001", "SC000002"]
    assert found(soap, "REFUND-1", "SD")["InternalNumber"] == "SD000001"


def test_a_foreign_customer_credit_journal_converts_to_base_and_may_debit_a_bank(soap: Soap) -> None:
    lines = journal_line_xml(gl="8000", amount="10.00", bank_rate=None) + journal_line_xml(gl="1200", amount="5.00")
    created = soap.call(POST, journal_xml(customer="EXISTING-002", rate="1.17", lines=lines))
    assert created.status == "Success"
    answer = soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-REFUND-1", "SC"))
    assert (answer.text("CurrencyCode"), answer.text("TransactionBankGLAccountNumber")) == ("GBP", "1200")
    assert Decimal(answer.text("ControlAmount")) == Decimal("-15.00")
    assert Decimal(answer.text("ControlBCAmount")) == Decimal("-17.55")  # 15.00 x 1.17
    assert [Decimal(a) for a in answer.texts("BCAmount")] == [Decimal("-17.55"), Decimal("11.70"), Decimal("5.85")]
    assert soap.call("GetTransaction", f"<transactionID>{created.text('transactionID')}</transactionID>").texts(
        "IsBankLine"
    ) == ["false", "false", "true"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"rate": "0"}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"customer": "NOBODY"}, "CUSTOMER_CODE_DOES_NOT_EXIST"),
        ({"reference": None}, "JOURNAL_ENTRY_MUST_HAVE_A_REFERENCE"),
        ({"reference": " "}, "JOURNAL_ENTRY_CANNOT_HAVE_AN_EMPTY_REFERENCE"),
        ({"reference": "R" * 51}, "JOURNAL_ENTRY_REFERENCE_IS_TOO_LONG"),
        ({"date": "2026-01-15T00:00:00"}, "DATE_IS_OUT_OF_RANGE"),
        ({"lines": ""}, "JOURNAL_ENTRY_LINES_MUST_HAVE_ROWS"),
        ({"lines": journal_line_xml(gl="8000", amount="-5.00", bank_rate=None)},
         "JOURNAL_ENTRY_CANNOT_HAVE_NEGATIVE_AMOUNTS"),
        ({"lines": journal_line_xml(gl="1100", bank_rate=None)}, "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        ({"lines": journal_line_xml(gl="2200", bank_rate=None)}, "JOURNAL_ENTRY_CANNOT_POST_TO_CONTROL_ACCOUNT"),
        ({"lines": journal_line_xml(gl="9999", bank_rate=None)}, "GLACCOUNT_CODE_DOES_NOT_EXIST"),
        ({"lines": journal_line_xml(gl="8000x", bank_rate=None)}, "GLACCOUNT_CODE_IS_NOT_UPPERCASE"),
        ({"lines": journal_line_xml(gl="4099", bank_rate=None)}, "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),
        ({"lines": journal_line_xml(gl="1200", bank_rate=None)}, "EXCHANGE_RATE_IS_NEGATIVE_OR_ZERO"),
        ({"lines": journal_line_xml(gl="8000", description="d" * 501, bank_rate=None)},
         "JOURNAL_ENTRY_LINE_DESCRIPTION_IS_TOO_LONG"),
    ],
)  # fmt: skip
def test_credit_journal_rules(soap: Soap, changes: dict, code: str) -> None:
    answer = soap.call(POST, journal_xml(**({"reference": "BUNNY-FEES-1"} | changes)))
    assert (answer.status, answer.error_code, answer.text("transactionID")) == ("Failure", code, "-1")
    assert (
        soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-FEES-1", "SC")).texts("TransactionID") == []
    )


def test_references_are_unique_among_credit_journals_only_when_the_option_says(soap: Soap, emulator) -> None:
    assert soap.call(POST, fees_xml()).status == "Success"
    assert soap.call(POST, fees_xml()).status == "Success"  # default: duplicates stored
    assert (
        len(soap.call("GetTransactionsByExternalReference", lookup_typed("BUNNY-FEES-1", "SC")).texts("TransactionID"))
        == 2
    )
    emulator[1].set_options(unique_external_references=True)
    again = soap.call(POST, fees_xml())
    assert (again.error_code, again.text("transactionID")) == ("JOURNAL_ENTRY_REFERENCE_ALREADY_EXISTS", "-1")
    # Per type: a debit journal may carry the same reference, and a credit journal a debit journal's.
    assert soap.call(DEBIT, journal_xml(reference="BUNNY-FEES-1")).status == "Success"
    assert soap.call(DEBIT, journal_xml(reference="SHARED")).status == "Success"
    assert soap.call(POST, fees_xml(reference="SHARED")).status == "Success"


def test_a_credit_journal_lowers_the_balance_and_shows_in_transactions_by(soap: Soap) -> None:
    soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(date="2026-07-01T00:00:00"))  # 123.00
    created = soap.call(POST, fees_xml(amount="23.00", date="2026-07-05T00:00:00"))
    assert balances(soap, "2026-07-31T00:00:00", ["EXISTING-001"]) == {"EXISTING-001": (Decimal("100.00"), "EUR")}
    assert balances(soap, "2026-07-04T00:00:00", ["EXISTING-001"]) == {"EXISTING-001": (Decimal("123.00"), "EUR")}
    listed = soap.call("GetTransactionsBy", JULY)
    assert created.text("transactionID") in listed.texts("TransactionID")
    assert "SC" in listed.texts("TransactionType")


def test_a_credit_journal_pays_part_of_an_invoice_under_debit_credit(soap: Soap) -> None:
    invoice = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-1"))  # 123.00
    credit = soap.call(POST, fees_xml(amount="23.00"))
    assert allocate(soap, invoice.text("transactionID") or "", credit.text("transactionID") or "", "23.00").status == (
        "Success"
    )
    assert Decimal(soap.call("GetTransactionsByExternalReference", lookup_xml("INV-1")).text("OutstandingAmount")) == (
        Decimal("100.00")
    )
    assert Decimal(found(soap, "BUNNY-FEES-1")["OutstandingAmount"] or "nan") == 0
    # Over-allocation and a fully allocated side answer as for any pair.
    more = soap.call(POST, fees_xml(reference="FEES-2", amount="5.00"))
    over = allocate(soap, invoice.text("transactionID") or "", more.text("transactionID") or "", "5.01")
    assert over.error_code == "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"
    full = allocate(soap, invoice.text("transactionID") or "", credit.text("transactionID") or "", "1.00")
    assert full.error_code == "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION"


@pytest.mark.parametrize("pairs", ["debit_credit", "wiki_table"])
def test_which_pairs_a_credit_journal_allocates_in(soap: Soap, emulator, pairs: str) -> None:
    emulator[1].set_options(allocation_pairs=pairs)
    invoice = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-1")).text(
        "transactionID"
    )
    refund = soap.call(DEBIT, journal_xml(reference="REFUND-1", lines=journal_line_xml(amount="20.00"))).text(
        "transactionID"
    )
    receipt = soap.call("SaveSalesReceiptGetBackTransactionID", receipt_xml(amount="10.00")).text("transactionID")
    credit = soap.call(POST, fees_xml(amount="30.00")).text("transactionID")
    other = soap.call(POST, fees_xml(reference="FEES-2", amount="30.00")).text("transactionID")
    refused = "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES"
    with_invoice = allocate(soap, invoice or "", credit or "", "5.00")
    if pairs == "debit_credit":
        assert with_invoice.status == "Success"
    else:
        assert with_invoice.error_code == refused  # the A-Z list's row pairs SC with SD only
    assert allocate(soap, refund or "", credit or "", "5.00").status == "Success"  # SD-SC: either reading
    assert allocate(soap, credit or "", other or "", "1.00").error_code == refused  # two credits
    assert allocate(soap, receipt or "", credit or "", "1.00").error_code == refused
    expected = Decimal("-20.00") if pairs == "debit_credit" else Decimal("-25.00")
    assert Decimal(found(soap, "BUNNY-FEES-1")["OutstandingAmount"] or "nan") == expected


def test_allocations_of_a_credit_journal_are_listed_from_both_sides(soap: Soap) -> None:
    invoice = soap.call("CreateBatchSalesInvoiceGetBackTransactionID", invoice_xml(reference="INV-1")).text(
        "transactionID"
    )
    credit = soap.call(POST, fees_xml(amount="23.00")).text("transactionID")
    allocate(soap, invoice or "", credit or "", "23.00")
    listed = soap.call("GetAllocationsByTransactionId", f"<transactionId>{credit}</transactionId>")
    assert (listed.texts("AllocatedToTransactionID"), listed.texts("AllocatedToTransactionType")) == ([invoice], ["SI"])
    back = soap.call("GetAllocationsByTransactionId", f"<transactionId>{invoice}</transactionId>")
    assert (back.texts("AllocatedToTransactionID"), back.texts("AllocatedToExternalReference")) == (
        [credit],
        ["BUNNY-FEES-1"],
    )


def test_magnitude_reading_reports_a_credit_journal_positive(soap: Soap, emulator) -> None:
    soap.call(POST, fees_xml(amount="7.00"))
    emulator[1].set_options(summary_amount_sign="magnitude")
    row = found(soap, "BUNNY-FEES-1")
    assert (Decimal(row["ControlAmount"] or "nan"), Decimal(row["OutstandingAmount"] or "nan")) == (
        Decimal("7.00"),
        Decimal("7.00"),
    )


def test_lookup_lag_hides_a_credit_journal_from_listings_not_from_get_transaction(soap: Soap, clock: Clock) -> None:
    assert options(soap, lookup_lag_seconds=30).status_code == 200
    transaction_id = soap.call(POST, fees_xml()).text("transactionID")
    assert found(soap, "BUNNY-FEES-1")["TransactionID"] is None
    assert transaction_id not in soap.call("GetTransactionsBy", JULY).texts("TransactionID")
    by_id = soap.call("GetTransaction", f"<transactionID>{transaction_id}</transactionID>")
    assert (by_id.status, by_id.text("TransactionType")) == ("Success", "SalesCreditJournal")
    clock.advance(30)
    assert found(soap, "BUNNY-FEES-1")["TransactionID"] == transaction_id


def test_drop_after_commit_applies_the_credit_journal_and_throttle_applies_nothing(soap: Soap, emulator) -> None:
    emulator[1].faults.add({"kind": "drop_after_commit", "operations": [POST], "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        soap.call(POST, fees_xml())
    assert found(soap, "BUNNY-FEES-1")["TransactionType"] == "SC"
    emulator[1].faults.add({"kind": "throttle", "operations": [POST], "count": 1})
    answer = soap.call(POST, fees_xml(reference="FEES-2"))
    assert (answer.error_code, answer.text("transactionID")) == ("OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS", "-1")
    assert found(soap, "FEES-2")["TransactionID"] is None


def test_slow_commit_commits_the_credit_journal_before_the_late_answer(soap: Soap, emulator) -> None:
    body = envelope(POST, fees_xml(), aiq_header(soap.login()))
    emulator[1].faults.add({"kind": "slow_commit", "latency_ms": 2000, "operations": [POST], "count": 1})
    with httpx.Client(base_url=soap.base_url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(
            SERVICE_PATH, content=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": NS + POST}
        )
    assert found(soap, "BUNNY-FEES-1")["TransactionType"] == "SC"
