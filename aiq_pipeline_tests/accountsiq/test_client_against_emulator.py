"""The production AccountsIQ client over real HTTP (127.0.0.1) against the emulator's demo tenant.

One emulator serves the module; every test starts from the seed (data, faults, stats, options, clock).
Secret hygiene is checked after every test: no client secret and no token the emulator ever issued in
this module may appear in a captured log line (DEBUG) or in the text of an exception a test saw.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aiq_emulators.accountsiq.app import EmulatorHandle, start_emulator
from aiq_emulators.accountsiq.state import EmulatorOptions
from aiq_pipeline.accountsiq import (
    AccountsIQClient,
    AiqAuthenticationError,
    AiqError,
    AiqNotFoundError,
    AiqThrottledError,
    AiqValidationError,
    AiqWriteOutcomeUnknown,
    BatchLine,
    BatchSalesCreditNote,
    BatchSalesInvoice,
    CreatedTransaction,
    Entity,
)

ENTITY = "DEMO01"
CLIENT_ID = "demo-aiq-client"
CLIENT_SECRET = "demo-aiq-secret"
CREATE = "CreateBatchSalesInvoiceGetBackTransactionID"
SALES = ("SI", "SN")
TOKEN_ELEMENT = re.compile(rb"<(?:\w+:)?(?:AccessToken|RefreshToken|refreshToken)>([^<]+)<")


class MovableClock:
    """The emulator's clock: real UTC time plus an offset a test can advance (token expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return (datetime.now(UTC) + self.offset).replace(tzinfo=None, microsecond=0)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP, but remembers every token that crosses the wire so the hygiene check can look for it."""

    def __init__(self, tokens: set[str]) -> None:
        super().__init__()
        self.tokens = tokens

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.tokens.update(t.decode() for t in TOKEN_ELEMENT.findall(request.content))
        response = super().handle_request(request)
        response.read()
        self.tokens.update(t.decode() for t in TOKEN_ELEMENT.findall(response.content))
        return response


@dataclasses.dataclass
class Session:
    """Everything one test touches: the emulator handle, its clock, clients, and what must stay secret."""

    base_url: str
    handle: EmulatorHandle
    clock: MovableClock
    tokens: set[str]
    errors: list[BaseException]
    clients: list[AccountsIQClient] = dataclasses.field(default_factory=list)

    def client(self, **options: Any) -> AccountsIQClient:
        settings: dict[str, Any] = {
            "entity_id": ENTITY,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "backoff_base": 0.0,
            "max_attempts": 3,
            "timeout": 10.0,
        }
        settings.update(options)
        made = AccountsIQClient(base_url=self.base_url, transport=RecordingTransport(self.tokens), **settings)
        self.clients.append(made)
        return made

    @contextmanager
    def raises(self, error: type[AiqError]) -> Iterator[pytest.ExceptionInfo[AiqError]]:
        """pytest.raises that also keeps the exception for the secret check."""
        with pytest.raises(error) as info:
            yield info
        self.errors.append(info.value)

    def calls(self, operation: str) -> int:
        return int(self.handle.stats.snapshot()["calls"].get(operation, 0))


_clock = MovableClock()
_tokens: set[str] = set()  # every token issued during the module, for the hygiene check


def _formatted(record: logging.LogRecord) -> str:
    return logging.Formatter().format(record)


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, EmulatorHandle]]:
    with start_emulator(clock=_clock) as served:
        yield served


@pytest.fixture
def aiq(emulator: tuple[str, EmulatorHandle], caplog: pytest.LogCaptureFixture) -> Iterator[Session]:
    base_url, handle = emulator
    handle.reset()
    handle.state.options = EmulatorOptions()
    _clock.offset = timedelta(0)
    caplog.set_level(logging.DEBUG)
    session = Session(base_url, handle, _clock, _tokens, [])
    yield session
    for client in session.clients:
        client.close()
    # caplog.text at teardown holds only teardown records: read the call phase's records explicitly.
    logged = [_formatted(r) for phase in ("setup", "call") for r in caplog.get_records(phase)]
    texts = logged + [f"{e!s} {e!r}" for e in session.errors] + [repr(c) for c in session.clients]
    leaked = [s for s in (CLIENT_SECRET, *_tokens) for text in texts if s in text]
    assert not leaked, "a secret or token leaked into a log line, repr or exception"


# --- builders --------------------------------------------------------------------------------------------


def line(gl: str = "4000", net: str = "100.00", tax_code: str = "V01", rate: str = "0.23") -> BatchLine:
    return BatchLine(gl, tax_code, f"Service on {gl}", Decimal(net), Decimal(rate), None)


