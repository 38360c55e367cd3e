"""Documents named as people name them: by their partition key (the Bunny id) or by the number on the document.

Each argument of `retry`, `preview`, `exceptions dismiss` and `undismiss` is one of (mixed freely):

- a partition key, as before: the invoice id `8`, `CN-<credit note id>`, `VOID-<invoice id>`, `PAY-<payment id>`,
  `CREDIT-<invoice id>`;
- a number: the invoice's `INV-1007`, the credit note's `CN-0001`, `VOID-<invoice number>` (the reversal of that
  voided invoice), `CREDIT-<invoice number>` (the account credit applied to it). Payments have no number in Bunny:
  they are named by `PAY-<payment id>` only;
- `key:<key>` or `number:<number>`, to say which reading is meant.

Numbers are looked for cheapest first: those the pipeline recorded (`posting_outcomes` holds each document it tried
with the number Bunny gave it; the exceptions list shows the same numbers), then Bunny itself (the entity's
invoices and credit notes with that number) for what is not recorded. Matching ignores case.

Ambiguity is never resolved by a guess: an argument that is the key of an existing document (a partition, a document
the pipeline recorded, or one Bunny has) and the number of another, or the number of several documents, is refused
with every reading named. To tell whether a plain key is also some document's number, Bunny is asked for every
argument not recorded as a number (two light requests per command: invoices and credit notes by number).

Nothing here changes a partition key: a number is only translated into the key the document already has (its Bunny
id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from aiq_pipeline.bunny.client import BunnyClient
from aiq_pipeline.bunny.models import NumberedDocument
from aiq_pipeline.service.discovery import is_valid_partition_key
from aiq_pipeline.settings import BunnyConnection
from aiq_pipeline.store import Store
from aiq_pipeline.store.database import Session
from aiq_pipeline.sync.identity import (
    ACCOUNT_CREDIT_KEY_PREFIX,
    KIND_ACCOUNT_CREDIT,
    KIND_CREDIT_NOTE,
    KIND_INVOICE,
    KIND_PAYMENT,
    KIND_VOID,
    VOID_KEY_PREFIX,
    account_credit_key,
    credit_note_key,
    parse_key,
    void_key,
)

KEY_PREFIX = "key:"
NUMBER_PREFIX = "number:"
# The token form of a document's own number, by kind (a void and an account credit carry their invoice's number).
_NUMBER_FORMS: Mapping[str, Callable[[str], str]] = {
    KIND_INVOICE: lambda number: number,
    KIND_CREDIT_NOTE: lambda number: number,
    KIND_VOID: lambda number: f"{VOID_KEY_PREFIX}{number}",
    KIND_ACCOUNT_CREDIT: lambda number: f"{ACCOUNT_CREDIT_KEY_PREFIX}{number}",
}
_INVOICE_FORMS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("", lambda invoice_id: invoice_id),
    (VOID_KEY_PREFIX, void_key),
    (ACCOUNT_CREDIT_KEY_PREFIX, account_credit_key),
)
_IN_CHUNK = 200


@dataclass(frozen=True)
class NameProblem:
    """Why one argument names no document (`ambiguous` False) or more than one (True)."""

    argument: str
    message: str  # starts with the argument
    ambiguous: bool = False


class DocumentNamesRefused(ValueError):
    """At least one argument names no document, or more than one: nothing is done. One problem per argument."""

    def __init__(self, problems: Sequence[NameProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class BunnyNumberSource(Protocol):
    """What is read from Bunny (a `BunnyClient`)."""

    def invoices_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]: ...

    def credit_notes_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]: ...

    def get_invoices(self, invoice_ids: Iterable[str]) -> Mapping[str, Any]: ...

    def get_credit_notes(self, credit_note_ids: Iterable[str]) -> Mapping[str, Any]: ...

    def get_payments(self, payment_ids: Iterable[str]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class BunnyNumbers:
    """Bunny, for the numbers the pipeline has not recorded: one client and the entity being synced."""

    client: BunnyNumberSource
    entity_id: str


@contextmanager
def bunny_numbers(connection: BunnyConnection | None) -> Iterator[BunnyNumbers | None]:
    """Bunny for `resolve`, over one client open until the block ends (None when Bunny is not configured)."""
    if connection is None:
        yield None
        return
    with BunnyClient(**connection.client_arguments()) as client:
        yield BunnyNumbers(client, connection.entity_id)


@dataclass(frozen=True)
class Named:
    """What one argument names."""

    argument: str  # as given
    key: str  # the document's partition key (its Bunny id)
    number: str | None  # its number, in the form an argument gives it, when known
    by_number: bool  # the argument was its number
    partition: bool  # the key is one of the partitions the caller knows

    @property
    def label(self) -> str:
        """`8 (INV-1007)`: the key and, when known, the number."""
        return f"{self.key} ({self.number})" if self.number and self.number != self.key else self.key


def number_form(kind: str, number: str | None) -> str | None:
    """A document's number as an argument names it (None: its kind has none, e.g. a payment)."""
    if not number or kind not in _NUMBER_FORMS:
        return None
    return _NUMBER_FORMS[kind](number)


