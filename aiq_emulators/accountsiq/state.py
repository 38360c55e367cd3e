"""The emulator's data: per-entity ledgers, customers, posted transactions and OAuth tokens.

Everything lives in one pydantic `StoredState`. With a state directory it persists as a snapshot
(`accountsiq-state.json`, written atomically: temporary file + `os.replace`) plus an append-only journal
(`accountsiq-journal.jsonl`): after every write only what changed is appended (one JSON line; the rewritten
snapshot cost grew with the ledger, 4 MB per write after 3,000 invoices). A start replays the journal over the
snapshot and compacts both into a new snapshot; so does a journal grown past twice the snapshot. Without a state
directory it is memory only.

What the journal sees: the small parts (clients, tokens, each entity's settings, counters, allocations,
periods, chart, tax codes) are compared as JSON with what was last written; customers and transactions, the
parts that grow, are compared by identity plus a per-record change counter that assigning any field bumps. So a
record may be replaced or have fields assigned; mutating a record's nested list in place is not seen.

All access goes through `EmulatorState.lock` (an `RLock`): requests are handled
on a thread pool, and tests poke the state from their own thread.

Tokens and client secrets are stored as SHA-256 digests only, so the state file never holds a usable secret.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import operator
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from aiq_emulators.accountsiq.contract import service_schema
from aiq_emulators.accountsiq.fixtures import (
    EmulatorFixture,
    EntityFixture,
    GLAccountFixture,
    TaxCodeFixture,
    demo_fixture,
)

STATE_FILE_NAME = "accountsiq-state.json"
JOURNAL_FILE_NAME = "accountsiq-journal.jsonl"
_RECORD_COLLECTIONS = ("customers", "transactions")
_ENTITY_SETUP = {"periods", "gl_accounts", "tax_codes"}
_CHANGES = operator.attrgetter("changes")
NonNegative = Annotated[float, Field(ge=0)]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def utcnow() -> datetime:
    # Naive UTC: AIQ's dateTime values carry no offset.
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class EmulatorOptions:
    """Behaviour switches, most of them readings of the real service nobody could verify (README.md, "Unverified
    readings"). Set them at start (`start_emulator(options=...)`) or at run time (`POST /_emulator/options`,
    `EmulatorHandle.set_options`); `validated_options` checks a set of values either way."""

    token_ttl_seconds: NonNegative = 20 * 60  # the real 2.0 TTL is unpublished; 1.1 used 20 minutes
    refresh_token_ttl_seconds: NonNegative = 30 * 24 * 3600
    # A second create with an external reference a document of the same type already has: stored (False) or
    # refused with INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS (True).
    unique_external_references: bool = False
    closed_period_error_code: str = "DATE_IS_OUT_OF_RANGE"
    # "multiply": base amount = document amount x ExchangeRate (rate = base units per document-currency unit).
    exchange_rate_direction: Literal["multiply", "divide"] = "multiply"
    # GetTransactionsByExternalReference and GetTransactionsBy show a document only this long after its creation
    # (GetTransaction shows it at once).
    lookup_lag_seconds: NonNegative = 0
    # Write operations commit, then wait this long before answering (a client with a shorter timeout sees a
    # timeout after the commit). The `slow_commit` fault rule does the same for chosen calls.
    slow_commit_seconds: NonNegative = 0
    # How GetTransactionsByExternalReference compares references: "exact" (case-sensitive equality),
    # "ignore_case" (SQL Server's default collation), "prefix" (case-insensitive LIKE 'ref%').
    reference_match: Literal["exact", "ignore_case", "prefix"] = "exact"
    # GetTransactionsByExternalReference finding nothing: Success with an empty Result ("success"), or Failure
    # with TRANSACTION_NOT_FOUND ("transaction_not_found").
    empty_lookup_answer: Literal["success", "transaction_not_found"] = "success"
    # GetChartOfAccounts' AccountType: "word" (Posting, Control, Bank, VAT), "upper" (POSTING, ...), "letter" (P, ...).
    account_type_spelling: Literal["word", "upper", "letter"] = "word"
    # GetTaxCodeList's Rate: "percent" (23 for 23 %) or "fraction" (0.23).
    tax_rate_unit: Literal["percent", "fraction"] = "percent"
    # GetPeriodList without pointInTime: every period of every year, or only the current financial year's.
    period_list_without_date: Literal["all_years", "current_year"] = "all_years"
    # ControlAmount / OutstandingAmount / ControlBCAmount of WSTransactionSummary: "signed" (debits positive: an
    # invoice or a refund +, a credit note or a receipt -) or "magnitude" (every amount positive; the type says
    # which side it is on).
    summary_amount_sign: Literal["signed", "magnitude"] = "signed"
    # A sales debit or credit journal line to a Bank account in a foreign currency: allowed when the bank's currency
    # is the customer's ("customer_currency"), or refused whatever the currency ("refused"), with
    # JOURNAL_ENTRY_CANNOT_POST_TO_FOREIGN_BANK_ACCOUNT. A base-currency bank is always allowed.
    journal_foreign_bank: Literal["customer_currency", "refused"] = "customer_currency"
    # GetChartOfAccounts' CurrencyCode of a Bank account: the base currency like every GL account ("base"; the wiki's
    # GLAccount: "can only be the system's base currency code") or the bank's own currency ("bank"). GetBankList
    # always gives the bank's own currency.
    chart_bank_currency: Literal["base", "bank"] = "base"
    # AllocateTransactions with more than a side's outstanding amount (a fully allocated side answers
    # TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION whatever this says).
    over_allocation_error_code: str = "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT"
    # Which pairs allocate: "debit_credit" (any of SI, SD with any of SN, SR, SC) or "wiki_table" (the A-Z list's
    # rows read literally, plus invoice/receipt from the payment page: SI-SN, SI-SR and SD-SC; a refund SD then
    # allocates only to a credit journal, and a credit journal SC not to an invoice).
    allocation_pairs: Literal["debit_credit", "wiki_table"] = "debit_credit"
    # GetAllocationsByTransactionId: one WSAllocationTransactionDTO for the transaction asked about with an entry per
    # allocation ("per_transaction"), or one DTO per counterpart whose entry points back ("per_counterpart").
    allocations_listing: Literal["per_transaction", "per_counterpart"] = "per_transaction"
    # The entries' AllocationAmount: always positive, or signed by the side of the transaction the DTO describes.
    allocation_amount_sign: Literal["positive", "signed"] = "positive"


_OPTIONS = TypeAdapter(EmulatorOptions)


def validated_options(values: dict[str, Any]) -> EmulatorOptions:
    """An EmulatorOptions from JSON-like values (unknown names, wrong types and negative durations refused)."""
    unknown = set(values) - {f.name for f in fields(EmulatorOptions)}
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}")
    options = _OPTIONS.validate_python(values)
    enumeration: Any = service_schema().types["VisorExceptionCodes"]  # a simple type: xmlschema types it as either
    codes = list(enumeration.enumeration or ())
    for code in (options.closed_period_error_code, options.over_allocation_error_code):
        if code not in codes:
            raise ValueError(f"{code} is not a VisorExceptionCodes value")
    return options


class ClientRecord(BaseModel):
    client_id: str
    secret_sha256: str
    entities: list[str]


class TokenRecord(BaseModel):
    client_id: str
    expires_at: datetime


class Period(BaseModel):
    period_id: int
    number: int
    name: str
    year: int
    start: date
    end: date
    sales_closed: bool


class _Tracked(BaseModel):
    """A record whose in-place changes the journal can see: assigning any field bumps `_changes`."""

    # A plain field (never dumped), not a private attribute: the journal reads it for every record on every
    # write, and pydantic's private-attribute lookup is about 40 times slower.
    changes: int = Field(default=0, exclude=True)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name != "changes":
            super().__setattr__("changes", self.changes + 1)


class CustomerRecord(_Tracked):
    """A customer as AIQ's `Account` type: value-typed fields are declared, strings travel as extras."""

    model_config = ConfigDict(extra="allow")

    AccountID: int
    ExternalApproverID: int | None = None
    LedgerType: str = "Sales"
    Code: str
    CreationDate: datetime
    DiscountRate: Decimal = Decimal(0)
    UseAccountTaxCode: bool = False
    IsActive: bool = True
    Hold: int = 0
    HeadOfficeAccountID: int | None = None
    UseHeadOffice: bool = False
    IsHeadOffice: bool = False
    CreditLimit: Decimal = Decimal(0)
    IsFranchise: bool = False
    SalesRepresentativeID: int | None = None
    RowVersionNumber: str

    def wire(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def currency_code(self) -> str | None:
        return (self.model_extra or {}).get("CurrencyCode")

    @property
    def name(self) -> str | None:
        return (self.model_extra or {}).get("Name")


class LineRecord(BaseModel):
    line_id: int
    gl_account_code: str
    description: str | None
    department_id: str | None = None
    tax_code: str | None = None
    kind: Literal["Control", "Net", "Vat", "Bank"]
    amount: Decimal  # debit positive, credit negative, in the document currency
    bc_amount: Decimal


class AllocationRecord(BaseModel):
    allocation_number: int
    transaction_ids: tuple[int, int]
    reference: str | None
    amount: Decimal
    date: datetime
    creation_date: datetime | None = None


# Two-letter transaction types (the vendor's A-Z list): sales invoice, credit note, receipt, debit and credit journal.
TypeCode = Literal["SI", "SN", "SR", "SD", "SC"]


class TransactionRecord(_Tracked):
    transaction_id: int
    type_code: TypeCode
    internal_number: str
    account_id: int
    customer_code: str
    customer_name: str | None
    external_reference: str
    description: str | None
    transaction_date: datetime
    due_date: datetime | None
    creation_date: datetime
    currency_code: str
    exchange_rate: Decimal
    period_id: int
    year: int
    period_number: int
    period_name: str
    period_date: datetime
    control_amount: Decimal
    control_bc_amount: Decimal
    outstanding_amount: Decimal
    lines: list[LineRecord]
    bank_account_code: str | None = None  # receipts and refunds: the bank GL account the money moved through


class EntityData(BaseModel):
    entity_id: str
    name: str
    base_currency: str
    currencies: list[str]
    exchange_rates: dict[str, Decimal] = {}  # base units per 1 unit of the currency ("multiply")
    debtors_control_gl: str
    sales_vat_gl: str
    gl_accounts: dict[str, GLAccountFixture]
    tax_codes: dict[str, TaxCodeFixture]
    periods: list[Period]
    customers: dict[str, CustomerRecord] = {}
    transactions: dict[int, TransactionRecord] = {}
    allocations: list[AllocationRecord] = []
    next_id: int = 1000  # one sequence for account, transaction, line and allocation ids
    next_invoice_number: int = 1
    next_credit_note_number: int = 1
    next_receipt_number: int = 1
    next_journal_number: int = 1  # sales debit journals (SD)
    next_credit_journal_number: int = 1  # sales credit journals (SC)
    next_row_version: int = 1

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def take_row_version(self) -> str:
        self.next_row_version += 1
        return f"{self.next_row_version:016X}"

    def period_for(self, when: datetime) -> Period | None:
        day = when.date()
        return next((p for p in self.periods if p.start <= day <= p.end), None)

    def customer_has_transactions(self, code: str) -> bool:
        return any(t.customer_code == code for t in self.transactions.values())


class StoredState(BaseModel):
    version: Literal[1] = 1
    clients: dict[str, ClientRecord]
    entities: dict[str, EntityData]
    access_tokens: dict[str, TokenRecord] = {}  # keyed by sha256(token)
    refresh_tokens: dict[str, TokenRecord] = {}


def _periods(fixture: EntityFixture) -> list[Period]:
    periods: list[Period] = []
    for year in sorted(fixture.financial_years):
        for month in range(1, 13):
            end = date(year, month, calendar.monthrange(year, month)[1])
            closed = fixture.sales_ledger_closed_before is not None and end < fixture.sales_ledger_closed_before
            periods.append(
                Period(
                    period_id=year * 100 + month,
                    number=month,
                    name=f"{calendar.month_abbr[month]} {year}",
                    year=year,
                    start=date(year, month, 1),
                    end=end,
                    sales_closed=closed,
                )
            )
    return periods


def _walk(raw: dict[str, Any], path: list[str]) -> dict[str, Any]:
    for key in path:
        raw = raw.setdefault(key, {})
    return raw


def _replay(snapshot: Path, journal: Path | None) -> dict[str, Any]:
    """The snapshot as JSON data with every complete journal line applied in order."""
    raw: dict[str, Any] = json.loads(snapshot.read_bytes())
    lines = journal.read_bytes().splitlines() if journal is not None and journal.exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn by a crash mid-append: that write was never acknowledged
            raise
        for parent, values in entry["merge"]:
            _walk(raw, parent).update(values)
        for where, key, record in entry["put"]:
            _walk(raw, where)[key] = record
        for where, key in entry["drop"]:
            _walk(raw, where).pop(key, None)
    return raw


def seed(fixture: EmulatorFixture, now: datetime) -> StoredState:
    entities: dict[str, EntityData] = {}
    for ef in fixture.entities:
        entity = EntityData(
            entity_id=ef.entity_id,
            name=ef.name,
            base_currency=ef.base_currency,
            currencies=list(ef.currencies),
            exchange_rates=dict(ef.exchange_rates),
            debtors_control_gl=ef.debtors_control_gl,
            sales_vat_gl=ef.sales_vat_gl,
            gl_accounts={gl.code: gl for gl in ef.gl_accounts},
            tax_codes={tax.code: tax for tax in ef.tax_codes},
            periods=_periods(ef),
        )
        default_tax = next((t.code for t in ef.tax_codes if t.is_default), None)
        for cf in ef.customers:
            entity.customers[cf.code] = CustomerRecord(
                AccountID=entity.take_id(),
                Code=cf.code,
                Name=cf.name,
                CurrencyCode=cf.currency_code or ef.base_currency,
                Email=cf.email,
                VATRegistrationNumber=cf.vat_registration_number,
                CountryCode=cf.country_code,
                Country=cf.country,
                IsActive=cf.is_active,
                DefaultTaxCode=default_tax,
                ControlGLAccountCode=ef.debtors_control_gl,
                CreationDate=now.replace(microsecond=0),
                RowVersionNumber=entity.take_row_version(),
            )
        entities[ef.entity_id] = entity
    clients = {
        c.client_id: ClientRecord(
            client_id=c.client_id, secret_sha256=digest(c.client_secret.get_secret_value()), entities=list(c.entities)
        )
        for c in fixture.clients
    }
    return StoredState(clients=clients, entities=entities)


class EmulatorState:
    """Thread-safe, optionally persistent emulator data plus its behaviour options."""

    def __init__(
        self,
        fixture: EmulatorFixture | None = None,
        state_dir: Path | None = None,
        options: EmulatorOptions | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.fixture = fixture or demo_fixture()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.options = options or EmulatorOptions()
        self.clock = clock or utcnow
        # What the files on disk describe (see `_journal_changes`).
        self._persisted_base = 0
        self._persisted_units: dict[tuple[str, ...], bytes] = {}
        self._persisted_records: dict[tuple[str, str], tuple[list[Any], list[int], list[int]]] = {}
        self._journal_size = 0
        self._snapshot_size = 0
        path = self.state_path
        if path is not None and path.exists():
            self.data = StoredState.model_validate(_replay(path, self.journal_path))
        else:
            self.data = seed(self.fixture, self.clock())
        self.save()

    @property
    def state_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / STATE_FILE_NAME

    @property
    def journal_path(self) -> Path | None:
        return None if self.state_dir is None else self.state_dir / JOURNAL_FILE_NAME

    def now(self) -> datetime:
        return self.clock()

    def save(self) -> None:
        """Write the whole state as a new snapshot and empty the journal (a compaction)."""
        path, journal = self.state_path, self.journal_path
        if path is None or journal is None:
            return
        with self.lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            payload = self.data.model_dump_json().encode()
            tmp.write_bytes(payload)
            os.replace(tmp, path)
            # Replaying the old journal over the new snapshot would end in the same state (every entry sets
            # absolute values, in order), so a crash between these two steps loses nothing.
            journal.write_bytes(b"")
            self._snapshot_size, self._journal_size = len(payload), 0
            self._journal_changes()  # remember what the files now hold

    def _append_changes(self) -> None:
        journal = self.journal_path
        if journal is None:
            return
        known = {key[1] for key in self._persisted_units if key[0] == "entities"}
        if (
            id(self.data) != self._persisted_base
            or known != set(self.data.entities)
            or self._journal_size > 1_000_000 + 2 * self._snapshot_size
        ):
            self.save()
            return
        line = self._journal_changes()
        if line is not None:
            with journal.open("ab") as handle:
                handle.write(line)
            self._journal_size += len(line)

    def _journal_changes(self) -> bytes | None:
        """One journal line with what changed since the files were last written (None: nothing); remembers it."""
        data = self.data
        merges: list[bytes] = []  # [parent path, object whose keys replace the parent's]
        puts: list[bytes] = []  # [collection path, key, record]
        drops: list[bytes] = []  # [collection path, key]
        units: dict[tuple[str, ...], tuple[list[str], bytes]] = {
            ("root",): ([], data.model_dump_json(exclude={"entities"}).encode())
        }
        for entity_id, entity in data.entities.items():
            parent = ["entities", entity_id]
            own = entity.model_dump_json(exclude={*_RECORD_COLLECTIONS, *_ENTITY_SETUP}).encode()
            units[("entities", entity_id, "own")] = (parent, own)
            units[("entities", entity_id, "setup")] = (parent, entity.model_dump_json(include=_ENTITY_SETUP).encode())
            for collection in _RECORD_COLLECTIONS:
                records: dict[Any, _Tracked] = getattr(entity, collection)
                where = json.dumps([*parent, collection]).encode()
                changed, dropped = self._record_changes((entity_id, collection), records)
                for key in changed:
                    record = records[key].model_dump_json().encode()
                    puts.append(b"[%s,%s,%s]" % (where, json.dumps(str(key)).encode(), record))
                drops.extend(b"[%s,%s]" % (where, json.dumps(str(key)).encode()) for key in dropped)
        for key, (parent, fragment) in units.items():
            if self._persisted_units.get(key) != fragment:
                merges.append(b"[%s,%s]" % (json.dumps(parent).encode(), fragment))
        self._persisted_units = {key: fragment for key, (_, fragment) in units.items()}
        self._persisted_base = id(data)
        if not (merges or puts or drops):
            return None
        return b'{"merge":[%s],"put":[%s],"drop":[%s]}\n' % (b",".join(merges), b",".join(puts), b",".join(drops))

    def _record_changes(self, where: tuple[str, str], records: dict[Any, _Tracked]) -> tuple[list[Any], list[Any]]:
        """Keys added, replaced or changed in place since last written, and keys removed; remembers the state.

        Runs on every write over every record, so the usual case (records only appended) is settled by
        comparing whole lists, in C, instead of record by record.
        """
        keys, values = list(records), list(records.values())
        ids, marks = list(map(id, values)), list(map(_CHANGES, values))
        old_keys, old_ids, old_marks = self._persisted_records.get(where, ([], [], []))
        self._persisted_records[where] = (keys, ids, marks)
        n = len(old_keys)
        if keys[:n] == old_keys and ids[:n] == old_ids and marks[:n] == old_marks:
            return keys[n:], []
        old = {key: (i, m) for key, i, m in zip(old_keys, old_ids, old_marks, strict=True)}
        changed = [key for key, i, m in zip(keys, ids, marks, strict=True) if old.get(key) != (i, m)]
        return changed, list(old.keys() - set(keys))

    @contextmanager
    def writing(self) -> Iterator[StoredState]:
        """Hold the lock for a change and persist it (a journal line) once the block succeeds."""
        with self.lock:
            yield self.data
            self._append_changes()

    def reset(self) -> None:
        with self.writing():
            self.data = seed(self.fixture, self.clock())

    # ------------------------------------------------------------ tokens

    def issue_tokens(self, client_id: str) -> tuple[str, str]:
        access, refresh = new_token(), new_token()
        now = self.now()
        with self.writing() as data:
            data.access_tokens[digest(access)] = TokenRecord(
                client_id=client_id, expires_at=now + timedelta(seconds=self.options.token_ttl_seconds)
            )
            data.refresh_tokens[digest(refresh)] = TokenRecord(
                client_id=client_id, expires_at=now + timedelta(seconds=self.options.refresh_token_ttl_seconds)
            )
            # Drop long-dead access tokens so the table does not grow without bound.
            cutoff = now - timedelta(days=1)
            for key in [k for k, t in data.access_tokens.items() if t.expires_at < cutoff]:
                del data.access_tokens[key]
        return access, refresh

    def expire_access_tokens(self) -> int:
        """Make every issued access token expired now (refresh tokens stay valid); returns how many."""
        with self.writing() as data:
            past = self.now() - timedelta(seconds=1)
            for record in data.access_tokens.values():
                record.expires_at = min(record.expires_at, past)
            return len(data.access_tokens)
