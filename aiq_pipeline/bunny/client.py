"""`BunnyClient`: the product's typed window on a Bunny tenant's GraphQL API.

Reads invoices, credit notes, payments and their applications, financial accounts, price-list charges and
currencies (one by one, in bulk by id, or changed since a moment); writes financial accounts. Clients never
import Dagster: the Dagster layer reads the BUNNY_* settings and passes them in.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx

from aiq_pipeline.bunny import decoding, documents, filters
from aiq_pipeline.bunny.auth import TokenCache, TokenProvider
from aiq_pipeline.bunny.documents import Document
from aiq_pipeline.bunny.errors import (
    BunnyFilterRejectedError,
    BunnyMutationError,
    BunnyPermissionError,
    BunnyQueryError,
)
from aiq_pipeline.bunny.graphql_http import GraphQLTransport
from aiq_pipeline.bunny.models import (
    CreditNote,
    Currency,
    Entity,
    FinancialAccount,
    FinancialAccountAttributes,
    Invoice,
    InvoiceRef,
    NumberedDocument,
    Payment,
    PaymentApplication,
    PriceListCharge,
    ReferenceLists,
)
from aiq_pipeline.bunny.retry_policy import RetryPolicy

log = logging.getLogger(__name__)

# graphql-ruby's limits ("Query has complexity of 312, which exceeds max complexity of 300"; likewise depth): what
# refuses a combined read for good. Another error on it (a passing "Internal error") is not remembered.
_QUERY_LIMIT = re.compile(r"\b(complexity|depth)\b|exceeds max", re.IGNORECASE)
T = TypeVar("T")

# What the product needs, and nothing more:
#   standard:read  - currencies, entity, payments, payment applications, and the account/entity objects nested
#                    in invoices (without it Bunny is reported to return empty invoice lists silently);
#   billing:read   - invoices, credit notes, financial accounts;
#   product:read   - price-list charges and the financial account each one posts to;
#   billing:write  - financialAccountCreate/Update ("Sync financial accounts").
DEFAULT_SCOPES = "standard:read billing:read product:read billing:write"

MAX_PAGE_SIZE = 100  # Bunny's advised ceiling for `first`
# Tenant-local vs UTC reading of the `updatedAt` filter is unverified (api-notes open question 3), so the
# server-side bound is widened by the largest UTC offset; the exact bound is applied client-side.
DEFAULT_FILTER_TIME_MARGIN = timedelta(hours=14)
# `sort:` in the one form sources show, `<snake_case column> asc|desc` (api-notes §3.3); a server that does not
# understand it lists in its own order, which `_NewestFirst` notices.
NEWEST_FIRST = "updated_at desc"
OLDEST_FIRST = "updated_at asc"  # asked once, to tell whether the server sorts at all (`_order_shown`)


class BunnyClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        scopes: str = DEFAULT_SCOPES,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        page_size: int = MAX_PAGE_SIZE,
        filter_time_margin: timedelta = DEFAULT_FILTER_TIME_MARGIN,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_cache: TokenCache | None = None,
        unsorted_lists: set[tuple[str, str]] | None = None,
        sorted_lists: set[tuple[str, str]] | None = None,
        combined_refused: set[str] | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required (BUNNY_BASE_URL)")
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required (BUNNY_CLIENT_ID, BUNNY_CLIENT_SECRET)")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.scopes = scopes
        self.page_size = page_size
        self.filter_time_margin = filter_time_margin
        self.request_count = 0  # every HTTP request sent: token and GraphQL
        self.__secret = client_secret
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            event_hooks={"request": [self._count_request]},
            headers={"User-Agent": "aiq-pipeline"},
        )
        self._tokens = TokenProvider(
            self._http,
            token_url=f"{self.base_url}/oauth/token",
            client_id=client_id,
            client_secret=client_secret,
            scopes=scopes,
            clock=clock,
            redact=self._redact,
            shared=token_cache,
        )
        self._graphql = GraphQLTransport(
            self._http,
            graphql_url=f"{self.base_url}/graphql",
            tokens=self._tokens,
            retry=RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base, sleep=sleep),
            redact=self._redact,
        )
        self._currencies: tuple[Currency, ...] | None = None  # as last read, with their codes by id below
        self._currency_codes: dict[str, str] | None = None
        # Index into each operation's filter fallbacks that the server accepted (see `_iter_filtered`).
        self._filter_level: dict[str, int] = {}
        self._sort_refused: set[str] = set()  # operations whose `sort:` the server answered with an error
        # (Bunny URL, operation) of the lists an answer showed are not sorted newest first; pass one set to share
        # what a process learns between its clients.
        self._unsorted = unsorted_lists if unsorted_lists is not None else set()
        # ... and those a probe showed are (see `_order_shown`), shared likewise.
        self._sorted = sorted_lists if sorted_lists is not None else set()
        # Bunny URLs that refused an operation reading several lists at once (see `reference_lists`); shared like
        # `unsorted_lists`.
        self._combined_refused = combined_refused if combined_refused is not None else set()
        self.combined_read_error: str | None = None  # the last `reference_lists` call's error that named no limit

    # -- lifecycle -----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"BunnyClient(base_url={self.base_url!r}, client_id={self.client_id!r}, scopes={self.scopes!r})"

    def __enter__(self) -> BunnyClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def token_request_count(self) -> int:
        return self._tokens.fetch_count

    def _count_request(self, request: httpx.Request) -> None:
        self.request_count += 1

    def _redact(self, text: str) -> str:
        tokens = self._tokens.recent if hasattr(self, "_tokens") else ()
        for secret in (self.__secret, *tokens):
            text = text.replace(secret, "***")
        return text

    # -- plumbing ------------------------------------------------------------------------------------
    def _query(self, document: Document, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._graphql.execute(document, variables or {})

    def _iter_nodes(self, document: Document, variables: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every node of a Relay connection, page by page (`first`/`after`)."""
        for page in self._iter_pages(document, variables):
            yield from page

    def _iter_pages(
        self, document: Document, variables: Mapping[str, Any], after: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The nodes of a Relay connection, one list per page (`first`/`after`), from the start or from `after` (the
        `endCursor` of a page read otherwise, see `reference_lists`)."""
        seen_cursors: set[str] = {after} if after else set()
        while True:
            data = self._query(document, {**variables, "first": self.page_size, "after": after})
            nodes, after = _page(data.get(document.root), document.root, document.operation, seen_cursors)
            yield nodes
            if after is None:
                return

    def _iter_filtered(self, document: Document, candidates: Sequence[str | None]) -> Iterator[dict[str, Any]]:
        """Nodes under the first filter of `candidates` the server accepts, most selective first.

        The real grammar's coverage is unverified (api-notes §3.2), so on `Malformed filter` the next, simpler
        candidate is tried; the last is normally None (no filter). Callers filter client-side as well, so a
        fallback changes the cost, never the result. The accepted level is remembered per operation.
        """
        for page in self._iter_filtered_pages(document, candidates):
            yield from page

    def _iter_filtered_pages(
        self, document: Document, candidates: Sequence[str | None], variables: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """`_iter_filtered`, one list of nodes per page; `variables` are sent with every filter."""
        start = min(self._filter_level.get(document.operation, 0), len(candidates) - 1)
        for level in range(start, len(candidates)):
            pages = self._iter_pages(document, {**(variables or {}), "filter": candidates[level]})
            try:
                first = next(pages)
            except BunnyFilterRejectedError:
                if level == len(candidates) - 1:
                    raise
                log.warning("Bunny rejected the %s filter; falling back to a simpler one", document.operation)
                continue
            self._filter_level[document.operation] = level
            yield first
            yield from pages
            return

    def _iter_newest_first(
        self,
        document: Document,
        candidates: Sequence[str | None],
        since: datetime | None,
        newest_known: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """`_iter_filtered`; since a moment, asked newest first and paged only until the rest is older than it.

        The server's bound is widened by `filter_time_margin`, so without the sort every page back to it would be
        read. Whether Bunny honours `sort` on `updatedAt` is UNVERIFIED (api-notes §3.3): the stop is taken only
        when what came back is in the order (see `_NewestFirst`) and Bunny was shown to sort this list at all
        (`_order_shown`, once per process); otherwise every page is read, as without it. A server that answers the
        sort with an error is asked again without it, from then on.
        """
        unsorted = (self.base_url, document.operation)
        if since is None or document.operation in self._sort_refused or unsorted in self._unsorted:
            yield from self._iter_filtered(document, candidates)
            return
        order = _NewestFirst(since, newest_known)
        pages = self._iter_filtered_pages(document, candidates, {"sort": NEWEST_FIRST})
        try:
            first = next(pages, [])
        except BunnyQueryError as exc:  # if the sort was not the cause, the read without it fails the same way
            log.warning("Bunny refused sort %r on %s (%s); reading without it", NEWEST_FIRST, document.operation, exc)
            self._sort_refused.add(document.operation)
            yield from self._iter_filtered(document, candidates)
            return
        probed = False
        for page in itertools.chain([first], pages):
            yield from page
            if order.past_since(page) and unsorted not in self._unsorted:
                if unsorted in self._sorted:
                    return
                if not probed:  # once a read: one that showed nothing is asked again by the next read
                    probed = True
                    if self._order_shown(document):
                        return
        if order.stepped_up:
            # Proof that this Bunny lists in an order of its own: from now on every page is read, so a page that
            # merely looks sorted is never taken for the order (see `_NewestFirst`).
            self._unsorted.add(unsorted)
            log.info("Bunny did not sort %s newest first: every page is read from now on", document.operation)

    def _order_shown(self, document: Document) -> bool:
        """Whether Bunny sorts `document` at all: one row of the whole list asked oldest first, one newest first.

        A page in order proves nothing by itself: a server ignoring the sort may list a burst stamped in one second,
        then an older document, and a stop there never reads the newer ones it lists after them. Ignoring `sort`, it
        answers both with the head of its own listing: one row, nothing shown (the next read asks again). Sorting,
        it answers two, the older asked oldest first. Unfiltered, so a window of one stamp (a burst) cannot hide the
        order, and no change of state takes the head out of the list between the two asks. Remembered for the
        process once shown.
        """
        rows: list[dict[str, Any]] = []
        try:
            for sort in (OLDEST_FIRST, NEWEST_FIRST):
                data = self._query(document, {"filter": None, "sort": sort, "first": 1, "after": None})
                rows += _page(data.get(document.root), document.root, document.operation, set())[0][:1]
        except BunnyQueryError as exc:  # costs every page for the process, never a document
            log.warning("Bunny did not show it sorts %s (%s): every page is read from now on", document.operation, exc)
            self._unsorted.add((self.base_url, document.operation))
            return False
        if len(rows) < 2 or rows[0].get("id") == rows[1].get("id"):
            return False
        if not decoding.timestamp(rows[0].get("updatedAt")) < decoding.timestamp(rows[1].get("updatedAt")):
            return False
        self._sorted.add((self.base_url, document.operation))
        return True

    # -- currencies ----------------------------------------------------------------------------------
    def iter_currencies(self) -> Iterator[Currency]:
        for node in self._iter_nodes(documents.CURRENCIES, {}):
            yield decoding.currency(node)

    def currency_code(self, currency_id: str) -> str:
        """ISO 4217 code of a Bunny currency id (`currencies` is read once per client, again on a miss)."""
        if self._currency_codes is None or currency_id not in self._currency_codes:
            self._remember_currencies(tuple(self.iter_currencies()))
        code = (self._currency_codes or {}).get(currency_id)
        if code is not None:
            return code
        if len(currency_id) == 3 and currency_id.isalpha() and currency_id.isupper():
            return currency_id  # a tenant whose currency ids are ISO codes already
        raise BunnyQueryError(f"unknown currency id {currency_id!r} (not in `currencies`)", operation="Currencies")

    def _remember_currencies(self, currencies: tuple[Currency, ...]) -> None:
        self._currencies = currencies
        self._currency_codes = {c.id: c.iso_code for c in currencies}

    # -- reference lists -----------------------------------------------------------------------------
    # Whether Bunny runs an operation selecting several root fields is UNVERIFIED: graphql-ruby may be configured
    # with a `max_complexity` or `max_depth` it exceeds, answered HTTP 200 with an error ("Query has complexity of
    # 312, which exceeds max complexity of 300") before anything runs. The Bunny emulator makes it an option
    # (`combined_reads`); on such an answer the lists are read one by one, from then on for this Bunny URL.
    @property
    def combined_reads_refused(self) -> bool:
        """Whether this Bunny refused reading several lists in one request (so far, in this process)."""
        return self.base_url in self._combined_refused

    def reference_lists(self, entity_id: str) -> ReferenceLists:
        """Every currency, the entity's financial accounts and every price-list charge: one request while each list
        fits in a page (a longer list goes on with its own query from its `endCursor`). Fills the currency cache, so
        decoding documents afterwards asks no `currencies`."""
        self.combined_read_error = None
        if self.combined_reads_refused:
            return self._reference_lists_one_by_one(entity_id)
        candidates = _account_filters(entity_id)
        level = self._filter_level.get(documents.FINANCIAL_ACCOUNTS.operation, 0)
        account_filter = candidates[min(level, len(candidates) - 1)]
        try:
            data = self._query(documents.REFERENCE_LISTS, {"first": self.page_size, "accountFilter": account_filter})
        except BunnyPermissionError:
            raise  # a missing scope is the settings' problem: reading one by one would only meet it again
        except BunnyFilterRejectedError:
            # `iter_financial_accounts` falls back to a simpler filter, where the next combined read then starts.
            return self._reference_lists_one_by_one(entity_id)
        except BunnyQueryError as exc:
            return self._combined_read_refused(entity_id, exc)
        return self._reference_lists_from(data, entity_id, account_filter)

    def _combined_read_refused(self, entity_id: str, refusal: BunnyQueryError) -> ReferenceLists:
        """The lists one by one after an error on the combined read (outages and refused tokens are raised before
        this: they are not `BunnyQueryError`s). It is remembered as a refusal of the combination only when it names
        a limit on the query and the separate reads succeed; else their error is raised, as it was before."""
        lists = self._reference_lists_one_by_one(entity_id)
        if not _QUERY_LIMIT.search(str(refusal)):
            self.combined_read_error = str(refusal)
            log.warning("Bunny answered reading several lists in one request with %s: read one by one", refusal)
            return lists
        self._combined_refused.add(self.base_url)
        log.warning("Bunny refused reading several lists in one request (%s): reading them one by one", refusal)
        return lists

    def _reference_lists_one_by_one(self, entity_id: str) -> ReferenceLists:
        # Currencies this client already read (for decoding) are not asked again, as in `currency_code`.
        if self._currencies is None:
            self._remember_currencies(tuple(self.iter_currencies()))
        currencies = self._currencies or ()
        accounts = tuple(self.iter_financial_accounts(entity_id))
        return ReferenceLists(currencies, accounts, tuple(self.iter_price_list_charges()))

    def _reference_lists_from(
        self, data: Mapping[str, Any], entity_id: str, account_filter: str | None
    ) -> ReferenceLists:
        """The combined answer's three lists, each continued with its own query where it has more pages."""
        currencies = tuple(decoding.currency(n) for n in self._rest_of(documents.CURRENCIES, data, {}))
        self._remember_currencies(currencies)
        account_nodes = self._rest_of(documents.FINANCIAL_ACCOUNTS, data, {"filter": account_filter})
        charges = self._rest_of(documents.PRICE_LIST_CHARGES, data, {})
        return ReferenceLists(
            currencies,
            tuple(_entity_accounts(account_nodes, entity_id)),
            tuple(decoding.price_list_charge(n) for n in charges),
        )

    def _rest_of(
        self, document: Document, data: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The nodes of `document`'s list: the first page, under its root field in `data`, then the pages after it."""
        operation = documents.REFERENCE_LISTS.operation
        nodes, after = _page(data.get(document.root), document.root, operation, set())
        if after is not None:
            for page in self._iter_pages(document, variables, after):
                nodes.extend(page)
        return nodes

    # -- reads ---------------------------------------------------------------------------------------
    def current_scopes(self) -> frozenset[str]:
        """Scopes of the current token (`currentUser.scopes`); also a cheap health check."""
        data = self._query(documents.CURRENT_USER)
        user = data.get("currentUser") or {}
        return frozenset(str(s) for s in user.get("scopes") or ())

    def get_entity(self, entity_id: str) -> Entity | None:
        node = self._query(documents.ENTITY, {"id": entity_id}).get("entity")
        return decoding.entity(node, self.currency_code) if node else None

    def iter_invoice_refs(
        self,
        entity_id: str,
        *,
        updated_since: datetime | None,
        states: Collection[str] | None = None,
        newest_known: datetime | None = None,
    ) -> Iterator[InvoiceRef]:
        """id/state/updatedAt/issuedAt of the entity's invoices updated at or after `updated_since` (newest first
        when Bunny sorts them, see `_iter_newest_first`). `newest_known`: the newest `updatedAt` the caller saw in
        this list before. It tells the order even when nothing is newer; and read from it (`updated_since` at or
        after it), paging stops at the first page that reaches it: the rest of that stamp was seen, but for what
        committed in that second after the caller's look, which a read from further back finds."""
        seen: set[str] = set()
        keep = _invoice_test(entity_id, updated_since, states)
        candidates = self._invoice_filters(entity_id, updated_since, states)
        for node in self._iter_newest_first(documents.INVOICE_REFS, candidates, updated_since, newest_known):
            ref = decoding.invoice_ref(node)
            if ref.id not in seen and keep(ref.entity_id, ref.updated_at, ref.state):
                seen.add(ref.id)
                yield ref

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        node = self._query(documents.INVOICE, {"id": invoice_id}).get("invoice")
        return decoding.invoice(node, self.currency_code) if node else None

    def get_invoices(self, invoice_ids: Iterable[str]) -> dict[str, Invoice]:
        """The invoices with these ids, as `get_invoice` reads them, keyed by id in the order asked; unknown ids
        are left out. One `invoices(filter: "id in [...]")` request per `page_size` ids (paged, should the server
        answer less per page), instead of one request per invoice. Should the server refuse the filter, each
        invoice is read on its own (and the refusal remembered)."""

        def decode(node: dict[str, Any]) -> Invoice:
            return decoding.invoice(node, self.currency_code)

        return self._get_many(documents.INVOICES, invoice_ids, decode, self.get_invoice)

    def get_credit_note(self, credit_note_id: str) -> CreditNote | None:
        node = self._query(documents.CREDIT_NOTE, {"id": credit_note_id}).get("creditNote")
        return decoding.credit_note(node, self.currency_code) if node else None

    def get_credit_notes(self, credit_note_ids: Iterable[str]) -> dict[str, CreditNote]:
        """The credit notes with these ids, in bulk like `get_invoices`."""

        def decode(node: dict[str, Any]) -> CreditNote:
            return decoding.credit_note(node, self.currency_code)

        return self._get_many(documents.CREDIT_NOTES, credit_note_ids, decode, self.get_credit_note)

    def _get_many(
        self,
        document: Document,
        ids: Iterable[str],
        decode: Callable[[dict[str, Any]], T],
        get_one: Callable[[str], T | None],
    ) -> dict[str, T]:
        wanted = list(dict.fromkeys(str(i) for i in ids))
        refused = f"{document.operation}ById"
        found: dict[str, T] = {}
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start : start + self.page_size]
            if refused not in self._filter_level:
                try:
                    nodes = list(self._iter_nodes(document, {"filter": filters.one_of("id", chunk)}))
                except BunnyFilterRejectedError:
                    log.warning("Bunny rejected the %s id filter; reading them one by one", document.operation)
                    self._filter_level[refused] = 1
                else:
                    found.update((str(n["id"]), decode(n)) for n in nodes if str(n.get("id")) in chunk)
                    continue
            for one in chunk:
                single = get_one(one)
                if single is not None:
                    found[one] = single
        return {key: found[key] for key in wanted if key in found}

    def iter_invoices(
        self,
        entity_id: str,
        *,
        updated_since: datetime | None = None,
        states: Collection[str] | None = None,
    ) -> Iterator[Invoice]:
        seen: set[str] = set()
        keep = _invoice_test(entity_id, updated_since, states)
        for node in self._iter_filtered(documents.INVOICES, self._invoice_filters(entity_id, updated_since, states)):
            invoice = decoding.invoice(node, self.currency_code)
            if invoice.id not in seen and keep(invoice.entity_id, invoice.updated_at, invoice.state):
                seen.add(invoice.id)
                yield invoice

    def iter_credit_notes(
        self, entity_id: str, *, updated_since: datetime | None = None, newest_known: datetime | None = None
    ) -> Iterator[CreditNote]:
        """The entity's credit notes updated at or after `updated_since`; newest first since a moment, as
        `iter_invoice_refs` (`newest_known` likewise)."""
        _require_aware(updated_since)
        entity = filters.equals("entityId", entity_id)
        candidates = [filters.all_of(entity, self._updated_clause(updated_since)), entity, None]
        seen: set[str] = set()
        notes = self._iter_newest_first(documents.CREDIT_NOTES, _distinct(candidates), updated_since, newest_known)
        for node in notes:
            note = decoding.credit_note(node, self.currency_code)
            if note.id in seen or note.entity_id != entity_id:
                continue
            if updated_since is not None and note.updated_at < updated_since:
                continue
            seen.add(note.id)
            yield note

    # -- by number -----------------------------------------------------------------------------------
    # Whether Bunny's `filter:` accepts `number` on invoices and credit notes is UNVERIFIED: the SDL has the field
    # and the documented grammar compares strings, but no source shows `number` filtered (api-notes §3.2, E5). The
    # Bunny emulator makes it an option (`number_filter`); on `Malformed filter` these reads fall back to the
    # entity's documents (then to none) and match the numbers here, so the answer is the same either way, only
    # dearer. Strings are compared case-insensitively, as Bunny is reported to compare them.
    def invoices_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]:
        """The entity's invoices whose number is one of `numbers` (case-insensitive), in id order of the answer."""
        return self._numbered(documents.INVOICE_NUMBERS, entity_id, numbers)

    def credit_notes_numbered(self, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]:
        """The entity's credit notes whose number is one of `numbers` (case-insensitive)."""
        return self._numbered(documents.CREDIT_NOTE_NUMBERS, entity_id, numbers)

    def _numbered(self, document: Document, entity_id: str, numbers: Iterable[str]) -> list[NumberedDocument]:
        wanted = sorted({n.strip() for n in numbers if n and n.strip()})
        found: dict[str, NumberedDocument] = {}
        entity = filters.equals("entityId", entity_id)
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start : start + self.page_size]
            upper = {n.upper() for n in chunk}
            by_number = filters.equals("number", chunk[0]) if len(chunk) == 1 else filters.one_of("number", chunk)
            candidates = _distinct([filters.all_of(entity, by_number), by_number, entity, None])
            for node in self._iter_filtered(document, candidates):
                numbered = decoding.numbered_document(node)
                if numbered.entity_id == entity_id and numbered.number.upper() in upper:
                    found.setdefault(numbered.id, numbered)
        return list(found.values())

    # -- payments ------------------------------------------------------------------------------------
    def iter_payments(
        self,
        entity_id: str,
        *,
        updated_since: datetime | None = None,
        processing_states: Collection[str] | None = None,
        newest_known: datetime | None = None,
    ) -> Iterator[Payment]:
        """The entity's payments updated at or after `updated_since` (optionally only in `processing_states`),
        each with its applications to invoices; one `paymentApplications` request per page of payments. Asked
        newest first since a moment, as `iter_invoice_refs` (`newest_known` likewise)."""
        _require_aware(updated_since)
        entity = filters.equals("entityId", entity_id)
        states = filters.one_of("processingState", processing_states) if processing_states else None
        updated = self._updated_clause(updated_since)
        candidates = _distinct([filters.all_of(entity, updated, states), filters.all_of(entity, updated), entity, None])
        wanted_states = frozenset(processing_states) if processing_states else None
        seen: set[str] = set()
        batch: list[dict[str, Any]] = []
        for node in self._iter_newest_first(documents.PAYMENTS, candidates, updated_since, newest_known):
            node_id = str(node.get("id"))
            if node_id in seen or _ref(node.get("entity")) != entity_id:
                continue
            if wanted_states is not None and node.get("processingState") not in wanted_states:
                continue
            if updated_since is not None and decoding.timestamp(node.get("updatedAt")) < updated_since:
                continue
            seen.add(node_id)
            batch.append(node)
            if len(batch) == self.page_size:
                yield from self._with_applications(batch)
                batch = []
        yield from self._with_applications(batch)

    def get_payment(self, payment_id: str) -> Payment | None:
        node = self._query(documents.PAYMENT, {"id": payment_id}).get("payment")
        return next(iter(self._with_applications([node])), None) if node else None

    def get_payments(self, payment_ids: Iterable[str]) -> dict[str, Payment]:
        """The payments with these ids, with their applications, in bulk like `get_invoices`."""
        nodes = self._get_many(documents.PAYMENTS, payment_ids, lambda node: node, self._payment_node)
        return {payment.id: payment for payment in self._with_applications(list(nodes.values()))}

    def _payment_node(self, payment_id: str) -> dict[str, Any] | None:
        node = self._query(documents.PAYMENT, {"id": payment_id}).get("payment")
        return node if isinstance(node, dict) else None

    def iter_payment_applications(self, payment_ids: Collection[str]) -> Iterator[PaymentApplication]:
        """Applications of these payments to invoices (`paymentApplications(filter: "paymentId in [...]")`)."""
        wanted = frozenset(str(i) for i in payment_ids)
        if not wanted:
            return
        candidates: list[str | None] = [filters.one_of("paymentId", wanted), None]
        for node in self._iter_filtered(documents.PAYMENT_APPLICATIONS, candidates):
            if str(node.get("paymentId")) in wanted:
                yield decoding.payment_application(node, self.currency_code)

    def _with_applications(self, nodes: Sequence[dict[str, Any]]) -> Iterator[Payment]:
        by_payment: dict[str, list[PaymentApplication]] = {}
        for application in self.iter_payment_applications([str(n.get("id")) for n in nodes]):
            by_payment.setdefault(str(application.payment_id), []).append(application)
        for node in nodes:
            yield decoding.payment(node, self.currency_code, tuple(by_payment.get(str(node.get("id")), ())))

    def iter_financial_accounts(self, entity_id: str) -> Iterator[FinancialAccount]:
        nodes = self._iter_filtered(documents.FINANCIAL_ACCOUNTS, _account_filters(entity_id))
        yield from _entity_accounts(nodes, entity_id)

    def iter_price_list_charges(self) -> Iterator[PriceListCharge]:
        for node in self._iter_nodes(documents.PRICE_LIST_CHARGES, {}):
            yield decoding.price_list_charge(node)

    # -- writes --------------------------------------------------------------------------------------
    def create_financial_account(self, attrs: FinancialAccountAttributes) -> FinancialAccount:
        data = self._query(documents.FINANCIAL_ACCOUNT_CREATE, {"attributes": financial_account_variables(attrs)})
        return _financial_account_payload(documents.FINANCIAL_ACCOUNT_CREATE, data)

    def update_financial_account(self, id: str, attrs: FinancialAccountAttributes) -> FinancialAccount:
        variables = {"id": id, "attributes": financial_account_variables(attrs)}
        data = self._query(documents.FINANCIAL_ACCOUNT_UPDATE, variables)
        return _financial_account_payload(documents.FINANCIAL_ACCOUNT_UPDATE, data)

    # -- filters -------------------------------------------------------------------------------------
    def _updated_clause(self, updated_since: datetime | None) -> str | None:
        if updated_since is None:
            return None
        return filters.on_or_after("updatedAt", updated_since - self.filter_time_margin)

    def _invoice_filters(
        self, entity_id: str, updated_since: datetime | None, states: Collection[str] | None
    ) -> list[str | None]:
        _require_aware(updated_since)
        entity = filters.equals("entityId", entity_id)
        state = filters.one_of("state", states) if states else None
        updated = self._updated_clause(updated_since)
        return _distinct([filters.all_of(entity, updated, state), filters.all_of(entity, updated), entity, None])