def describe_key(key: str) -> str:
    """`invoice 8`, `credit note 12`, `the void of invoice 4`, `payment 31`, `the account credit of invoice 9`."""
    kind, source_id = parse_key(key)
    return {
        KIND_INVOICE: f"invoice {source_id}",
        KIND_CREDIT_NOTE: f"credit note {source_id}",
        KIND_VOID: f"the void of invoice {source_id}",
        KIND_PAYMENT: f"payment {source_id}",
        KIND_ACCOUNT_CREDIT: f"the account credit of invoice {source_id}",
    }[kind]


def _key_form(text: str) -> bool:
    try:
        parse_key(text)
    except ValueError:
        return False
    return is_valid_partition_key(text)


def _strip_prefix(argument: str) -> tuple[str | None, str]:
    """(`key` | `number` | None, the rest) of an argument."""
    for prefix, reading in ((KEY_PREFIX, "key"), (NUMBER_PREFIX, "number")):
        if argument[: len(prefix)].lower() == prefix:
            return reading, argument[len(prefix) :].strip()
    return None, argument


@dataclass
class _Numbers:
    """Number forms (upper case) -> the keys of the documents that carry them; key -> its number's form."""

    keys: dict[str, set[str]]
    of_key: dict[str, str]
    recorded_keys: set[str]

    def add(self, key: str, kind: str, number: str | None) -> None:
        form = number_form(kind, number)
        if form is None:
            return
        self.keys.setdefault(form.upper(), set()).add(key)
        self.of_key.setdefault(key, form)


def _recorded(session: Session, forms: set[str], keys: set[str], aiq_entity_id: str | None, into: _Numbers) -> None:
    """What `posting_outcomes` knows of these number forms and keys."""
    numbers = sorted({f.upper() for f in forms} | {n.upper() for f in forms if (n := _invoice_number(f))})
    wanted, asked = sorted(keys), []
    entity = " AND entity_id = ?" if aiq_entity_id else ""
    for start in range(0, max(len(numbers), len(wanted)), _IN_CHUNK):
        by_number, by_key = numbers[start : start + _IN_CHUNK], wanted[start : start + _IN_CHUNK]
        clauses, params = [], []
        if by_number:
            clauses.append(f"UPPER(number) IN ({', '.join('?' * len(by_number))})")
            params += by_number
        if by_key:
            clauses.append(f"claim_key IN ({', '.join('?' * len(by_key))})")
            params += by_key
        asked += session.query(
            f"SELECT claim_key, kind, number FROM posting_outcomes WHERE ({' OR '.join(clauses)}){entity}",
            [*params, *([aiq_entity_id] if aiq_entity_id else [])],
        )
    for row in asked:
        key = str(row["claim_key"])
        into.add(key, str(row["kind"]), row["number"])
        if key in keys:
            into.recorded_keys.add(key)


def _invoice_number(form: str) -> str | None:
    """The invoice number in `VOID-<number>` / `CREDIT-<number>` (None for any other form)."""
    for prefix, _ in _INVOICE_FORMS[1:]:
        if form[: len(prefix)].upper() == prefix and len(form) > len(prefix):
            return form[len(prefix) :]
    return None


def _from_bunny(bunny: BunnyNumbers, forms: set[str], into: _Numbers) -> None:
    """The entity's invoices and credit notes whose numbers these forms name."""
    invoice_numbers = set(forms) | {n for f in forms if (n := _invoice_number(f))}
    for invoice in bunny.client.invoices_numbered(bunny.entity_id, invoice_numbers):
        for prefix, key_of in _INVOICE_FORMS:
            if f"{prefix}{invoice.number}".upper() in {f.upper() for f in forms}:
                into.add(key_of(invoice.id), KIND_INVOICE, f"{prefix}{invoice.number}")
    for note in bunny.client.credit_notes_numbered(bunny.entity_id, forms):
        into.add(credit_note_key(note.id), KIND_CREDIT_NOTE, note.number)


