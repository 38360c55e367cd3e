"""The pure sync domain: Bunny documents -> AIQ postings. No I/O, no Dagster, no client imports.

- `inputs`: Protocols for the client models the domain reads
- `money`: Decimal cents
- `identity`: AIQ customer codes and external references derived from Bunny ids
- `problems`: `Problem`, `ProblemCode`, `PreflightFailed`
- `customer`: the AIQ customer a Bunny account should be
- `gl_mapping`: charge -> AIQ account, validated against the AIQ chart
- `invoice_posting`: `plan_invoice_posting` (the batch sales invoice, or every reason it cannot post)
- `financial_accounts`: the "Sync financial accounts" plan (AIQ chart -> Bunny financial accounts)
- `reconciliation`: posted AIQ totals vs the Bunny invoice
"""
