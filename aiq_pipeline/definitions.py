"""The code locations: `dagster dev -w workspace.yaml` (and `[tool.dg]`) load them from here. Nothing imports it.

`defs` is the one pair's: the environment's, the pairs file's only pair, or the one AIQ_PIPELINE_PAIR names. With a
pairs file of several pairs, each pair is a code location of its own, `defs_<pair>` (`aiq-pipeline workspace`
writes the workspace.yaml that lists them), so a pair whose settings are wrong cannot stop the others loading.
Each pair's definitions are built once per process, whichever name loads them.
"""

from functools import cache

import dagster as dg

from aiq_pipeline.defs.code_location import build_definitions, chosen_pair


@cache
def location(pair: str) -> dg.Definitions:
    return build_definitions(pair=pair)


if (_chosen := chosen_pair()) is not None:
    defs = location(_chosen)


def __getattr__(name: str) -> object:
    pair = name.removeprefix("defs_")
    if pair == name:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return location(pair)
