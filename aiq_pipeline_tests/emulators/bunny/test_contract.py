"""The executable schema is Bunny's own SDL, and scopes come from its docstrings."""

from __future__ import annotations

from graphql import build_schema, print_schema

from aiq_emulators.bunny.executable import bunny_schema, required_scopes
from aiq_emulators.bunny.schema import SDL_PATH
from aiq_pipeline_tests.reference import reference_file

REFERENCE = reference_file("bunny")
CONTRACT = SDL_PATH.parent


def test_vendored_sdl_and_licence_equal_the_reference_byte_for_byte():
    reference = REFERENCE
    assert (CONTRACT / "schema.graphql").read_bytes() == (reference / "schema.graphql").read_bytes()
    assert (CONTRACT / "LICENSE-schema").read_bytes() == (reference / "LICENSE-schema").read_bytes()


def test_executable_schema_prints_exactly_as_the_vendored_sdl():
    vendored = build_schema((CONTRACT / "schema.graphql").read_text(encoding="utf-8"))
    assert print_schema(bunny_schema()) == print_schema(vendored)
    assert set(bunny_schema().type_map) == set(vendored.type_map)


def test_e9_shapes_come_from_the_sdl():
    schema = bunny_schema()
    invoice = schema.type_map["Invoice"]
    assert "entityId" not in invoice.fields  # only `entity { id }`
    assert not any("external" in name.lower() for name in invoice.fields)
    assert invoice.fields["invoiceItems"].args == {}
    assert "invoiceIssue" not in schema.mutation_type.fields
    assert set(schema.query_type.fields["account"].args) == {"code", "id"}
    assert set(schema.query_type.fields["invoice"].args) == {"id"}


def test_scopes_parsed_from_docstrings_match_the_notes_table():
    scopes = required_scopes()
    query, mutation = scopes["query"], scopes["mutation"]
    for field in ("invoices", "invoice", "creditNotes", "creditNote", "financialAccounts", "financialAccount"):
        assert query[field] == ("billing:read",)
    for field in ("accounts", "account", "entities", "entity", "currencies", "currentUser"):
        assert query[field] == ("standard:read",)
    assert query["priceListCharges"] == query["priceListCharge"] == ("product:read",)
    for field in ("financialAccountCreate", "financialAccountUpdate", "financialAccountDelete", "invoiceVoid"):
        assert mutation[field] == ("billing:write",)
    assert mutation["invoiceRelease"] == ("standard:write",)
    assert mutation["priceListChargeUpdate"] == ("product:write",)
    assert query["webhookEvents"] == ("workflow:read",)
