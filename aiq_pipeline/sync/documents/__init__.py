"""One planner per document kind: a Bunny document -> the AIQ documents to post (pure).

- `plan`: what a planner returns (`PostingPlan`, `Skip`, `Wait`) and the planned documents and lines
- `context`: what a planner is given (`PlanContext`: ledger, mapping, settings, customer, posted documents)
- `invoice`, `credit_note`: the planners; `lines`, `rates`, `dating`: the rules they share
"""
