"""Every document the client sends is valid against Bunny's SDL and passes all values as variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate
from graphql.language import ArgumentNode, ObjectFieldNode, OperationDefinitionNode, VariableNode, visit
from graphql.language.visitor import Visitor

from aiq_pipeline.bunny import documents
from aiq_pipeline_tests.reference import reference_file

REPO = Path(__file__).resolve().parents[2]
SHARED_SDL = reference_file("bunny/schema.graphql")
VENDORED_SDL = REPO / "aiq_emulators" / "bunny" / "contract" / "schema.graphql"


def _schemas() -> list[Path]:
    return [SHARED_SDL, VENDORED_SDL]


@pytest.fixture(scope="module", params=_schemas(), ids=lambda p: p.parent.name)
def schema(request: pytest.FixtureRequest) -> GraphQLSchema:
    return build_schema(request.param.read_text(encoding="utf-8"))


def test_an_sdl_is_available() -> None:
    assert _schemas(), "neither the shared nor the vendored schema.graphql was found"


@pytest.mark.parametrize("document", documents.ALL_DOCUMENTS, ids=lambda d: d.operation)
def test_document_validates_against_bunny_schema(schema: GraphQLSchema, document: documents.Document) -> None:
    errors = validate(schema, parse(document.text))
    assert errors == [], [e.message for e in errors]


def test_validation_catches_an_unknown_field(schema: GraphQLSchema) -> None:
    # The check above is only worth something if it rejects what Bunny would reject.
    broken = documents.INVOICE.text.replace("number\n", "number\n    entityId\n", 1)
    assert broken != documents.INVOICE.text
    assert any("entityId" in e.message for e in validate(schema, parse(broken)))


@pytest.mark.parametrize("document", documents.ALL_DOCUMENTS, ids=lambda d: d.operation)
def test_document_metadata_matches_its_text(document: documents.Document) -> None:
    ast = parse(document.text)
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    operation = operations[0]
    assert operation.name is not None and operation.name.value == document.operation
    assert (operation.operation.value == "mutation") is document.mutation
    roots = [s.name.value for s in operation.selection_set.selections]  # type: ignore[attr-defined]
    assert roots == list(document.roots)


class _LiteralArguments(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.literals: list[str] = []

    def enter_argument(self, node: ArgumentNode, *_: object) -> None:
        if not isinstance(node.value, VariableNode):
            self.literals.append(node.name.value)

    def enter_object_field(self, node: ObjectFieldNode, *_: object) -> None:
        if not isinstance(node.value, VariableNode):
            self.literals.append(node.name.value)


@pytest.mark.parametrize("document", documents.ALL_DOCUMENTS, ids=lambda d: d.operation)
def test_every_argument_is_a_variable(document: documents.Document) -> None:
    visitor = _LiteralArguments()
    visit(parse(document.text), visitor)
    assert visitor.literals == []


def test_page_size_is_a_variable_capped_at_100() -> None:
    from aiq_pipeline.bunny.client import MAX_PAGE_SIZE

    assert MAX_PAGE_SIZE <= 100
    for document in (documents.INVOICES, documents.INVOICE_REFS, documents.CREDIT_NOTES):
        assert "first: $first" in document.text and "after: $after" in document.text
        assert "filter: $filter" in document.text


def test_literal_argument_check_detects_interpolated_values() -> None:
    visitor = _LiteralArguments()
    visit(parse('query { invoices(filter: "entityId = \'1\'") { totalCount } invoice(id: "7") { id } }'), visitor)
    assert visitor.literals == ["filter", "id"]
