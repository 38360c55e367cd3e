"""The base of the emulator's tenant store: a lock, the clock, lookups, tokens, options and atomic persistence.

The rules of Bunny's objects build on it: `invoicing.py` (invoices and credit notes), `payments.py`, and
`store.py` (financial accounts and charges, and the `TenantStore` that joins them). Every mutating method takes
the lock, applies Bunny's rule (or raises `RuleViolation`, which the GraphQL layer reports as a top-level error
with the mutation's path) and then writes the state file atomically (temp file + rename), so a restart resumes
exactly where the last mutation left off.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aiq_emulators.bunny.models import EmulatorOptions, IssuedToken, Tenant

STATE_FILE = "bunny-state.json"

Clock = Callable[[], dt.datetime]


class RuleViolation(Exception):
    """A Bunny model/state rule refused the operation (reported as a GraphQL top-level error)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def next_id(items: Iterable[Any]) -> str:
    return str(max((int(item.id) for item in items if str(item.id).isdigit()), default=0) + 1)


class StoreCore:
    def __init__(
        self,
        seed: Tenant,
        state_dir: Path | str | None = None,
        clock: Clock | None = None,
        options: EmulatorOptions | Mapping[str, Any] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        # Base of the `url`/`portalUrl` links; the app sets it from the address it is served on.
        self.public_url = "http://127.0.0.1"
        self._indexes: dict[str, tuple[int, int, dict[str, Any]]] = {}
        self._item_seq = 0
        self._item_seq_key = 0
        self._sequences: dict[str, tuple[int, int]] = {}
        self._seed = seed.model_copy(deep=True)
        if options is not None:  # start options win over the fixture's, and survive a reset
            self._seed.options = EmulatorOptions.model_validate(options, from_attributes=True)
        self._clock = clock or _utc_now
        self._clock_offset = dt.timedelta(0)
        self.state_path = Path(state_dir) / STATE_FILE if state_dir is not None else None
        if self.state_path is not None and self.state_path.exists():
            self.tenant = Tenant.model_validate_json(self.state_path.read_text(encoding="utf-8"))
            if options is not None:
                self.tenant.options = self._seed.options.model_copy()
        else:
            self.tenant = self._seed.model_copy(deep=True)
            self.save()

    # -- time ---------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return (self._clock() + self._clock_offset).astimezone(dt.UTC).replace(microsecond=0)

    def today(self) -> dt.date:
        return self.now().date()

    def set_clock(self, when: dt.datetime | None) -> None:
        """Shift the emulator's clock so that now() == `when` (None: back to real time)."""
        with self.lock:
            self._clock_offset = dt.timedelta(0) if when is None else when - self._clock()

    # -- persistence --------------------------------------------------------------------------------
    def save(self) -> None:
        if self.state_path is None:
            return
        with self.lock:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            payload = self.tenant.model_dump_json(indent=1)
            fd, tmp = tempfile.mkstemp(prefix=".bunny-state-", dir=self.state_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self.state_path)

    def reset(self) -> None:
        with self.lock:
            self.tenant = self._seed.model_copy(deep=True)
            self._indexes.clear()
            self._sequences.clear()
            self._item_seq = 0
            self._clock_offset = dt.timedelta(0)
            self.save()

    # -- lookups ------------------------------------------------------------------------------------
    def find(self, collection: str, object_id: str | None = None, code: str | None = None) -> Any:
        if object_id is not None:
            return self._index(collection).get(object_id)
        for item in getattr(self.tenant, collection):
            if object_id is not None and item.id == object_id:
                return item
            if object_id is None and code is not None and getattr(item, "code", None) == code:
                return item
        return None

    def _index(self, collection: str) -> dict[str, Any]:
        # Id lookups stay O(1) for benchmark-sized tenants: extend the index when the list grew (appends),
        # rebuild it when the list was replaced or shrank.
        items = getattr(self.tenant, collection)
        cached = self._indexes.get(collection)
        if cached is None or cached[0] != id(items) or cached[1] > len(items):
            cached = (id(items), 0, {})
        index = cached[2]
        for item in items[cached[1] :]:
            index[str(item.id)] = item
        self._indexes[collection] = (id(items), len(items), index)
        return index

    def _allocate(self, collection: str) -> str:
        """Next numeric id of `collection` (high-water mark kept per list, so bulk creation stays linear)."""
        items = getattr(self.tenant, collection)
        last_key, last = self._sequences.get(collection, (0, 0))
        if last_key != id(items):
            last = int(next_id(items)) - 1
        self._sequences[collection] = (id(items), last + 1)
        return str(last + 1)

    def entity(self, entity_id: str) -> Any:
        return self.find("entities", entity_id)

    # -- OAuth tokens -------------------------------------------------------------------------------
    def issue_token(self, client_id: str, scopes: list[str], lifetime: int) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            now = self.now()
            self.tenant.tokens = [t for t in self.tenant.tokens if t.expires_at > now]
            self.tenant.tokens.append(
                IssuedToken(
                    digest=_digest(token),
                    client_id=client_id,
                    scopes=scopes,
                    expires_at=now + dt.timedelta(seconds=lifetime),
                )
            )
            self.save()
        return token

    def token(self, token: str) -> IssuedToken | None:
        """The live token record for `token`, or None when unknown or expired."""
        digest = _digest(token)
        with self.lock:
            now = self.now()
            for record in self.tenant.tokens:
                if secrets.compare_digest(record.digest, digest):
                    return record if record.expires_at > now else None
        return None

    def expire_token(self, token: str) -> None:
        digest = _digest(token)
        with self.lock:
            self.tenant.tokens = [t for t in self.tenant.tokens if t.digest != digest]
            self.save()

    def _touch(self, obj: Any) -> None:
        obj.updated_at = self.now()

    # -- options --------------------------------------------------------------------------------------
    @property
    def options(self) -> EmulatorOptions:
        return self.tenant.options

    def set_options(self, changes: Mapping[str, Any]) -> EmulatorOptions:
        """Change some readings at run time (validated; unknown names and values are refused)."""
        with self.lock:
            merged = {**self.tenant.options.model_dump(), **dict(changes)}
            self.tenant.options = EmulatorOptions.model_validate(merged)
            self.save()
            return self.tenant.options
