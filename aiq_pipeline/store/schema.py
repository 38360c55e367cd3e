"""The project's tables, as DDL both DuckDB and PostgreSQL accept.

- Snapshot tables keep history: each materialization appends rows under a new `snapshot_id`; the `*_current`
  views show each entity's latest one.
- `posting_journal`: one row per thing the product writes to AIQ (a document, an allocation, a customer), keyed
  by AIQ entity and the write's reference. It holds the write's state, every attempt's count and time, and AIQ's
  id the moment AIQ returns it: the ground truth of exactly-once.
- `posting_claims`: who is posting a document (a partition key) right now, until when. A claim is taken
  atomically before any write and released after.
- `posting_outcomes`: each document's latest outcome (posted, already posted, skipped, failed with the reason),
  for every kind: the sync ledger finance can query.
- `exception_dismissals`: the audit trail of dismissing exceptions (who, when, why); rows are only ever added, an
  undismiss is a row too. `dismissed_documents` shows the documents whose newest row dismisses them.
- `alert_messages`, `alert_deliveries`, `alerted_exceptions`: each alert sent about new or cleared exceptions,
  its delivery to each channel, and which exceptions it covered, so nothing is sent twice.

Money columns are DECIMAL(18,2) and come back as `Decimal`; timestamps are naive UTC.
"""

from __future__ import annotations

import hashlib