def invoice(
    reference: str, *, customer: str = "EXISTING-001", day: date = date(2026, 6, 15), lines: tuple[BatchLine, ...] = ()
) -> BatchSalesInvoice:
    return BatchSalesInvoice(
        customer_code=customer,
        invoice_date=day,
        external_reference=reference,
        description=f"Bunny invoice {reference}",
        lines=lines or (line(),),
        due_date=day + timedelta(days=30),
    )


# --- reference data --------------------------------------------------------------------------------------


def test_reference_reads_share_one_token(aiq: Session) -> None:
    client = aiq.client()
    entities = client.get_entities_by_token()
    company = client.get_company_information()
    chart = {gl.code: gl for gl in client.get_chart_of_accounts()}
    taxes = {t.code: t for t in client.get_tax_codes()}
    periods = client.get_periods()
    year_2026 = client.get_period_list(point_in_time=date(2026, 7, 15))

    # DEMO02 exists but is not granted to the demo client.
    assert entities == [Entity("DEMO01", "Demo Trading Ltd", "EUR")]
    assert (company.company_name, company.base_currency_code) == ("Demo Trading Ltd", "EUR")
    assert set(chart) == {"4000", "4010", "4020", "4030", "4099", "4900", "1100", "1200", "2200", "8000"}
    assert chart["4000"].is_posting and chart["4000"].is_active and not chart["4000"].is_departmental
    assert chart["4030"].is_departmental
    assert not chart["4099"].is_active
    assert chart["4900"].account_type == "Control" and not chart["4900"].is_posting
    assert {code: t.rate for code, t in taxes.items()} == {
        "V01": Decimal("23"),
        "V02": Decimal("13.5"),
        "V00": Decimal("0"),
        "EX": Decimal("0"),
    }
    assert all(isinstance(t.rate, Decimal) for t in taxes.values())
    assert [code for code, t in taxes.items() if t.is_default] == ["V01"]
    assert len(periods) == 36 and {p.financial_year for p in periods} == {2025, 2026, 2027}
    by_month = {(p.financial_year, p.period_number): p for p in periods}
    assert by_month[(2026, 5)].sales_ledger_closed and not by_month[(2026, 6)].sales_ledger_closed
    assert by_month[(2026, 6)].start_date == date(2026, 6, 1) and by_month[(2026, 6)].end_date == date(2026, 6, 30)
    assert [p.period_number for p in year_2026] == list(range(1, 13)) and {p.financial_year for p in year_2026} == {
        2026
    }
    # Six reads, one TokenGet: the token is cached across calls.
    assert client.request_count == 7
    assert aiq.calls("TokenGet") == 1 and aiq.calls("TokenRefresh") == 0


def test_currency_exchange_rate_is_a_decimal_and_retries_like_a_read(aiq: Session) -> None:
    client = aiq.client()
    aiq.handle.faults.add({"kind": "http_500", "operations": ["GetCurrencyExchangeRate"], "count": 1})
    rate = client.get_currency_exchange_rate("gbp")  # sent upper case, as AIQ requires
    assert rate == Decimal("1.17") and isinstance(rate, Decimal)
    assert aiq.calls("GetCurrencyExchangeRate") == 2  # the 500 was retried
    assert client.get_currency_exchange_rate("EUR") == Decimal(1)
    with aiq.raises(AiqValidationError) as info:
        client.get_currency_exchange_rate("JPY")
    assert info.value.code == "CURRENCY_CODE_DOES_NOT_EXIST"


# --- customers -------------------------------------------------------------------------------------------


def test_get_customer_present_and_absent(aiq: Session) -> None:
    client = aiq.client()
    found = client.get_customer("EXISTING-001")
    assert found is not None
    assert (found.code, found.name, found.currency_code, found.email) == (
        "EXISTING-001",
        "Existing Customer One",
        "EUR",
        "accounts@existing-one.example",
    )
    assert found.account_id > 0 and found.row_version_number
    assert client.get_customer("NO-SUCH-CUSTOMER") is None
    # Absent is an answer, not a failure: one call, no retry.
    assert aiq.calls("GetCustomer") == 2


