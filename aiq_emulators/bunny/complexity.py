"""The `combined_reads` reading (UNVERIFIED): does Bunny run a query that selects several root fields?

GraphQL runs them all, and graphql-ruby, Bunny's server, does too unless configured with a `max_complexity` (or
`max_depth`) the query exceeds: then it refuses the whole query before running any of it, HTTP 200 with
`{"errors": [{"message": "Query has complexity of 312, which exceeds max complexity of 300"}]}` and no `data`.
Under `combined_reads: "refused"` the emulator plays a limit that admits any one root field's selection and no
more. Complexity is counted as graphql-ruby's default does: one per field, fragments spread in.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)


def combined_refusal(document: DocumentNode, operation_name: str | None) -> str | None:
    """graphql-ruby's complexity error for a query selecting more than one root field, else None."""
    operation = _operation(document, operation_name)
    if operation is None or operation.operation != OperationType.QUERY:
        return None
    roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(roots) < 2:
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    costs = [1 + _complexity(root.selection_set, fragments) for root in roots]
    return f"Query has complexity of {sum(costs)}, which exceeds max complexity of {max(costs)}"


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == operation_name), None)


def _complexity(selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> int:
    total = 0
    for selection in selections.selections if selections else ():
        if isinstance(selection, FieldNode):
            total += 1 + _complexity(selection.selection_set, fragments)
        elif isinstance(selection, InlineFragmentNode):
            total += _complexity(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            total += _complexity(fragments[selection.name.value].selection_set, fragments)
    return total
