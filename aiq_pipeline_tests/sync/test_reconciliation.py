from datetime import date
from decimal import Decimal

from aiq_pipeline.accountsiq.models import Transaction, TransactionDetail, TransactionSummary
from aiq_pipeline.sync.reconciliation import reconcile_invoice, totals_from_summary
from aiq_pipeline_tests.sync.builders import invoice, item

D = Decimal
INV = invoice(item("a", amount="49.00", tax="11.27"), item("b", charge="2", amount="200.00", tax="27.00"))


def summary(net_lines=("-49.00", "-200.00"), tax_lines=("-11.27", "-27.00"), control="287.27", **kw):
    lines = (
        *(TransactionDetail("4000", False, False, D(x), D(x)) for x in net_lines),
        *(TransactionDetail("2200", False, True, D(x), D(x)) for x in tax_lines),
        TransactionDetail("1100", True, False, D(control), D(control)),
    )
    fields = {
        "transaction_id": 5,
        "account_code": "BNY-42",
        "transaction_type": "SI",
        "external_reference": "BUNNY-INV-1001",
        "control_amount": D(control),
        "currency_code": "EUR",
        "transaction_date": date(2026, 6, 2),
        "lines": lines,
    }
    fields.update(kw)
    return TransactionSummary(**fields)


def test_matching_summary() -> None:
    totals = totals_from_summary(summary())
    assert (totals.net, totals.tax, totals.gross) == (D("249.00"), D("38.27"), D("287.27"))
    result = reconcile_invoice(INV, summary())
    assert result.matches and result.differences == ()


def test_a_cent_off_is_a_difference() -> None:
    result = reconcile_invoice(INV, summary(tax_lines=("-11.28", "-27.00"), control="287.28"))
    assert not result.matches
    assert {d.field: (d.bunny, d.aiq) for d in result.differences} == {
        "tax": ("38.27", "38.28"),
        "gross": ("287.27", "287.28"),
    }
    assert str(result.differences[0]) == "tax: Bunny 38.27, AIQ 38.28"


def test_wrong_customer_or_reference() -> None:
    result = reconcile_invoice(INV, summary(account_code="BNY-43", external_reference="bunny-inv-1001"))
    assert [d.field for d in result.differences] == ["customer_code"]  # references compare case-insensitively


def test_transaction_form() -> None:
    txn = Transaction(5, "SI", "BNY-42", "BUNNY-INV-1001", date(2026, 6, 2), "EUR", D(249), D("38.27"), D("287.27"))
    assert reconcile_invoice(INV, txn).matches
    off = Transaction(5, "SI", "BNY-42", "BUNNY-INV-1001", date(2026, 6, 2), "GBP", D(249), D("38.27"), D("287.27"))
    assert [d.field for d in reconcile_invoice(INV, off).differences] == ["currency_code"]