def test_customer_from_defaults_round_trip_keeps_special_characters(aiq: Session) -> None:
    client = aiq.client()
    template = client.get_new_customer_from_defaults()
    assert (template.currency_code, template.default_tax_code, template.account_id) == ("EUR", "V01", 0)

    new = dataclasses.replace(
        template, code="BUNNY-CUST-42", name="Smith & <Sons>", email="billing@smith.example", city="Cork & Kerry"
    )
    assert client.update_customer(new, create=True) is True
    stored = client.get_customer("BUNNY-CUST-42")
    assert stored is not None
    assert (stored.name, stored.city, stored.email) == ("Smith & <Sons>", "Cork & Kerry", "billing@smith.example")
    assert (stored.currency_code, stored.default_tax_code) == ("EUR", "V01")
    assert stored.account_id > 0

    # An update must echo the current RowVersionNumber: fresh works, stale is AIQ's OUTDATED_RECORD.
    assert client.update_customer(dataclasses.replace(stored, phone="+353 1 234"), create=False) is True
    again = client.get_customer("BUNNY-CUST-42")
    assert again is not None and again.phone == "+353 1 234" and again.name == "Smith & <Sons>"
    with aiq.raises(AiqValidationError) as stale:
        client.update_customer(dataclasses.replace(stored, phone="+353 9 999"), create=False)
    assert stale.value.code == "OUTDATED_RECORD"
    # create=False on a code AIQ does not have: NotCreated -> not found.
    with aiq.raises(AiqNotFoundError):
        client.update_customer(dataclasses.replace(template, code="NEVER-MADE", name="Nobody"), create=False)
    assert client.get_customer("NEVER-MADE") is None


# --- batch documents -------------------------------------------------------------------------------------


def test_invoice_create_lookup_and_get_transaction(aiq: Session) -> None:
    client = aiq.client()
    doc = invoice("bunny-inv-1001", lines=(line("4000", "100.00"), line("4010", "50.00", "V02", "0.135")))
    created = client.create_batch_sales_invoice_get_back_transaction_id(doc)
    assert created.transaction_id > 0 and created.reference == "SI000001"

    [summary] = client.get_transactions_by_external_reference("bunny-inv-1001", types=SALES)
    assert summary.transaction_id == created.transaction_id
    assert (summary.account_code, summary.transaction_type, summary.currency_code) == ("EXISTING-001", "SI", "EUR")
    assert summary.control_amount == Decimal("179.75")  # 150.00 net + 23.00 + 6.75 tax
    assert summary.transaction_date == date(2026, 6, 15) and summary.internal_number == "SI000001"

    posted = client.get_transaction(created.transaction_id)
    assert (posted.net_amount, posted.tax_amount, posted.gross_amount) == (
        Decimal("150.00"),
        Decimal("29.75"),
        Decimal("179.75"),
    )
    assert posted.external_reference == "bunny-inv-1001" and posted.transaction_date == date(2026, 6, 15)
    net_lines = sorted(d.gl_account_code or "" for d in posted.lines if not d.is_control_line and not d.is_tax_line)
    assert net_lines == ["4000", "4010"]
    assert all(isinstance(d.amount, Decimal) for d in posted.lines)
    assert client.get_transactions_by_external_reference("bunny-inv-unknown", types=SALES) == []


def test_bulk_create_reports_each_item_in_input_order(aiq: Session) -> None:
    client = aiq.client()
    docs = [
        invoice("bulk-1"),
        invoice("bulk-2", lines=(line("4555"),)),  # unknown GL: only this item fails
        invoice("bulk-3", lines=(line("4020", "10.00"),)),
    ]
    outcomes = client.create_batch_sales_invoice_bulk_get_back_transaction_ids(docs)
    assert [(o.index, o.external_reference, o.ok) for o in outcomes] == [
        (0, "bulk-1", True),
        (1, "bulk-2", False),
        (2, "bulk-3", True),
    ]
    first, third = outcomes[0].created, outcomes[2].created
    assert isinstance(first, CreatedTransaction) and isinstance(third, CreatedTransaction)
    second = outcomes[1].error
    assert isinstance(second, AiqValidationError) and second.code == "GLACCOUNT_CODE_DOES_NOT_EXIST"
    aiq.errors.append(second)
    assert first.transaction_id != third.transaction_id
    # Input order: each id belongs to the invoice in its position.
    assert [s.transaction_id for s in client.get_transactions_by_external_reference("bulk-1", types=SALES)] == [
        first.transaction_id
    ]
    assert [s.transaction_id for s in client.get_transactions_by_external_reference("bulk-3", types=SALES)] == [
        third.transaction_id
    ]
    assert client.get_transactions_by_external_reference("bulk-2", types=SALES) == []
    assert client.get_transaction(third.transaction_id).gross_amount == Decimal("12.30")
    assert aiq.calls("CreateBatchSalesInvoiceBulkGetBackTransactionIDs") == 1


