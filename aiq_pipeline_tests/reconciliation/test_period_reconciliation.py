"""The pure monthly reconciliation: every way Bunny and AIQ can disagree about a month, and the ways they agree."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from aiq_pipeline.sync.documents.context import BunnyReadings
from aiq_pipeline.sync.money import Totals
from aiq_pipeline.sync.period_reconciliation import (
    PeriodReconciliation,
    Problem,
    month_bounds,
    reconcile_period,
)

D = Decimal
NET = D("100.00")
TAX = D("23.00")
GROSS = D("123.00")
CN_NET = D("10.00")
CN_TAX = D("2.30")
CN_GROSS = D("12.30")
ZERO = D("0")


@dataclass(frozen=True)
class Invoice:
    id: str
    subtotal: Decimal = NET
    tax_amount: Decimal = TAX
    amount: Decimal = GROSS
    state: str = "PAID"
    issued_at: date | None = date(2026, 6, 2)
    currency_code: str = "EUR"
    number: str | None = None
    updated_at: datetime = datetime(2026, 6, 20, 12, 0)  # a voided invoice's void day (Bunny has no void date)
    credits: Decimal | None = None
    merged_to_invoice_id: str | None = None

    @property
    def is_postable(self) -> bool:
        return self.state in {"NOT_DUE", "DUE", "UNPAID", "PROCESSING_PAYMENT", "PAID"}


@dataclass(frozen=True)
class CreditNote:
    id: str
    subtotal: Decimal = CN_NET
    tax_amount: Decimal = CN_TAX
    amount: Decimal = CN_GROSS
    state: str = "READY"
    issued_at: date | None = date(2026, 6, 10)
    currency_code: str | None = "EUR"
    number: str | None = None


@dataclass(frozen=True)
class Line:
    is_control_line: bool
    is_tax_line: bool
    amount: Decimal


@dataclass(frozen=True)
class Summary:
    transaction_id: int
    external_reference: str | None
    transaction_type: str = "SI"
    transaction_date: date | None = date(2026, 6, 2)
    currency_code: str | None = "EUR"
    account_code: str | None = "BNY-1"
    control_amount: Decimal = ZERO
    lines: tuple[Line, ...] = field(default=())


def posted(tid: int, reference: str, net: str, tax: str, *, type_code: str = "SI", **kw: object) -> Summary:
    """An AIQ summary signed as AIQ posts it: an invoice debits the customer, a credit note credits it."""
    sign = 1 if type_code == "SI" else -1
    gross = D(net) + D(tax)
    lines = (Line(True, False, sign * gross), Line(False, False, -sign * D(net)), Line(False, True, -sign * D(tax)))
    return Summary(tid, reference, type_code, control_amount=sign * gross, lines=lines, **kw)  # type: ignore[arg-type]


def run(invoices=(), notes=(), aiq=(), **kw) -> PeriodReconciliation:  # type: ignore[no-untyped-def]
    return reconcile_period(
        entity_id="1", month="2026-06", invoices=invoices, credit_notes=notes, aiq_transactions=aiq, **kw
    )


def only(result: PeriodReconciliation):  # type: ignore[no-untyped-def]
    assert len(result.differences) == 1, result.differences
    return result.differences[0]


def test_month_bounds() -> None:
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert month_bounds(date(2024, 2, 17)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert month_bounds("2026-12-01") == (date(2026, 12, 1), date(2026, 12, 31))


def test_matching_month_passes_with_totals_per_kind_and_currency() -> None:
    result = run(
        invoices=[Invoice("1"), Invoice("2", D("50.00"), D("0.00"), D("50.00"), currency_code="GBP")],
        notes=[CreditNote("7")],
        aiq=[
            posted(11, "BUNNY-INV-1", "100.00", "23.00"),
            posted(12, "BUNNY-INV-2", "50.00", "0.00", currency_code="GBP"),
            posted(13, "BUNNY-CN-7", "10.00", "2.30", type_code="SN"),
            posted(14, "MANUAL-42", "5.00", "0.00"),  # someone else's document: counted, not compared
        ],
    )
    assert result.passed and result.differences == ()
    assert result.matched_documents == 3 and result.other_aiq_documents == 1
    rows = {(r.kind, r.currency): (r.bunny, r.aiq) for r in result.totals}
    assert rows == {
        ("credit_note", "EUR"): (Totals(1, D("10.00"), D("2.30"), D("12.30")),) * 2,
        ("invoice", "EUR"): (Totals(1, D("100.00"), D("23.00"), D("123.00")),) * 2,
        ("invoice", "GBP"): (Totals(1, D("50.00"), D("0.00"), D("50.00")),) * 2,
    }
    assert result.describe() == "2026-06: Bunny and AIQ agree (3 document(s) matched)"


def test_invoice_missing_in_aiq_is_named_and_totals_differ() -> None:
    result = run(invoices=[Invoice("1", number="INV-1"), Invoice("2")], aiq=[posted(11, "BUNNY-INV-1", "100", "23")])
    diff = only(result)
    assert (diff.problem, diff.external_reference, diff.bunny_id, diff.aiq_transaction_ids) == (
        Problem.MISSING_IN_AIQ,
        "BUNNY-INV-2",
        "2",
        (),
    )
    (row,) = result.totals
    assert (row.bunny.count, row.aiq.count, row.bunny.gross, row.aiq.gross) == (2, 1, D("246.00"), D("123.00"))
    assert not result.passed and "1 document(s) differ" in result.describe()


def test_a_dismissed_document_aiq_lacks_is_named_handled_outside_not_a_difference() -> None:
    invoices = [Invoice("1", number="INV-1"), Invoice("2")]
    result = run(invoices=invoices, aiq=[posted(11, "BUNNY-INV-1", "100", "23")], handled_outside=["BUNNY-INV-2"])
    assert result.differences == () and result.passed
    assert result.handled_outside == ("BUNNY-INV-2",)
    assert "1 handled outside the product (dismissed)" in result.describe()


def test_extra_aiq_document_with_our_reference_is_not_in_bunny() -> None:
    result = run(
        invoices=[Invoice("1")],
        aiq=[posted(11, "BUNNY-INV-1", "100", "23"), posted(12, "BUNNY-INV-999", "1", "0")],
    )
    diff = only(result)
    assert (diff.problem, diff.external_reference, diff.aiq_transaction_ids, diff.bunny_id) == (
        Problem.NOT_IN_BUNNY,
        "BUNNY-INV-999",
        (12,),
        None,
    )
    assert "BUNNY-INV-999" in str(diff) and diff.aiq is not None and diff.aiq.gross == D("1.00")


def test_one_cent_difference_names_the_field() -> None:
    result = run(invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "100.00", "23.01")])
    diff = only(result)
    assert diff.problem == Problem.AMOUNTS_DIFFER
    assert diff.detail == "tax: Bunny 23.00, AIQ 23.01; gross: Bunny 123.00, AIQ 123.01"
    (row,) = result.totals
    assert row.bunny.tax == D("23.00") and row.aiq.tax == D("23.01") and not row.matches


def test_currency_difference_is_a_difference() -> None:
    diff = only(run(invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "100", "23", currency_code="GBP")]))
    assert diff.problem == Problem.AMOUNTS_DIFFER and diff.detail == "currency: Bunny EUR, AIQ GBP"


def test_duplicate_in_aiq() -> None:
    result = run(
        invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "100", "23"), posted(12, "bunny-inv-1", "100", "23")]
    )
    diff = only(result)
    assert diff.problem == Problem.DUPLICATE_IN_AIQ and diff.aiq_transaction_ids == (11, 12)
    (row,) = result.totals
    assert (row.bunny.count, row.aiq.count) == (1, 2)


def test_invoice_reference_on_a_credit_note_is_the_wrong_type() -> None:
    diff = only(run(invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "100", "23", type_code="SN")]))
    assert diff.problem == Problem.WRONG_TYPE and "expected SI" in diff.detail


def test_voided_before_posting_expects_nothing() -> None:
    assert run(invoices=[Invoice("4", state="VOIDED")]).passed


def test_voided_after_posting_pair_nets_to_zero_and_passes() -> None:
    result = run(
        invoices=[Invoice("4", state="VOIDED")],
        aiq=[posted(11, "BUNNY-INV-4", "100", "23"), posted(12, "BUNNY-VOID-4", "100", "23", type_code="SN")],
    )
    assert result.passed and result.matched_documents == 2
    (row,) = result.totals
    assert row.kind == "voided_pair" and row.bunny == row.aiq and row.aiq.count == 2


def test_voided_invoice_still_in_aiq_without_reversal() -> None:
    result = run(invoices=[Invoice("4", state="VOIDED")], aiq=[posted(11, "BUNNY-INV-4", "100", "23")])
    diff = only(result)
    assert (diff.problem, diff.external_reference) == (Problem.NOT_REVERSED, "BUNNY-INV-4")
    assert "BUNNY-VOID-4" in diff.detail


def test_reversal_without_its_invoice() -> None:
    diff = only(
        run(invoices=[Invoice("4", state="VOIDED")], aiq=[posted(12, "BUNNY-VOID-4", "100", "23", type_code="SN")])
    )
    assert (diff.problem, diff.external_reference, diff.kind) == (
        Problem.REVERSAL_WITHOUT_INVOICE,
        "BUNNY-VOID-4",
        "void_reversal",
    )


def test_reversal_off_by_a_cent() -> None:
    diff = only(
        run(
            invoices=[Invoice("4", state="VOIDED")],
            aiq=[posted(11, "BUNNY-INV-4", "100", "23"), posted(12, "BUNNY-VOID-4", "100.01", "23", type_code="SN")],
        )
    )
    assert (diff.problem, diff.external_reference) == (Problem.AMOUNTS_DIFFER, "BUNNY-VOID-4")
    assert diff.detail.startswith("net: Bunny 100.00, AIQ 100.01")


def test_an_invoice_voided_in_a_later_month_is_live_in_its_own_and_reversed_in_the_voids() -> None:
    voided = Invoice("4", state="VOIDED", updated_at=datetime(2026, 7, 1, 0, 5))  # voided just after month end
    reversal = posted(12, "BUNNY-VOID-4", "100", "23", type_code="SN", transaction_date=date(2026, 7, 1))
    invoice = posted(11, "BUNNY-INV-4", "100", "23")

    june = run(invoices=[voided], aiq=[invoice, reversal])
    assert june.passed and june.matched_documents == 1, june.differences
    (row,) = june.totals
    assert row.kind == "invoice" and row.bunny == row.aiq and row.aiq.count == 1  # live at June's end
    assert run(invoices=[voided]).passed  # voided before it was posted: nothing held, in either month

    july = reconcile_period(
        entity_id="1", month="2026-07", invoices=[voided], credit_notes=(), aiq_transactions=[invoice, reversal]
    )
    assert july.passed and july.matched_documents == 1, july.differences
    (row,) = july.totals
    assert row.kind == "void_reversal" and row.bunny == row.aiq
    cent_off = posted(12, "BUNNY-VOID-4", "100.01", "23", type_code="SN", transaction_date=date(2026, 7, 1))
    diff = only(
        reconcile_period(
            entity_id="1", month="2026-07", invoices=[voided], credit_notes=(), aiq_transactions=[cent_off]
        )
    )
    assert (diff.problem, diff.external_reference) == (Problem.AMOUNTS_DIFFER, "BUNNY-VOID-4")


def test_reversal_of_a_live_invoice_is_not_in_bunny() -> None:
    diff = only(
        run(
            invoices=[Invoice("1")],
            aiq=[posted(11, "BUNNY-INV-1", "100", "23"), posted(12, "BUNNY-VOID-1", "100", "23", type_code="SN")],
        )
    )
    assert (diff.problem, diff.external_reference) == (Problem.NOT_IN_BUNNY, "BUNNY-VOID-1")


@pytest.mark.parametrize("state", ["DRAFT", "PREPARING"])
def test_unissued_credit_note_must_not_be_in_aiq(state: str) -> None:
    assert run(notes=[CreditNote("7", state=state)]).passed
    diff = only(run(notes=[CreditNote("7", state=state)], aiq=[posted(13, "BUNNY-CN-7", "10", "2.30", type_code="SN")]))
    assert (diff.problem, diff.bunny_state) == (Problem.NOT_EXPECTED, state)


def test_credit_note_missing_in_aiq() -> None:
    diff = only(run(notes=[CreditNote("7", number="CN-0007")]))
    assert (diff.problem, diff.kind, diff.external_reference) == (Problem.MISSING_IN_AIQ, "credit_note", "BUNNY-CN-7")
    assert "credit note CN-0007" in str(diff)


def test_documents_outside_the_month_are_ignored_on_both_sides() -> None:
    result = run(
        invoices=[Invoice("1", issued_at=date(2026, 7, 1)), Invoice("2", issued_at=None)],
        aiq=[posted(11, "BUNNY-INV-1", "100", "23", transaction_date=date(2026, 7, 1))],
    )
    assert result.passed and result.totals == ()


def test_invoice_posted_in_another_month_shows_on_both_months() -> None:
    june = run(invoices=[Invoice("1")], aiq=[])
    july = reconcile_period(
        entity_id="1",
        month="2026-07",
        invoices=[Invoice("1")],
        credit_notes=[],
        aiq_transactions=[posted(11, "BUNNY-INV-1", "100", "23", transaction_date=date(2026, 7, 3))],
    )
    assert only(june).problem == Problem.MISSING_IN_AIQ and only(july).problem == Problem.NOT_IN_BUNNY


def test_documents_before_the_sync_start_are_optional_but_must_match_when_present() -> None:
    absent = run(invoices=[Invoice("1")], sync_start=date(2026, 6, 15))
    assert absent.passed and absent.optional_absent == 1 and absent.totals == ()
    wrong = run(invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "99", "23")], sync_start=date(2026, 6, 15))
    assert only(wrong).problem == Problem.AMOUNTS_DIFFER


def test_other_transaction_types_are_ignored() -> None:
    receipt = Summary(20, "BUNNY-INV-1", "SR", control_amount=D("-123.00"))
    assert run(invoices=[Invoice("1")], aiq=[posted(11, "BUNNY-INV-1", "100", "23"), receipt]).passed


def test_hashed_references_of_unsafe_ids_match() -> None:
    from aiq_pipeline.sync.identity import invoice_reference

    reference = invoice_reference("inv_abc")
    assert reference.startswith("BUNNY-INV_")
    assert run(invoices=[Invoice("inv_abc")], aiq=[posted(11, reference, "100", "23")]).passed


def test_document_moved_out_of_a_closed_period_belongs_to_its_aiq_posting_month() -> None:
    # Bunny issued it on 15 May; AIQ's May was closed, so it posted on 1 June (the first open day).
    may_invoice, may_note = Invoice("7", issued_at=date(2026, 5, 15)), CreditNote("8", issued_at=date(2026, 5, 20))
    moved = [
        posted(11, "BUNNY-INV-7", "100", "23", transaction_date=date(2026, 6, 1)),
        posted(12, "BUNNY-CN-8", "10", "2.30", type_code="SN", transaction_date=date(2026, 6, 1)),
    ]
    starts = [date(2026, m, 1) for m in range(1, 13)]
    june = run(invoices=[may_invoice], notes=[may_note], aiq=moved, period_starts=starts)
    assert june.passed and june.matched_documents == 2
    may = reconcile_period(
        entity_id="1",
        month="2026-05",
        invoices=[may_invoice],
        credit_notes=[may_note],
        aiq_transactions=moved,  # the later AIQ documents of May's documents, as the caller looks them up
        period_starts=starts,
    )
    assert may.passed and may.matched_documents == 0 and may.totals == ()
    # Without knowing the period starts, nothing counts as moved: both months show the difference.
    assert not run(invoices=[may_invoice], notes=[may_note], aiq=moved).passed


# An invoice whose credit beyond a group of its lines posts as a sales invoice (that group's charges and the other
# groups) and a remainder credit note: Bunny net 200 + 50 - 70 = 180, tax 46 + 6.75 - 9.45 = 43.30.
REMAINDER_INVOICE = Invoice("28", subtotal=D("180.00"), tax_amount=D("43.30"), amount=D("223.30"))
MAIN_AND_REMAINDER = (("BUNNY-INV-28", "200.00", "46.00", "SI"), ("BUNNY-INVCR-28", "20.00", "2.70", "SN"))


def _held(*documents: tuple[str, str, str, str]) -> list[Summary]:
    return [posted(60 + n, ref, net, tax, type_code=kind) for n, (ref, net, tax, kind) in enumerate(documents)]


def test_an_invoice_with_a_remainder_credit_note_matches_as_the_two_combined() -> None:
    """Found in review: the remainder was NOT_IN_BUNNY and the invoice AMOUNTS_DIFFER, so no month with a downgrade
    proration or a large credit ever passed, though AIQ held exactly what Bunny billed."""
    result = run(invoices=[REMAINDER_INVOICE], aiq=_held(*MAIN_AND_REMAINDER))
    assert result.passed, [str(d) for d in result.differences]
    (row,) = result.totals
    assert (row.kind, row.aiq.count, row.aiq.net, row.aiq.gross) == ("invoice", 1, D("180.00"), D("223.30"))


def test_an_invoice_whose_total_is_negative_matches_as_its_credit_note_alone() -> None:
    negative = Invoice("29", subtotal=D("-50.00"), tax_amount=D("-11.50"), amount=D("-61.50"))
    result = run(invoices=[negative], aiq=_held(("BUNNY-INVCR-29", "50.00", "11.50", "SN")))
    assert result.passed, [str(d) for d in result.differences]


def test_a_remainder_held_at_another_amount_differs_as_the_plan_combined() -> None:
    (main, _) = MAIN_AND_REMAINDER
    diff = only(run(invoices=[REMAINDER_INVOICE], aiq=_held(main, ("BUNNY-INVCR-28", "20.01", "2.70", "SN"))))
    assert (diff.problem, diff.external_reference) == (Problem.AMOUNTS_DIFFER, "BUNNY-INV-28")
    assert "net: Bunny 180.00, AIQ 179.99" in diff.detail and "BUNNY-INV-28 less BUNNY-INVCR-28" in diff.detail


def test_a_remainder_of_the_wrong_type_or_twice_is_named() -> None:
    (main, remainder) = MAIN_AND_REMAINDER
    wrong = run(invoices=[REMAINDER_INVOICE], aiq=_held(main, (*remainder[:3], "SI")))
    assert only(wrong).problem == Problem.WRONG_TYPE and "BUNNY-INVCR-28" in only(wrong).detail
    twice = run(invoices=[REMAINDER_INVOICE], aiq=_held(main, remainder, remainder))
    assert only(twice).problem == Problem.DUPLICATE_IN_AIQ


def test_a_voided_invoice_with_a_remainder_and_its_two_reversals_net_to_zero() -> None:
    voided = replace(REMAINDER_INVOICE, state="VOIDED")
    reversals = (("BUNNY-VOID-28", "200.00", "46.00", "SN"), ("BUNNY-VOIDCR-28", "20.00", "2.70", "SI"))
    result = run(invoices=[voided], aiq=_held(*MAIN_AND_REMAINDER, *reversals))
    assert result.passed, [str(d) for d in result.differences]
    assert result.matched_documents == 2  # the invoice and its reversal, each as its plan combined


@pytest.mark.parametrize(
    ("readings", "invoice"),
    [
        (BunnyReadings(amount="less_credits"), Invoice("30", amount=D("103.00"), credits=D("20.00"))),
        (BunnyReadings(subtotal="before_discount"), Invoice("30", subtotal=D("120.00"))),  # 20.00 discounted
    ],
    ids=["less_credits", "before_discount"],
)
def test_bunny_totals_are_read_as_the_tenant_reads_them(readings: BunnyReadings, invoice: Invoice) -> None:
    """AIQ holds the invoice at its value (100 + 23): Bunny's `amount` net of 20.00 credit applied, or its subtotal
    before a 20.00 discount, must be read the tenant's way, as the planner and the totals check read them (found in
    review: such a month never passed)."""
    held = [posted(70, "BUNNY-INV-30", "100", "23")]
    assert run(invoices=[invoice], aiq=held, readings=readings).passed
    assert only(run(invoices=[invoice], aiq=held)).problem == Problem.AMOUNTS_DIFFER  # read the default way


def test_a_zero_value_invoice_is_not_missing_when_aiq_holds_nothing_and_must_match_when_it_does() -> None:
    """A trial or a 100 % coupon posts nothing (unless configured to): AIQ lacking it is no difference. Found by running
    the randomized invoices through the reconciliation: every zero-value invoice was MISSING_IN_AIQ."""
    trial = Invoice("40", subtotal=ZERO, tax_amount=ZERO, amount=ZERO)
    result = run(invoices=[trial])
    assert result.passed and result.optional_absent == 1
    held = run(invoices=[trial], aiq=[posted(80, "BUNNY-INV-40", "1.00", "0.23")])
    assert only(held).problem == Problem.AMOUNTS_DIFFER


def test_a_combined_invoice_shown_consolidated_is_expected_once_and_its_components_never() -> None:
    """Found by running the randomized invoices through the reconciliation under the `combined_consolidated` reading
    of Bunny's consolidated billing (MONEY.md): the combined invoice is CONSOLIDATED and the planner posts it, but the
    reconciliation took it as never posted (NOT_EXPECTED) and left it out of Bunny's totals."""
    combined = Invoice("9", state="CONSOLIDATED")
    merged = Invoice("7", state="MERGED", merged_to_invoice_id="9")
    component = Invoice("8", state="CONSOLIDATED", merged_to_invoice_id="9")  # the other reading's component
    result = run(invoices=[combined, merged, component], aiq=[posted(11, "BUNNY-INV-9", "100", "23")])
    assert result.passed, result.differences
    assert result.matched_documents == 1
    assert only(run(invoices=[combined, merged, component])).external_reference == "BUNNY-INV-9"
    held = only(
        run(
            invoices=[combined, component],
            aiq=[posted(11, "BUNNY-INV-9", "100", "23"), posted(12, "BUNNY-INV-8", "1", "0")],
        )
    )
    assert held.external_reference == "BUNNY-INV-8"