class _NewestFirst:
    """Follows a list asked newest first, page by page: is the rest of it older than `since`?

    Only if the order shows: every `updatedAt` so far is no later than the one before it, the first is not older
    than the anchor (`since`, or the newest stamp the caller knows is in the list) and the last is older than
    `since` (or, read from that known stamp, reaches it). A server ignoring the sort lists in an order of its own (ids
    ascending, probably), which steps up somewhere or starts with an invoice changed before the anchor (the oldest of
    the window); the latter keeps a run of equal stamps (a burst released in one second) from passing for the order.
    What it cannot tell from the order: a first invoice at or after the anchor followed by a page of stamps that
    never step up (a burst, then an older invoice), so the stop also waits for `BunnyClient._order_shown`.
    """

    def __init__(self, since: datetime, newest_known: datetime | None) -> None:
        self.since = since
        self.anchor = newest_known or since
        self.from_known = newest_known is not None and since >= newest_known
        self.sorted = True
        self.stepped_up = False  # proof that the list is not sorted newest first (starting behind is not)
        self._last: datetime | None = None

    def past_since(self, page: Iterable[Mapping[str, Any]]) -> bool:
        for node in page:
            stamp = decoding.timestamp(node.get("updatedAt"))
            if self._last is not None and stamp > self._last:
                self.stepped_up = True
            if self.stepped_up or (self._last is None and stamp < self.anchor):
                self.sorted = False
            self._last = stamp
        if not self.sorted or self._last is None:
            return False
        return self._last < self.since or (self.from_known and self._last <= self.since)