def test_credit_note_create(aiq: Session) -> None:
    client = aiq.client()
    note = BatchSalesCreditNote(
        customer_code="EXISTING-001",
        credit_note_date=date(2026, 6, 20),
        external_reference="bunny-cn-7",
        description="Credit for bunny-inv-1001",
        lines=(line("4000", "40.00"),),
    )
    created = client.create_batch_sales_credit_note_get_back_transaction_id(note)
    assert created.transaction_id > 0 and created.reference == "SN000001"
    [summary] = client.get_transactions_by_external_reference("bunny-cn-7", types=SALES)
    assert summary.transaction_type == "SN" and summary.control_amount == Decimal("-49.20")
    posted = client.get_transaction(created.transaction_id)
    assert (posted.net_amount, posted.tax_amount, posted.gross_amount) == (
        Decimal("40.00"),
        Decimal("9.20"),
        Decimal("49.20"),
    )


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (invoice("bad-gl", lines=(line("4555"),)), "GLACCOUNT_CODE_DOES_NOT_EXIST"),
        (invoice("bad-period", day=date(2026, 5, 31)), "DATE_IS_OUT_OF_RANGE"),
        (invoice("bad-customer", customer="existing-001"), "ACCOUNT_CODE_MUST_BE_UPPER_CASE"),
        (invoice("not-posting", lines=(line("4900"),)), "GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST"),
    ],
    ids=["unknown-gl", "closed-period", "lower-case-customer", "control-account"],
)
def test_validation_errors_carry_aiq_code(aiq: Session, doc: BatchSalesInvoice, code: str) -> None:
    client = aiq.client()
    client.get_entities_by_token()  # token in hand, so the count below is the write alone
    before = client.request_count
    with aiq.raises(AiqValidationError) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(doc)
    assert raised.value.code == code and raised.value.operation == CREATE
    assert not isinstance(raised.value, AiqNotFoundError)
    assert client.request_count - before == 1  # a data error is not retried
    assert client.get_transactions_by_external_reference(doc.external_reference, types=SALES) == []


def test_not_found_semantics(aiq: Session) -> None:
    client = aiq.client()
    assert client.get_customer("NOBODY") is None
    assert client.get_transactions_by_external_reference("never-posted", types=SALES) == []
    with aiq.raises(AiqNotFoundError) as raised:
        client.get_transaction(987654)
    assert raised.value.code == "TRANSACTION_NOT_FOUND"
    assert aiq.calls("GetTransaction") == 1  # not found is an answer: no retry


# --- tokens ----------------------------------------------------------------------------------------------


def test_expired_tokens_are_refreshed_transparently(aiq: Session) -> None:
    client = aiq.client()
    assert client.get_tax_codes()
    assert client.request_count == 2  # TokenGet + the read
    assert aiq.handle.expire_tokens() >= 1
    assert {gl.code for gl in client.get_chart_of_accounts()} >= {"4000"}
    assert client.request_count == 5  # rejected read, TokenRefresh, the read again
    assert (aiq.calls("TokenGet"), aiq.calls("TokenRefresh")) == (1, 1)
    # The rotated token is good for further reads without another renewal.
    client.get_company_information()
    client.get_periods()
    assert client.request_count == 7 and aiq.calls("TokenRefresh") == 1


def test_short_token_lifetime_renews_on_demand(aiq: Session) -> None:
    aiq.handle.state.options.token_ttl_seconds = 5
    client = aiq.client()
    reads: list[Callable[[], object]] = [
        client.get_tax_codes,
        client.get_company_information,
        client.get_chart_of_accounts,
        client.get_periods,
    ]
    for read in reads:
        assert read()
        aiq.clock.advance(6)  # past the lifetime of the token just used
    assert client.get_customer("EXISTING-001") is not None
    # One TokenGet, then each later read met an expired token and renewed it once.
    assert aiq.calls("TokenGet") == 1 and aiq.calls("TokenRefresh") == 4
    assert client.request_count == 2 + 4 * 3


# --- faults ----------------------------------------------------------------------------------------------


def test_dropped_answer_to_a_write_is_outcome_unknown_after_one_attempt(aiq: Session) -> None:
    client = aiq.client()
    client.get_entities_by_token()
    aiq.handle.faults.add({"kind": "drop_after_commit", "operations": [CREATE]})  # every time: a resend would show
    before = client.request_count
    with aiq.raises(AiqWriteOutcomeUnknown) as raised:
        client.create_batch_sales_invoice_get_back_transaction_id(invoice("dropped-1"))
    assert "look it up by external reference" in raised.value.message
    assert client.request_count - before == 1 and aiq.calls(CREATE) == 1
    assert aiq.handle.stats.snapshot()["faults"] == {"drop_after_commit": 1}
    # The write did land: the lookup the caller must do finds exactly one document.
    [found] = client.get_transactions_by_external_reference("dropped-1", types=SALES)
    assert found.control_amount == Decimal("123.00")


