"""Settings and connection problems, told the one way `doctor` tells them.

Any command or runner that meets a problem a person fixes in the settings (a variable missing or wrong,
credentials refused, an entity not granted, a store that cannot be opened) reports it as the line `doctor`
prints for it and exits with `SETTINGS_PROBLEM_EXIT_CODE`, instead of a traceback:

    FAIL settings [AIQ_PIPELINE_BATCH_SIZE]: AIQ_PIPELINE_BATCH_SIZE must be a whole number from 1 to 500, not 'abc'
    FAIL AIQ credentials [AIQ_CLIENT_ID / AIQ_CLIENT_SECRET]: AIQ rejected the client id/secret (...): copy ...

`describe_problems(error)` finds such a problem anywhere in an exception's chain (causes, contexts, the
`user_exception` Dagster wraps user code errors in, an `error` attribute holding a failed step's error) or in
a Dagster `SerializableErrorInfo` (a failed step's error when a run was executed with `raise_on_error=False`).
Anything else is not a settings problem: it returns nothing, and the caller handles the error as before. No
Dagster import: this is the service layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from aiq_pipeline.accountsiq.errors import AiqAuthenticationError, AiqConfigurationError
from aiq_pipeline.accountsiq.outcomes import ENTITY_CODES
from aiq_pipeline.bunny.errors import BunnyConfigurationError
from aiq_pipeline.settings import VARIABLES, SettingProblem, SettingsError, missing_problem
from aiq_pipeline.store import StoreConnectionError

# Exit code of every `aiq-pipeline` command for a settings or connection problem (doctor's failures included).
SETTINGS_PROBLEM_EXIT_CODE = 4

AIQ_CREDENTIALS = "AIQ_CLIENT_ID / AIQ_CLIENT_SECRET"
BUNNY_CREDENTIALS = "BUNNY_CLIENT_ID / BUNNY_CLIENT_SECRET"
TOKEN_OPERATIONS = frozenset({"TokenGet", "TokenRefresh"})

_VARIABLE = re.compile(r"\b(?:AIQ|BUNNY|DAGSTER)_[A-Z_]*[A-Z]\b")
# Dagster's words for a `dg.EnvVar` whose variable is not set (the code location loads leniently).
_LINE = re.compile(r"FAIL (?P<name>[^\[:]+?)(?: \[(?P<setting>[^\]]+)\])?: (?P<detail>.+)")
_DAGSTER_ENV_UNSET = re.compile(r'environment variable "([A-Z][A-Z0-9_]*)" which is not set')


def check_line(ok: bool, name: str, detail: str, setting: str | None = None) -> str:
    """One line of `doctor`'s report: `ok   NAME: detail` or `FAIL NAME [SETTING]: detail`."""
    mark = "ok  " if ok else "FAIL"
    where = f" [{setting}]" if setting and not ok else ""
    return f"{mark} {name}{where}: {' '.join(detail.split())}"


@dataclass(frozen=True)
class Problem:
    """A failed check: what failed, the setting to fix (when one is to blame), and what to do."""

    name: str
    detail: str
    setting: str | None = None

    def line(self) -> str:
        return check_line(False, self.name, self.detail, self.setting)


class ProblemError(Exception):
    """Raise (or subclass) this for a settings or connection problem a check of your own found, e.g. a
    preflight that finds no Bunny entity: `str()` is doctor's line, and `describe_problems` returns it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.line())
        self.problem = problem


def setting_problem(problem: SettingProblem) -> Problem:
    return Problem("settings", problem.message, problem.variable)


def aiq_credentials_problem(code: str | None) -> Problem:
    return Problem(
        "AIQ credentials",
        f"AIQ rejected the client id/secret ({code or 'refused'}): copy both again from the AIQ developer portal "
        "(Integration Applications > View > Show Credentials), and check the application is not revoked.",
        AIQ_CREDENTIALS,
    )


def aiq_entity_refused_problem(code: str | None, entity_id: str | None = None) -> Problem:
    which = f"entity {entity_id!r}" if entity_id else "the entity AIQ_ENTITY_ID names"
    return Problem(
        "AIQ entity",
        f"AIQ refused {which} ({code}): it does not exist or is not granted to this integration application; "
        "set the right entity id, or grant it under the application's Entities Assigned tab.",
        "AIQ_ENTITY_ID",
    )


def bunny_entity_unknown_problem(entity_id: str) -> Problem:
    return Problem(
        "Bunny entity",
        f"entity {entity_id!r} does not exist in Bunny (or this API client cannot see it); set BUNNY_ENTITY_ID to "
        "the id of the Bunny entity whose invoices go to AccountsIQ.",
        "BUNNY_ENTITY_ID",
    )


def bunny_configuration_problem(message: str) -> Problem:
    return Problem("Bunny credentials", message, _named_settings(message, BUNNY_CREDENTIALS, prefix="BUNNY_"))


class ErrorInfo(Protocol):
    """The part of Dagster's `SerializableErrorInfo` read here."""

    @property
    def message(self) -> str: ...
    @property
    def cls_name(self) -> str | None: ...
    @property
    def cause(self) -> ErrorInfo | None: ...
    @property
    def context(self) -> ErrorInfo | None: ...


