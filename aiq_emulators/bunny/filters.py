"""Bunny's `filter:` mini-language (the documented subset, api-notes E5) compiled to a Python predicate.

Grammar (keywords case-insensitive; field names camelCase or snake_case)::

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "(" expr ")" | FIELD test
    test    := ("=" | "!=" | "<" | ">" | "<=" | ">=" | "equals" | "not_equals" | "contains" | "contains_not"
                | "begins_with" | "ends_with") value
             | "in" list | "not" "in" list
             | "is" "blank" | "is" "not" "blank" | "is" ("true" | "false") | "is_not" ("true" | "false")
             | "is" ("after" | "before" | "on" | "on or after" | "on or before") value
             | "is" ("today" | "yesterday" | "tomorrow")
    list    := "[" value ("," value)* "]"
    value   := 'quoted' | "quoted" | number | bare word / date / datetime

The grammar is a dozen productions, so a tokenizer plus recursive descent is smaller and clearer than
pulling in a parser generator. Anything it cannot parse, or a field the object does not have, raises
`MalformedFilter` (the real API answers `Malformed filter`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Kind = Literal["str", "id", "num", "bool", "date", "datetime"]
Predicate = Callable[[Any], bool]


class MalformedFilter(ValueError):
    """The filter string is not in the supported grammar."""


@dataclass(frozen=True)
class Column:
    kind: Kind
    get: Callable[[Any], Any]


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|=|<|>|\(|\)|\[|\]|,)
      | (?P<word>[A-Za-z0-9_.:+\-]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise MalformedFilter(text)
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(_Tok(kind, value))
    return tokens


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _parse_date(text: str) -> dt.date | dt.datetime:
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedFilter(text) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, Column], today: dt.date) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.columns = columns
        self.today = today

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise MalformedFilter("unexpected end")
        self.pos += 1
        return tok

    def keyword(self, *words: str) -> bool:
        """Consume the keyword sequence `words` if it comes next."""
        for offset, word in enumerate(words):
            tok = self.peek(offset)
            if tok is None or tok.kind != "word" or tok.text.lower() != word:
                return False
        self.pos += len(words)
        return True

    def symbol(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text == text:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise MalformedFilter("trailing input")
        return predicate

    def expr(self) -> Predicate:
        parts = [self.term()]
        while self.keyword("or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda obj: any(p(obj) for p in parts))

    def term(self) -> Predicate:
        parts = [self.factor()]
        while self.keyword("and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda obj: all(p(obj) for p in parts))

    def factor(self) -> Predicate:
        if self.symbol("("):
            inner = self.expr()
            if not self.symbol(")"):
                raise MalformedFilter("missing )")
            return inner
        tok = self.take()
        if tok.kind != "word":
            raise MalformedFilter(tok.text)
        column = self.columns.get(camel(tok.text)) or self.columns.get(tok.text)
        if column is None:
            raise MalformedFilter(f"unknown field {tok.text}")
        return self.test(column)

    def value(self) -> str:
        tok = self.take()
        if tok.kind not in ("str", "word"):
            raise MalformedFilter(tok.text)
        return tok.text

    def values(self) -> list[str]:
        if not self.symbol("["):
            raise MalformedFilter("expected [")
        items = [self.value()]
        while self.symbol(","):
            items.append(self.value())
        if not self.symbol("]"):
            raise MalformedFilter("expected ]")
        return items

    def test(self, column: Column) -> Predicate:
        get = column.get
        if self.keyword("is", "not", "blank"):
            return lambda obj: not _blank(get(obj))
        if self.keyword("is", "blank"):
            return lambda obj: _blank(get(obj))
        if column.kind == "bool":
            for negate, words in ((False, ("is",)), (True, ("is_not",)), (True, ("is", "not"))):
                if self.keyword(*words):
                    wanted = self.value().lower()
                    if wanted not in ("true", "false"):
                        raise MalformedFilter(wanted)
                    flag = (wanted == "true") != negate
                    return lambda obj: bool(get(obj)) == flag
        if column.kind in ("date", "datetime"):
            predicate = self.date_test(column)
            if predicate is not None:
                return predicate
        if self.keyword("not", "in"):
            excluded = [self.coerce(column, v) for v in self.values()]
            return lambda obj: not any(_compare(column, get(obj), "=", w) for w in excluded)
        if self.keyword("in"):
            included = [self.coerce(column, v) for v in self.values()]
            return lambda obj: any(_compare(column, get(obj), "=", w) for w in included)
        tok = self.take()
        op = tok.text.lower()
        op = {"equals": "=", "not_equals": "!="}.get(op, op)
        if op not in ("=", "!=", "<", ">", "<=", ">=", "contains", "contains_not", "begins_with", "ends_with"):
            raise MalformedFilter(op)
        if op in ("contains", "contains_not", "begins_with", "ends_with") and column.kind not in ("str", "id"):
            raise MalformedFilter(op)
        wanted_one = self.coerce(column, self.value())
        return lambda obj: _compare(column, get(obj), op, wanted_one)

    def date_test(self, column: Column) -> Predicate | None:
        get = column.get
        relative = {"today": 0, "yesterday": -1, "tomorrow": 1}
        for word, days in relative.items():
            if self.keyword("is", word):
                day = self.today + dt.timedelta(days=days)
                return lambda obj: _compare(column, get(obj), "=", day)
        for words, op in (
            (("is", "on", "or", "after"), ">="),
            (("is", "on", "or", "before"), "<="),
            (("is", "after"), ">"),
            (("is", "before"), "<"),
            (("is", "on"), "="),
        ):
            if self.keyword(*words):
                wanted = self.coerce(column, self.value())
                return lambda obj: _compare(column, get(obj), op, wanted)
        return None

    def coerce(self, column: Column, text: str) -> Any:
        if column.kind in ("date", "datetime"):
            return _parse_date(text)
        if column.kind == "num":
            try:
                return Decimal(text)
            except InvalidOperation as exc:
                raise MalformedFilter(text) from exc
        return text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _compare(column: Column, actual: Any, op: str, wanted: Any) -> bool:
    if actual is None:
        return op in ("!=", "contains_not")
    if column.kind in ("date", "datetime"):
        actual, wanted = _align_dates(actual, wanted)
    elif column.kind == "num":
        actual = Decimal(str(actual))
    elif column.kind == "id" and op in ("<", ">", "<=", ">="):
        try:
            actual, wanted = int(actual), int(wanted)
        except ValueError:
            return False
    else:
        # Bunny compares strings case-insensitively (lower(...) on both sides).
        actual, wanted = str(actual).lower(), str(wanted).lower()
    match op:
        case "=":
            return actual == wanted
        case "!=":
            return actual != wanted
        case "<":
            return actual < wanted
        case ">":
            return actual > wanted
        case "<=":
            return actual <= wanted
        case ">=":
            return actual >= wanted
        case "contains":
            return wanted in actual
        case "contains_not":
            return wanted not in actual
        case "begins_with":
            return actual.startswith(wanted)
        case "ends_with":
            return actual.endswith(wanted)
    raise MalformedFilter(op)


def _align_dates(actual: Any, wanted: Any) -> tuple[Any, Any]:
    """Compare a date with a date and a timestamp with a timestamp; a bare date compares whole days."""
    if isinstance(wanted, dt.datetime) and not isinstance(actual, dt.datetime):
        return actual, wanted.date()
    if isinstance(actual, dt.datetime) and not isinstance(wanted, dt.datetime):
        return actual.date(), wanted
    return actual, wanted


def compile_filter(
    text: str | None, columns: Mapping[str, Column], today: dt.date, grammar: str = "documented"
) -> Predicate | None:
    """A predicate for `text`, or None when there is no filter. Raises `MalformedFilter`.

    `grammar` is the `filter_grammar` option: under "single_equals" only one `field = 'value'` clause parses.
    """
    if text is None or not text.strip():
        return None
    if grammar == "single_equals" and not _SINGLE_EQUALS.fullmatch(text):
        raise MalformedFilter(text)
    return _Parser(text, columns, today).parse()


_SINGLE_EQUALS = re.compile(r"""\s*[A-Za-z][A-Za-z0-9_]*\s*=\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\s*""")


def sort_key(sort: str | None, columns: Mapping[str, Column]) -> tuple[Column, bool] | None:
    """`"<column> asc|desc"` -> (column, descending); unknown columns are ignored as Bunny does."""
    if not sort or not sort.strip():
        return None
    parts = sort.split()
    column = columns.get(camel(parts[0])) or columns.get(parts[0])
    if column is None or len(parts) > 2:
        return None
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        return None
    return column, direction == "desc"