def _page(
    connection: Any, root: str, operation: str, seen_cursors: set[str]
) -> tuple[list[dict[str, Any]], str | None]:
    """A Relay connection page's nodes, and the cursor to read the next page from (None after the last page)."""
    if not isinstance(connection, dict):
        raise BunnyQueryError(f"{root} answered null", operation=operation)
    nodes = [node for node in connection.get("nodes") or () if node is not None]
    page = connection.get("pageInfo") or {}
    if not page.get("hasNextPage"):
        return nodes, None
    cursor = page.get("endCursor")
    if not cursor or cursor in seen_cursors:
        raise BunnyQueryError("pagination did not advance (hasNextPage without a new endCursor)")
    seen_cursors.add(cursor)
    return nodes, cursor


def _account_filters(entity_id: str) -> list[str | None]:
    return [filters.equals("entityId", entity_id), None]


def _entity_accounts(nodes: Iterable[dict[str, Any]], entity_id: str) -> Iterator[FinancialAccount]:
    """The entity's accounts among `nodes` (the server's filter may have been dropped, see `_iter_filtered`)."""
    for node in nodes:
        account = decoding.financial_account(node)
        if account.entity_id == entity_id:
            yield account


def _distinct(candidates: list[str | None]) -> list[str | None]:
    out: list[str | None] = []
    for candidate in candidates:
        if candidate not in out:
            out.append(candidate)
    return out


