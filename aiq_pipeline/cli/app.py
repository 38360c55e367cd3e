"""The `aiq-pipeline` group and what every command shares: quiet libraries, settings problems as doctor's line
and exit code 4, and the Dagster instance.

Quiet by design: the command prints what was asked for and nothing else. Run as `aiq-pipeline`, it ignores
library warnings (Dagster's beta/preview notices, deprecations) and Dagster's own logger below ERROR, unless
Python is asked for warnings (`-W`, `PYTHONWARNINGS`). Tests that invoke `main` in-process keep their own
warning settings. A settings or connection problem ends in doctor's one line naming the setting, on stderr,
and exit code 4 (`service.problems`), never in a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from aiq_pipeline.service.problems import SETTINGS_PROBLEM_EXIT_CODE, describe_problems, setting_problem
from aiq_pipeline.settings import PAIR_VARIABLE, Settings, SettingsError, configured_pairs, read_settings

if TYPE_CHECKING:
    import dagster as dg  # for the annotation only: open_instance imports it when called

EXIT_CODES = (
    "Exit codes: 0 done; 1 something could not be posted, was interrupted or its outcome is unknown (see "
    "`aiq-pipeline exceptions`); 2 wrong usage; 3 the reconciliation it printed differs; "
    f"{SETTINGS_PROBLEM_EXIT_CODE} a settings or connection problem (one line names the setting to fix)."
)


def quiet_libraries() -> None:
    """No library warnings or Dagster notices on a user's terminal, unless Python was asked for warnings."""
    if sys.warnoptions:
        return
    warnings.simplefilter("ignore")  # BetaWarning, PreviewWarning, DeprecationWarning, UserWarning, ...
    logging.getLogger("dagster").setLevel(logging.ERROR)  # e.g. "No dagster instance configuration file"


class _Command(click.Group):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only the real command line comes through here (the console script calls the group); CliRunner
        # calls `main.main()` and so leaves the tests' warning filters alone.
        quiet_libraries()
        return super().__call__(*args, **kwargs)


P = ParamSpec("P")
R = TypeVar("R")


STRICT_SETTINGS = "aiq_pipeline.strict_settings"


def reports_setting_problems(*, strict: bool, check_first: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Settings or connection problems end in doctor's line(s) on stderr and exit code 4, not a traceback.

    `strict`: the command needs every setting (sync, retry, backfill). They are checked when the command
    opens the instance (`open_instance()`), after its own usage checks and before it does anything; or before
    the command starts at all with `check_first`. Whatever settings problem stops a strict command, every
    setting at fault is named, as doctor names them.
    """

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)  # keeps the signature click reads
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            click.get_current_context().meta[STRICT_SETTINGS] = strict
            try:
                if check_first:
                    Settings.from_env()
                return command(*args, **kwargs)
            except Exception as exc:
                problems = describe_problems(exc)
                if not problems:
                    raise
                wrong = read_settings().problems if strict else ()
                if wrong:  # name every setting at fault, not just the first one met
                    problems = (*map(setting_problem, wrong), *(p for p in problems if p.name != "settings"))
                for problem in problems:
                    click.echo(problem.line(), err=True)
                sys.exit(SETTINGS_PROBLEM_EXIT_CODE)

        return run

    return decorate


@click.group(cls=_Command, epilog=EXIT_CODES)
@click.option(
    "--pair",
    metavar="NAME",
    default=None,
    help="The pair (a [pairs.NAME] of AIQ_PIPELINE_PAIRS_FILE) the command works on; it sets AIQ_PIPELINE_PAIR. "
    "Needed when the pairs file configures several pairs; doctor without it checks every pair.",
)
def main(pair: str | None) -> None:
    """Keep a Bunny billing tenant and an AccountsIQ ledger in step."""
    if pair is not None:
        choose_pair(pair)


def configured_pairs_or_exit(*, err: bool = True) -> tuple[str, ...]:
    """The configured pairs; a pairs file that cannot be used ends in doctor's line(s) (on stderr, or with `err`
    False on stdout, where doctor reports) and exit code 4."""
    try:
        return configured_pairs()
    except SettingsError as exc:
        for problem in describe_problems(exc):
            click.echo(problem.line(), err=err)
        sys.exit(SETTINGS_PROBLEM_EXIT_CODE)


def choose_pair(pair: str) -> None:
    """Check `pair` against the configured pairs (a usage error listing them when unknown) and make it this
    process's pair (and its children's): AIQ_PIPELINE_PAIR."""
    names = configured_pairs_or_exit()
    if pair not in names:
        raise click.BadParameter(
            f"{pair!r} is not a configured pair; the pairs are: {', '.join(names)}", param_hint="'--pair'"
        )
    os.environ[PAIR_VARIABLE] = pair


def open_instance() -> dg.DagsterInstance:
    import dagster as dg  # here, lazily, to keep --help fast

    # Every setting the command needs, checked before anything runs (SettingsError names each one at fault).
    # The exceptions list lives in the Dagster instance, which DAGSTER_HOME names.
    strict = bool(click.get_current_context().meta.get(STRICT_SETTINGS))
    Settings.from_env(strict=strict).require_dagster_home()
    return dg.DagsterInstance.get()