# table -> (column, SQL type) pairs; every snapshot table also has snapshot_id, snapshot_at, entity_id.
SNAPSHOT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "aiq_gl_accounts": (
        ("code", "VARCHAR NOT NULL"),
        ("description", "VARCHAR"),
        ("account_type", "VARCHAR"),
        ("is_active", "BOOLEAN"),
        ("is_departmental", "BOOLEAN"),
        ("is_posting", "BOOLEAN"),
        ("currency_code", "VARCHAR"),
        ("gl_category", "VARCHAR"),
        ("gl_sub_category", "VARCHAR"),
        ("gl_category_type_description", "VARCHAR"),
        ("balance_sheet_type", "VARCHAR"),
    ),
    "aiq_tax_codes": (
        ("code", "VARCHAR NOT NULL"),
        ("description", "VARCHAR"),
        ("rate", "DECIMAL(9,4)"),
        ("is_default", "BOOLEAN"),
    ),
    "aiq_periods": (
        ("period_id", "INTEGER"),
        ("period_number", "INTEGER"),
        ("period_name", "VARCHAR"),
        ("financial_year", "INTEGER"),
        ("start_date", "DATE"),
        ("end_date", "DATE"),
        ("sales_ledger_closed", "BOOLEAN"),
    ),
    "bunny_financial_accounts": (
        ("id", "VARCHAR NOT NULL"),
        ("code", "VARCHAR"),
        ("name", "VARCHAR"),
        ("account_type", "VARCHAR"),
        ("active", "BOOLEAN"),
        ("default_account", "BOOLEAN"),
        ("external_id", "VARCHAR"),
        ("source", "VARCHAR"),
    ),
    "gl_mapping": (
        ("charge_id", "VARCHAR NOT NULL"),
        ("charge_code", "VARCHAR"),
        ("charge_name", "VARCHAR"),
        ("account_code", "VARCHAR"),
        ("resolved_from", "VARCHAR"),
        ("problem_code", "VARCHAR"),
        ("problem", "VARCHAR"),
    ),
    # Monthly Bunny-vs-AIQ reconciliation: per run, one `summary` row, one `totals` row per kind and currency, one
    # `difference` row per differing document. Read the latest snapshot per month.
    "period_reconciliation": (
        ("month", "VARCHAR NOT NULL"),
        ("bunny_entity_id", "VARCHAR"),
        ("row_type", "VARCHAR NOT NULL"),
        ("passed", "BOOLEAN"),
        ("kind", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("problem", "VARCHAR"),
        ("external_reference", "VARCHAR"),
        ("bunny_id", "VARCHAR"),
        ("bunny_number", "VARCHAR"),
        ("aiq_transaction_ids", "VARCHAR"),
        ("bunny_count", "INTEGER"),
        ("aiq_count", "INTEGER"),
        ("bunny_net", "DECIMAL(18,2)"),
        ("bunny_tax", "DECIMAL(18,2)"),
        ("bunny_gross", "DECIMAL(18,2)"),
        ("aiq_net", "DECIMAL(18,2)"),
        ("aiq_tax", "DECIMAL(18,2)"),
        ("aiq_gross", "DECIMAL(18,2)"),
        ("detail", "VARCHAR"),
    ),
    # The money of the same run, once payments sync: one `bank_day` row per day, bank account, currency and kind
    # (receipts | refunds), one `difference` row per payment or refund that differs. Read the latest per month.
    "bank_reconciliation": (
        ("month", "VARCHAR NOT NULL"),
        ("bunny_entity_id", "VARCHAR"),
        ("row_type", "VARCHAR NOT NULL"),
        ("passed", "BOOLEAN"),
        ("kind", "VARCHAR"),
        ("day", "DATE"),
        ("bank_account", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("problem", "VARCHAR"),
        ("external_reference", "VARCHAR"),
        ("bunny_id", "VARCHAR"),
        ("processor", "VARCHAR"),
        ("bunny_day", "DATE"),
        ("aiq_day", "DATE"),
        ("bunny_bank", "VARCHAR"),
        ("aiq_bank", "VARCHAR"),
        ("aiq_transaction_ids", "VARCHAR"),
        ("bunny_count", "INTEGER"),
        ("aiq_count", "INTEGER"),
        ("other_count", "INTEGER"),
        ("bunny_amount", "DECIMAL(18,2)"),
        ("aiq_amount", "DECIMAL(18,2)"),
        ("other_amount", "DECIMAL(18,2)"),
        ("detail", "VARCHAR"),
    ),
    # Each customer's AIQ balance against Bunny's amount due, as at `as_of` (the month in progress only): one row per
    # customer compared, `passed` false where it differs or is on one side only.
    "customer_balance_reconciliation": (
        ("month", "VARCHAR NOT NULL"),
        ("bunny_entity_id", "VARCHAR"),
        ("as_of", "DATE"),
        ("passed", "BOOLEAN"),
        ("customer_code", "VARCHAR"),
        ("currency", "VARCHAR"),
        ("problem", "VARCHAR"),
        ("bunny_amount_due", "DECIMAL(18,2)"),
        ("aiq_balance", "DECIMAL(18,2)"),
        ("aiq_outstanding", "DECIMAL(18,2)"),
        ("aiq_other_outstanding", "DECIMAL(18,2)"),
        ("bunny_accounts", "VARCHAR"),
        ("invoices", "INTEGER"),
        ("payments", "INTEGER"),
        ("detail", "VARCHAR"),
    ),
}

JOURNAL_DDL = """CREATE TABLE IF NOT EXISTS posting_journal (
    entity_id VARCHAR NOT NULL, reference VARCHAR NOT NULL, claim_key VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    target VARCHAR NOT NULL, state VARCHAR NOT NULL, aiq_id BIGINT, found_by VARCHAR,
    attempts INTEGER NOT NULL, sent_at TIMESTAMP, sent_by VARCHAR, recorded_at TIMESTAMP,
    lookup_lag_seconds DECIMAL(12,3), currency VARCHAR, net DECIMAL(18,2), tax DECIMAL(18,2), gross DECIMAL(18,2),
    sent_summary VARCHAR, document VARCHAR, last_error VARCHAR, updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (entity_id, reference))"""

CLAIMS_DDL = """CREATE TABLE IF NOT EXISTS posting_claims (
    entity_id VARCHAR NOT NULL, claim_key VARCHAR NOT NULL, owner VARCHAR, owner_process VARCHAR,
    claimed_at TIMESTAMP, lease_until TIMESTAMP, PRIMARY KEY (entity_id, claim_key))"""

OUTCOME_COLUMNS = (
    "kind",
    "source_id",
    "number",
    "outcome",
    "customer_code",
    "external_reference",
    "aiq_transaction_id",
    "currency",
    "net",
    "tax",
    "gross",
    "aiq_gross",
    "reason_code",
    "reason",
    "fix",
    "retryable",
    "posted_at",
    "run_id",
)

OUTCOMES_DDL = """CREATE TABLE IF NOT EXISTS posting_outcomes (
    entity_id VARCHAR NOT NULL, claim_key VARCHAR NOT NULL, kind VARCHAR NOT NULL, source_id VARCHAR,
    number VARCHAR, outcome VARCHAR NOT NULL, customer_code VARCHAR, external_reference VARCHAR,
    aiq_transaction_id BIGINT, currency VARCHAR, net DECIMAL(18,2), tax DECIMAL(18,2), gross DECIMAL(18,2),
    aiq_gross DECIMAL(18,2), reason_code VARCHAR, reason VARCHAR, fix VARCHAR, retryable BOOLEAN,
    posted_at TIMESTAMP, run_id VARCHAR, attempts INTEGER NOT NULL, first_attempt_at TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP NOT NULL, PRIMARY KEY (entity_id, claim_key))"""

# One row per dismiss or undismiss of a document on the exceptions list (never updated, never deleted). `scope` is
# the document asset's partitions name (a storage key), `document_key` its partition key; kind, number and
# reason_code say what the exception was when it was dismissed. `entry_id` sorts in time order.
DISMISSALS_DDL = """CREATE TABLE IF NOT EXISTS exception_dismissals (
    entry_id VARCHAR NOT NULL PRIMARY KEY, scope VARCHAR NOT NULL, document_key VARCHAR NOT NULL,
    action VARCHAR NOT NULL, reason VARCHAR, actor VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL,
    via VARCHAR NOT NULL, kind VARCHAR, number VARCHAR, reason_code VARCHAR)"""

DISMISSED_VIEW = """CREATE OR REPLACE VIEW dismissed_documents AS
    SELECT scope, document_key, reason, actor, recorded_at, via, kind, number, reason_code FROM (
        SELECT *, ROW_NUMBER() OVER (
            PARTITION BY scope, document_key ORDER BY recorded_at DESC, entry_id DESC) AS newest
        FROM exception_dismissals) latest
    WHERE newest = 1 AND action = 'dismissed'"""

# Alerts: a message (a digest of new exceptions, or a note of cleared ones) is written once, then delivered to each
# channel configured when it was written; a channel that is down keeps its delivery `pending` for a later tick.
# `channel` is a fingerprint of the channel's URL (never the URL, which may hold a password or token).
ALERT_MESSAGES_DDL = """CREATE TABLE IF NOT EXISTS alert_messages (
    message_id VARCHAR NOT NULL PRIMARY KEY, pair VARCHAR NOT NULL, kind VARCHAR NOT NULL, title VARCHAR NOT NULL,
    body VARCHAR NOT NULL, documents INTEGER NOT NULL, created_at TIMESTAMP NOT NULL)"""

ALERT_DELIVERIES_DDL = """CREATE TABLE IF NOT EXISTS alert_deliveries (
    message_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, channel_name VARCHAR NOT NULL, state VARCHAR NOT NULL,
    attempts INTEGER NOT NULL, last_attempt_at TIMESTAMP, sent_at TIMESTAMP, last_error VARCHAR,
    PRIMARY KEY (message_id, channel))"""

# An exception alerted once stays open (cleared_at NULL) while it is failing, whatever its reason becomes; it is
# cleared when the document is posted or dismissed. A document that fails again after that is a new exception.
ALERTED_EXCEPTIONS_DDL = """CREATE TABLE IF NOT EXISTS alerted_exceptions (
    pair VARCHAR NOT NULL, scope VARCHAR NOT NULL, document_key VARCHAR NOT NULL, kind VARCHAR, number VARCHAR,
    reason_code VARCHAR, message_id VARCHAR NOT NULL, alerted_at TIMESTAMP NOT NULL, cleared_at TIMESTAMP,
    cleared_as VARCHAR, cleared_message_id VARCHAR, PRIMARY KEY (pair, scope, document_key, alerted_at))"""

STATEMENTS: list[str] = [
    *(
        f"""CREATE TABLE IF NOT EXISTS {table} (
            snapshot_id VARCHAR NOT NULL, snapshot_at TIMESTAMP NOT NULL, entity_id VARCHAR NOT NULL,
            {", ".join(f"{name} {sql_type}" for name, sql_type in columns)})"""
        for table, columns in SNAPSHOT_TABLES.items()
    ),
    *(
        # The latest snapshot of each entity: pairs may share a store.
        f"""CREATE OR REPLACE VIEW {table}_current AS
            SELECT * FROM {table} t WHERE snapshot_id = (
                SELECT snapshot_id FROM {table} s WHERE s.entity_id = t.entity_id
                ORDER BY snapshot_at DESC, snapshot_id DESC LIMIT 1)"""
        for table in SNAPSHOT_TABLES
    ),
    JOURNAL_DDL,
    CLAIMS_DDL,
    OUTCOMES_DDL,
    """CREATE OR REPLACE VIEW posting_exceptions AS
        SELECT entity_id, claim_key, kind, number, reason_code, reason, fix, retryable, attempts, last_attempt_at,
               run_id
        FROM posting_outcomes WHERE outcome = 'failed'""",
    DISMISSALS_DDL,
    DISMISSED_VIEW,
    ALERT_MESSAGES_DDL,
    ALERT_DELIVERIES_DDL,
    ALERTED_EXCEPTIONS_DDL,
]

# Changes whenever the DDL above changes, so a new release re-applies it once (under a lock) on PostgreSQL.
FINGERPRINT = hashlib.sha256("\n".join(STATEMENTS).encode()).hexdigest()[:16]