def _ref(node: Any) -> str | None:
    """The id of a nested `{ id }` object."""
    return str(node["id"]) if isinstance(node, Mapping) and node.get("id") is not None else None


def _require_aware(moment: datetime | None) -> None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError("updated_since must be timezone-aware")


def _invoice_test(
    entity_id: str, updated_since: datetime | None, states: Collection[str] | None
) -> Callable[[str | None, datetime, str], bool]:
    wanted_states = frozenset(states) if states else None

    def keep(invoice_entity: str | None, updated_at: datetime, state: str) -> bool:
        return (
            invoice_entity == entity_id
            and (updated_since is None or updated_at >= updated_since)
            and (wanted_states is None or state in wanted_states)
        )

    return keep


def financial_account_variables(attrs: FinancialAccountAttributes) -> dict[str, Any]:
    """`FinancialAccountAttributes` input: camelCase keys, None fields left out, `extra` passed as given."""
    fields: dict[str, Any] = {
        "code": attrs.code,
        "name": attrs.name,
        "description": attrs.description,
        "accountType": attrs.account_type,
        "active": attrs.active,
        "entityId": attrs.entity_id,
        "externalId": attrs.external_id,
        "source": attrs.source,
    }
    variables = {key: value for key, value in fields.items() if value is not None}
    variables.update(attrs.extra)
    return variables


def _financial_account_payload(document: Document, data: Mapping[str, Any]) -> FinancialAccount:
    payload = data.get(document.root)
    if not isinstance(payload, dict):
        raise BunnyMutationError("Bunny answered without a payload", operation=document.operation)
    errors = payload.get("errors")
    if errors:
        messages = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
        raise BunnyMutationError("; ".join(messages), operation=document.operation, errors=messages)
    node = payload.get("financialAccount")
    if not isinstance(node, dict):
        raise BunnyMutationError("Bunny returned no financial account", operation=document.operation)
    return decoding.financial_account(node)
