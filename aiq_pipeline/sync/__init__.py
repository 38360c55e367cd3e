"""The pure sync domain: Bunny documents -> AIQ postings. No I/O, no Dagster, no client imports.

- `inputs`: Protocols for the client models the domain reads
- `money`: Decimal cents
- `identity`: AIQ customer codes and external references derived from Bunny ids
- `problems`: `Problem`, `ProblemCode`, `PreflightFailed`
- `customer`: the AIQ customer a Bunny account should be
- `gl_mapping`: charge -> AIQ account, validated against the AIQ chart
- `documents`: one planner per document kind (invoice, credit note, void reversal) -> the AIQ documents to post,
  or every reason they cannot be posted
- `financial_accounts`: the "Sync financial accounts" plan (AIQ chart -> Bunny financial accounts)
- `reconciliation`: posted AIQ totals vs the Bunny invoice
"""
