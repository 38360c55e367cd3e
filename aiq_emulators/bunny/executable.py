"""The executable schema: Bunny's SDL (`schema.py`) with the emulator's resolvers (`resolvers.py`), built once."""

from __future__ import annotations

import functools

from graphql import GraphQLSchema

from aiq_emulators.bunny.resolvers import attach_resolvers
from aiq_emulators.bunny.schema import build_sdl_schema, scopes_of


@functools.cache
def bunny_schema() -> GraphQLSchema:
    """The vendored SDL plus scalar behaviour and resolvers (built once per process)."""
    schema = build_sdl_schema()
    attach_resolvers(schema)
    return schema


@functools.cache
def required_scopes() -> dict[str, dict[str, tuple[str, ...]]]:
    """`{"query": {field: scopes}, "mutation": {field: scopes}}` read from the SDL docstrings."""
    schema = bunny_schema()
    return {"query": scopes_of(schema.query_type), "mutation": scopes_of(schema.mutation_type)}
