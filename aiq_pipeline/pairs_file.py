"""The pairs file (`AIQ_PIPELINE_PAIRS_FILE`): several pairs (a Bunny entity and the AIQ entity it posts to) in
one TOML file, read and held to the file's own rules here; `aiq_pipeline.settings` checks the values.

    [defaults]                      # optional: every pair's value unless the pair sets the same key
    AIQ_BASE_URL = "http://127.0.0.1:8701"

    [pairs.uk]
    AIQ_ENTITY_ID = "DEMO01"
    AIQ_CLIENT_SECRET = { env = "UK_AIQ_CLIENT_SECRET" }

The keys are the settings' environment variable names. A value is a string (a number, a boolean or a date is
taken as its text: `true` is "true") or `{ env = "NAME" }`, read from the process environment when the pair's
settings are read. A secret must be such a reference: its value never sits in the file, nor in a message.

This module knows no variable by name: the caller passes which keys are allowed, which are secret and which
belong to the environment only. A file that cannot be read or parsed, or whose pairs cannot be named, is a
`PairsFileError` (one line naming the file); everything else wrong in it is a `FileProblem` naming the file,
the table and the key, found all at once.
"""

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urlsplit

PAIR_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULTS_TABLE = "defaults"
PAIRS_TABLE = "pairs"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgres+psycopg2://")


@dataclass(frozen=True)
class EnvReference:
    """`{ env = "NAME" }`: the value is the environment variable NAME's."""

    name: str


Value = str | EnvReference


@dataclass(frozen=True)
class FileProblem:
    """One thing wrong in the file. `table` is "defaults", "pairs.<name>" or None (the whole file); `key` the
    setting at fault, if one is; `message` one line that starts with where (`pairs.toml [pairs.uk] KEY: ...`)."""

    table: str | None
    key: str | None
    message: str


class PairsFileError(ValueError):
    """The file cannot be used at all (missing, unreadable, not TOML, no pairs, a pair name refused)."""


@dataclass(frozen=True)
class PairsFile:
    path: Path
    defaults: Mapping[str, Value]
    pairs: Mapping[str, Mapping[str, Value]]  # in file order
    problems: tuple[FileProblem, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.pairs)

    def where(self, table: str | None = None) -> str:
        """`pairs.toml [pairs.uk]`: how a message names the place in the file."""
        return f"{self.path.name} [{table}]" if table else self.path.name

    def values_of(self, pair: str) -> dict[str, tuple[Value, str]]:
        """The pair's keys, [defaults] under its own: key -> (value, the table that gives it)."""
        merged = {key: (value, DEFAULTS_TABLE) for key, value in self.defaults.items()}
        merged.update({key: (value, pair_table(pair)) for key, value in self.pairs[pair].items()})
        return merged

    def problems_of(self, pair: str) -> tuple[FileProblem, ...]:
        """The problems that concern `pair`: the whole file's, [defaults]' and its own table's."""
        return tuple(p for p in self.problems if p.table in (None, DEFAULTS_TABLE, pair_table(pair)))

    def env_names(self) -> frozenset[str]:
        """Every environment variable the file names with `{ env = ... }`."""
        tables = (self.defaults, *self.pairs.values())
        return frozenset(v.name for table in tables for v in table.values() if isinstance(v, EnvReference))


def pair_table(pair: str) -> str:
    return f"{PAIRS_TABLE}.{pair}"