def test_dropped_answer_to_a_customer_write_is_outcome_unknown(aiq: Session) -> None:
    client = aiq.client()
    template = client.get_new_customer_from_defaults()
    aiq.handle.faults.add({"kind": "drop_after_commit", "operations": ["UpdateCustomer"]})
    with aiq.raises(AiqWriteOutcomeUnknown):
        client.update_customer(dataclasses.replace(template, code="DROPPED-CUST", name="Dropped Ltd"), create=True)
    assert aiq.calls("UpdateCustomer") == 1
    stored = client.get_customer("DROPPED-CUST")
    assert stored is not None and stored.name == "Dropped Ltd"


def test_http_500_on_a_read_is_retried_and_succeeds(aiq: Session) -> None:
    client = aiq.client(max_attempts=4)
    client.get_entities_by_token()
    aiq.handle.faults.add({"kind": "http_500", "operations": ["GetChartOfAccounts"], "count": 2})
    before = client.request_count
    assert len(client.get_chart_of_accounts()) == 10
    assert client.request_count - before == 3 and aiq.calls("GetChartOfAccounts") == 3


def test_persistent_throttle_on_a_read_gives_up_after_bounded_attempts(aiq: Session) -> None:
    client = aiq.client(max_attempts=3)
    client.get_entities_by_token()
    aiq.handle.faults.add({"kind": "throttle", "operations": ["GetTaxCodeList"]})
    before = client.request_count
    with aiq.raises(AiqThrottledError) as raised:
        client.get_tax_codes()
    assert raised.value.code == "OAUTH_INTEGRATION_APPS_TOO_MANY_API_CALLS"
    assert client.request_count - before == 3 and aiq.calls("GetTaxCodeList") == 3
    # Once AIQ stops throttling, the same client carries on with its token.
    aiq.handle.faults.clear()
    assert client.get_tax_codes()
    assert aiq.calls("TokenGet") == 1


def test_throttled_write_is_resent_because_nothing_was_applied(aiq: Session) -> None:
    client = aiq.client()
    aiq.handle.faults.add({"kind": "throttle", "operations": [CREATE], "count": 1})
    created = client.create_batch_sales_invoice_get_back_transaction_id(invoice("throttled-1"))
    assert aiq.calls(CREATE) == 2
    assert [s.transaction_id for s in client.get_transactions_by_external_reference("throttled-1", types=SALES)] == [
        created.transaction_id
    ]


# --- secrets ---------------------------------------------------------------------------------------------


def test_wrong_secret_is_an_authentication_error_without_the_secret(aiq: Session) -> None:
    wrong = "wrong-secret-value-123"
    client = aiq.client(client_secret=wrong)
    with aiq.raises(AiqAuthenticationError) as raised:
        client.get_tax_codes()
    assert raised.value.operation == "TokenGet" and "AIQ_CLIENT_SECRET" in raised.value.message
    assert wrong not in str(raised.value) and wrong not in repr(client)
    assert aiq.calls("TokenGet") == 1  # bad credentials are not retried


@pytest.mark.parametrize("entity", ["DEMO02", "NOPE99"], ids=["not-granted", "does-not-exist"])
def test_entity_outside_the_grant(aiq: Session, entity: str) -> None:
    client = aiq.client(entity_id=entity)
    # The emulator answers GetEntitiesByToken from the token alone: the header's entity is not checked there.
    assert [e.entity_id for e in client.get_entities_by_token()] == ["DEMO01"]
    with aiq.raises(AiqAuthenticationError) as raised:
        client.get_tax_codes()
    assert raised.value.code == "API_LAYER_ENTITY_ID_NOT_FOUND" and "AIQ_ENTITY_ID" in raised.value.message
    # A settings problem, not a token one: no renewal, no retry.
    assert aiq.calls("GetTaxCodeList") == 1 and aiq.calls("TokenRefresh") == 0


def test_hygiene_check_sees_real_tokens_and_debug_logs(aiq: Session, caplog: pytest.LogCaptureFixture) -> None:
    # Guards the teardown check: it compares real tokens against real DEBUG output, not empty sets.
    client = aiq.client()
    client.get_tax_codes()
    aiq.handle.expire_tokens()
    client.get_tax_codes()
    assert len(_tokens) >= 4  # the TokenGet pair and the rotated pair, at least
    messages = [r.getMessage() for r in caplog.get_records("call")]
    assert any("GetTaxCodeList -> HTTP 200" in m for m in messages)
    assert any("TokenRefresh: new access token issued" in m for m in messages)