def _in_bunny(bunny: BunnyNumbers | None, keys: Collection[str]) -> set[str]:
    """Those of `keys` whose document Bunny has in the entity (for a void or an account credit: its invoice)."""
    if bunny is None or not keys:
        return set()
    readers = {
        KIND_INVOICE: bunny.client.get_invoices,
        KIND_CREDIT_NOTE: bunny.client.get_credit_notes,
        KIND_PAYMENT: bunny.client.get_payments,
    }
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # kind read -> id -> keys
    for key in keys:
        kind, source_id = parse_key(key)
        wanted[KIND_INVOICE if kind in (KIND_VOID, KIND_ACCOUNT_CREDIT) else kind][source_id].add(key)
    found: set[str] = set()
    for kind, by_id in wanted.items():
        for source_id, document in readers[kind](list(by_id)).items():
            if getattr(document, "entity_id", None) in (bunny.entity_id, None):
                found |= by_id.get(source_id, set())
    return found


def resolve(
    arguments: Sequence[str],
    *,
    partitions: Collection[str],
    store: Store | None = None,
    aiq_entity_id: str | None = None,
    bunny: BunnyNumbers | None = None,
) -> list[Named]:
    """What each argument names, in the order given (repeats once). Raises `DocumentNamesRefused`, naming every
    argument at fault, when one names nothing or more than one document; nothing is then to be done for any.

    `partitions`: the partition keys the caller knows (the instance's). `store`: the recorded numbers (None: not
    read). `bunny`: for numbers not recorded, and whether a key names a document Bunny has (None: recorded only)."""
    given = list(dict.fromkeys(a.strip() for a in arguments if a.strip()))
    parsed = {a: _strip_prefix(a) for a in given}
    forms = {text for reading, text in parsed.values() if reading != "key" and text}
    keys = {text for reading, text in parsed.values() if reading != "number" and _key_form(text)}
    numbers = _Numbers(keys={}, of_key={}, recorded_keys=set())
    # Recorded numbers are the AIQ entity's own (a shared store holds other pairs'); Bunny is asked about every number
    # too, so a recorded invoice never hides a credit note of the same number that nothing has recorded yet.
    if store is not None and aiq_entity_id and (forms or keys):
        with store.session() as session:
            _recorded(session, forms, keys, aiq_entity_id, numbers)
    if bunny is not None and forms:
        _from_bunny(bunny, forms, numbers)
    known = set(partitions) | numbers.recorded_keys
    # Whether a key names an existing document matters only where the argument is some document's number too.
    doubtful = {
        text
        for reading, text in parsed.values()
        if reading is None and text in keys and text not in known and numbers.keys.get(text.upper(), set()) - {text}
    }
    known |= _in_bunny(bunny, doubtful)

    named: list[Named] = []
    problems: list[NameProblem] = []
    for argument in given:
        reading, text = parsed[argument]
        readings = sorted(numbers.keys.get(text.upper(), set()) - ({text} if reading is None else set()))
        as_key = text in keys
        if reading == "key":
            if as_key:
                named.append(Named(argument, text, numbers.of_key.get(text), False, text in partitions))
            else:
                problems.append(NameProblem(argument, f"{argument}: not a document key (give {_KEY_FORMS})"))
        elif not readings and reading == "number":
            problems.append(
                NameProblem(argument, f"{argument}: no invoice or credit note is numbered {text}{_NO_NUMBER}")
            )
        elif not readings and as_key:
            named.append(Named(argument, text, numbers.of_key.get(text), False, text in partitions))
        elif not readings:
            message = f"{argument}: not a document key, and no invoice or credit note is numbered {text}{_NO_NUMBER}"
            problems.append(NameProblem(argument, message))
        elif reading is None and as_key and text in known:
            others = ", ".join(f"{describe_key(k)} (key {k})" for k in readings)
            message = (
                f"{argument} is ambiguous: the key of {describe_key(text)}, and the number of {others}. Say which: "
                f"{KEY_PREFIX}{text} for the first, {NUMBER_PREFIX}{text} (or its key) for the other"
            )
            problems.append(NameProblem(argument, message, ambiguous=True))
        elif len(readings) > 1:
            every = ", ".join(f"{describe_key(k)} (key {k})" for k in readings)
            message = f"{argument} is the number of several documents: {every}. Name the one meant by its key"
            problems.append(NameProblem(argument, message, ambiguous=True))
        else:
            key = readings[0]
            named.append(Named(argument, key, numbers.of_key.get(key, text), True, key in partitions))
    if problems:
        raise DocumentNamesRefused(problems)
    return named


_KEY_FORMS = "an invoice id, CN-<credit note id>, VOID-<invoice id>, PAY-<payment id> or CREDIT-<invoice id>"
_NO_NUMBER = " (payments have no number: name them PAY-<payment id>)"


def labels(named: Iterable[Named]) -> dict[str, str]:
    """key -> `8 (INV-1007)`, for a command's output."""
    return {n.key: n.label for n in named}