def describe_problems(error: BaseException | ErrorInfo) -> tuple[Problem, ...]:
    """The settings or connection problem behind `error`, as doctor's lines; () when it is none of those.

    Usually one problem; a `SettingsError` gives one per variable at fault.
    """
    for link in _chain(error):
        found = _from_exception(link) if isinstance(link, BaseException) else _from_error_info(link)
        if found:
            return found
    return ()


def problem_lines(error: BaseException | ErrorInfo) -> list[str]:
    """`describe_problems` as the lines to print (to stderr) before exiting with SETTINGS_PROBLEM_EXIT_CODE."""
    return [p.line() for p in describe_problems(error)]


def _chain(error: BaseException | ErrorInfo) -> Iterator[BaseException | ErrorInfo]:
    """`error` and everything behind it, nearest first, each once."""
    pending: list[BaseException | ErrorInfo | None] = [error]
    seen: set[int] = set()
    while pending:
        link = pending.pop(0)
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        if isinstance(link, BaseException):
            pending += [getattr(link, "user_exception", None), link.__cause__, link.__context__]
            carried = getattr(link, "error", None)  # e.g. a runner's exception carrying the failed step's error
            if _is_error_info(carried) or isinstance(carried, BaseException):
                pending.append(carried)
            if isinstance(link, BaseExceptionGroup):
                pending += list(link.exceptions)
        else:
            pending += [link.cause, link.context]


def _is_error_info(value: object) -> bool:
    return isinstance(getattr(value, "message", None), str) and hasattr(value, "cls_name")


def _from_exception(exc: BaseException) -> tuple[Problem, ...]:
    if isinstance(exc, ProblemError):
        return (exc.problem,)
    if isinstance(exc, SettingsError):
        return tuple(setting_problem(p) for p in exc.problems)
    if isinstance(exc, AiqAuthenticationError):
        return (_aiq_authentication(exc.code, exc.operation),)
    if isinstance(exc, AiqConfigurationError):
        return (Problem("AIQ settings", exc.message, _named_settings(exc.message, "AIQ_REGION", prefix="AIQ_")),)
    if isinstance(exc, BunnyConfigurationError):
        return (bunny_configuration_problem(exc.message),)
    if isinstance(exc, StoreConnectionError):
        return (Problem("store", str(exc), "AIQ_PIPELINE_STORE"),)
    return _dagster_env_unset(str(exc))


def _from_error_info(info: ErrorInfo) -> tuple[Problem, ...]:
    text = _message_of(info)
    name = info.cls_name
    if name == SettingsError.__name__:
        named = [v for v in dict.fromkeys(_VARIABLE.findall(text)) if v in VARIABLES]
        return (Problem("settings", text, ", ".join(named) or None),)
    if name == AiqAuthenticationError.__name__:
        operation, _, rest = text.partition(": ")
        code = re.match(r"\[([A-Z0-9_]+)\]", rest)
        return (_aiq_authentication(code.group(1) if code else None, operation if rest else None),)
    if name == AiqConfigurationError.__name__:
        return (Problem("AIQ settings", text, _named_settings(text, "AIQ_REGION", prefix="AIQ_")),)
    if name == BunnyConfigurationError.__name__:
        return (bunny_configuration_problem(text.removeprefix("oauth/token: ")),)
    if name == StoreConnectionError.__name__:
        return (Problem("store", text, "AIQ_PIPELINE_STORE"),)
    line = _LINE.fullmatch(text)  # a ProblemError (or a subclass) carries the line itself
    if line is not None:
        return (Problem(line["name"], line["detail"], line["setting"]),)
    return _dagster_env_unset(text)


def _aiq_authentication(code: str | None, operation: str | None) -> Problem:
    if code in ENTITY_CODES and operation not in TOKEN_OPERATIONS:
        return aiq_entity_refused_problem(code)
    return aiq_credentials_problem(code)


def _dagster_env_unset(text: str) -> tuple[Problem, ...]:
    match = _DAGSTER_ENV_UNSET.search(text)
    if match is None:
        return ()
    name = match.group(1)
    if name in VARIABLES:
        return (setting_problem(missing_problem(name)),)
    # A variable a pairs file names with { env = "NAME" } (the resources reference the pair's own variables).
    return (Problem("settings", f"environment variable {name} is not set", name),)


def _message_of(info: ErrorInfo) -> str:
    """`module.Class: message` (how Dagster serialises an exception) without the class, on one line."""
    text = " ".join(info.message.split())
    if info.cls_name:
        head, sep, rest = text.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == info.cls_name:
            return rest
    return text


def _named_settings(message: str, default: str, *, prefix: str) -> str:
    named = [v for v in dict.fromkeys(_VARIABLE.findall(message)) if v in VARIABLES and v.startswith(prefix)]
    return " / ".join(named) or default