def load_pairs_file(
    path: Path, *, keys: Collection[str], secrets: Collection[str], environment_only: Collection[str]
) -> PairsFile:
    """Read and check the file's shape. `keys`: the settings a table may set; `secrets`: those that must be
    `{ env = ... }`; `environment_only`: settings that belong to the process environment, never to the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PairsFileError(f"{path} does not exist (AIQ_PIPELINE_PAIRS_FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise PairsFileError(f"{path} cannot be read ({reason}) (AIQ_PIPELINE_PAIRS_FILE)") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PairsFileError(f"{path} is not valid TOML: {exc}") from None  # the message names line and column
    return _check(path, document, set(keys), set(secrets), set(environment_only))


def _check(
    path: Path, document: dict[str, object], keys: set[str], secrets: set[str], environment_only: set[str]
) -> PairsFile:
    problems: list[FileProblem] = []
    name = path.name
    for table in document:
        if table not in (DEFAULTS_TABLE, PAIRS_TABLE):
            problems.append(
                FileProblem(None, None, f"{name}: unknown table [{table}]; the file has [defaults] and [pairs.NAME]")
            )
    pairs_table = document.get(PAIRS_TABLE)
    if not isinstance(pairs_table, dict) or not pairs_table:
        raise PairsFileError(f"{path} configures no pair: add a table [pairs.NAME] for each pair")
    for pair, table in pairs_table.items():
        if not PAIR_NAME.fullmatch(pair) or "__" in pair:
            raise PairsFileError(
                f"{path}: pair name {pair!r} is refused: a pair is named with a lower-case letter, then up to 30 "
                "lower-case letters, digits or single underscores (such as uk or acme_ie)"
            )
        if not isinstance(table, dict):
            raise PairsFileError(f"{path}: [pairs] holds {pair} = ..., not a table [pairs.{pair}]")

    defaults_table = document.get(DEFAULTS_TABLE, {})
    defaults: dict[str, Value] = {}
    if isinstance(defaults_table, dict):
        defaults = _table(name, DEFAULTS_TABLE, defaults_table, keys, secrets, environment_only, problems)
    else:
        problems.append(FileProblem(None, None, f"{name}: defaults must be a table [defaults]"))

    pairs: dict[str, dict[str, Value]] = {}
    for pair, table in pairs_table.items():
        where = pair_table(pair)
        if not table:
            problems.append(FileProblem(where, None, f"{name} [{where}]: the pair sets no key"))
        pairs[pair] = _table(name, where, table, keys, secrets, environment_only, problems)
    return PairsFile(path, defaults, pairs, tuple(problems))


def _table(
    name: str,
    table: str,
    content: dict[str, object],
    keys: set[str],
    secrets: set[str],
    environment_only: set[str],
    problems: list[FileProblem],
) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for key, raw in content.items():
        where = f"{name} [{table}] {key}"

        def refuse(message: str, key: str = key, where: str = where) -> None:
            problems.append(FileProblem(table, key, f"{where}: {message}"))

        if key in environment_only:
            refuse("belongs to the process environment, not to the pairs file")
            continue
        if key not in keys:
            refuse("unknown key (the keys are the settings' environment variable names, such as AIQ_ENTITY_ID)")
            continue
        if isinstance(raw, dict):
            reference = raw.get("env")
            if set(raw) != {"env"} or not isinstance(reference, str) or not ENV_NAME.fullmatch(reference):
                refuse('a table value must be { env = "VARIABLE" }, naming an environment variable')
                continue
            values[key] = EnvReference(reference)
            continue
        text = _text(raw)
        if text is None:
            refuse('must be a string, a number, true/false, or { env = "VARIABLE" }')
        elif key in secrets:
            refuse(
                f'is a secret: keep it out of the file and write it as {{ env = "VARIABLE" }}, such as {key} = '
                f'{{ env = "{table.rpartition(".")[2].upper()}_{key}" }}'
            )
        elif _carries_password(text):
            refuse('a PostgreSQL URL with a password is a secret: write it as { env = "VARIABLE" }')
        else:
            values[key] = text
    return values


def _text(raw: object) -> str | None:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    if isinstance(raw, datetime | date | time):
        return raw.isoformat()
    return None


def _carries_password(text: str) -> bool:
    if not text.strip().startswith(POSTGRES_SCHEMES):
        return False
    parts = urlsplit(text.strip())
    try:
        password = parts.password
    except ValueError:
        password = None
    in_query = any(item.partition("=")[0].lower() == "password" for item in parts.query.split("&"))
    return bool(password) or in_query
