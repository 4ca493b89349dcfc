"""The pynamodb models of Sobre's single table, and ``MODELS``, every one of them.

The table itself is defined in infra/template.yaml; tests/unit/test_table_definition.py
keeps these models in step with it. Every model uses the table's primary key (pk, sk);
only the invoice's summary is projected into the index. ``configure`` points them all
at the stage's table before first use.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.adapters.dynamo import table

# What a list page returns: the summary's slim fields, never its recipients.
LIST_ATTRIBUTES = [
    "number",
    "customer_name",
    "currency",
    "total",
    "due_date",
    "status",
    "payment_status",
    "account_id",
    "created_at",
    "updated_at",
    "sent_at",
    "first_opened_at",
    "first_machine_open_at",
    "viewed_at",
    "problem_count",
    "recipient_count",
]


class _Meta:
    table_name = "sobre"
    region = "us-east-1"
    billing_mode = "PAY_PER_REQUEST"


class _SameTable:
    """Use the invoice model's connection: one table, one botocore session and client
    (a second pynamodb connection builds its own session, loading the endpoint and
    service data again: ~100 ms of a cold start)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        return InvoiceItem._get_connection()


class ByStatusIndex(GlobalSecondaryIndex["InvoiceItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = IncludeProjection(LIST_ATTRIBUTES)

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class InvoiceItem(Model):
    """The summary: the invoice's fields and its recipients' state, a few hundred bytes
    per recipient whatever the history."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # INVOICE
    gsi1pk = UnicodeAttribute()  # <account>#<status group>#<shard>
    gsi1sk = UnicodeAttribute()  # <updated_at>#<id>
    by_status = ByStatusIndex()
    account_id = UnicodeAttribute()
    number = UnicodeAttribute()
    customer_name = UnicodeAttribute()
    currency = UnicodeAttribute()
    total = UnicodeAttribute()
    due_date = UnicodeAttribute()
    status = UnicodeAttribute()
    payment_status = UnicodeAttribute(null=True)  # unpaid, paid, void
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    first_opened_at = UnicodeAttribute(null=True)
    first_machine_open_at = UnicodeAttribute(null=True)
    viewed_at = UnicodeAttribute(null=True)
    problem_count = NumberAttribute()
    recipient_count = NumberAttribute()
    recipients = UnicodeAttribute()  # JSON list: each recipient's state, no counters
    detail = UnicodeAttribute()  # JSON: the invoice's other small fields
    expires_at = TTLAttribute()
    version = VersionAttribute()


class ContentItem(_SameTable, Model):
    """What the invoice says (lines, subject, message, metadata): written once."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # INVOICE#CONTENT
    data = UnicodeAttribute()  # JSON, non-ASCII kept as UTF-8 (core/stored.py)
    expires_at = TTLAttribute()


class CountersItem(_SameTable, Model):
    """One recipient's counters, changed with ADD and conditional SETs (created by the
    first change). Read and written by the adapter with expressions."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # INVOICE#R#<recipient id>
    open_count = NumberAttribute(null=True)
    machine_open_count = NumberAttribute(null=True)
    click_count = NumberAttribute(null=True)
    last_opened_at = UnicodeAttribute(null=True)
    first_person_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class FactItem(_SameTable, Model):
    """One fact: an open, click, view, SES event, send outcome or reminder."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # F#<at>#<key>
    type = UnicodeAttribute()
    recipient_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute()
    details = UnicodeAttribute()  # JSON
    rev = NumberAttribute(default=0)  # re-judged this many times
    expires_at = TTLAttribute()


class NumberRefItem(_SameTable, Model):
    """Finds an invoice by its own number (exact or by prefix, case-insensitive): one
    small item per invoice, written with it, never changed; sharded like the index."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # NUMBER#<account>#<shard>
    sk = UnicodeAttribute(range_key=True)  # <number, case-folded>#<invoice id>
    number = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class MessageRefItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # MSG#<SES message id>
    sk = UnicodeAttribute(range_key=True)  # MSG
    account_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    recipient_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class AccountItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNT#<id>
    sk = UnicodeAttribute(range_key=True)  # ACCOUNT
    data = UnicodeAttribute()  # JSON


class ApiKeyItem(_SameTable, Model):
    """What authenticating a request reads: one GetItem by the secret's hash."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # APIKEY#<sha256>
    sk = UnicodeAttribute(range_key=True)  # APIKEY
    account_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)
    key_id = UnicodeAttribute(null=True)  # key_…; null for keys from before key ids
    name = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)


class AccountKeyItem(_SameTable, Model):
    """A key as its account lists it (a Query of ``ACCOUNT#<id>``, ``begins_with KEY#``);
    holds the secret's hash, to revoke by id, which no view ever shows."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNT#<id>
    sk = UnicodeAttribute(range_key=True)  # KEY#<key id>
    key_hash = UnicodeAttribute()
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)


class AuthFailureItem(_SameTable, Model):
    """Failed authentications of one client network in one minute (ADD; TTL)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # AUTHFAIL#<network /24 or /48>
    sk = UnicodeAttribute(range_key=True)  # <yyyy-mm-ddThh:mm>
    failures = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class UnprocessedItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # UNPROCESSED#<yyyy-mm-dd>
    sk = UnicodeAttribute(range_key=True)  # <received at>#<uuid>
    reason = UnicodeAttribute()
    payload = UnicodeAttribute()
    expires_at = TTLAttribute()


class AccountDirectoryItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNTS
    sk = UnicodeAttribute(range_key=True)  # <account id>


class MarkerItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DIGEST#<account>#<date>, REMINDER#..., ALERT#...
    sk = UnicodeAttribute(range_key=True)  # MARKER
    state = UnicodeAttribute()  # claimed, sent, quiet, skipped, failed
    at = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class TaskItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DUE#<yyyy-mm-ddThh of due time>
    sk = UnicodeAttribute(range_key=True)  # <due time>#<task id>
    kind = UnicodeAttribute()
    data = UnicodeAttribute()  # JSON
    expires_at = TTLAttribute()


class QueueCursorItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DUE
    sk = UnicodeAttribute(range_key=True)  # CURSOR
    position = UnicodeAttribute(null=True)  # sort key of the last task done
    lease_until = UnicodeAttribute(null=True)
    version = VersionAttribute()


class WebhookItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WEBHOOKS#<account>
    sk = UnicodeAttribute(range_key=True)  # <webhook id>
    data = UnicodeAttribute()  # JSON (the signing secret included: needed to sign)
    version = VersionAttribute()


class DeliveryItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WEBHOOK#<webhook id>
    sk = UnicodeAttribute(range_key=True)  # D#<event time>#<event id>
    data = UnicodeAttribute()  # JSON
    version = VersionAttribute()
    expires_at = TTLAttribute()


# Every model of the single table (configure() and the table-definition test use it).
MODELS: tuple[type[Model], ...] = (
    InvoiceItem,
    ContentItem,
    CountersItem,
    FactItem,
    NumberRefItem,
    MessageRefItem,
    AccountItem,
    ApiKeyItem,
    AccountKeyItem,
    AuthFailureItem,
    UnprocessedItem,
    AccountDirectoryItem,
    MarkerItem,
    TaskItem,
    QueueCursorItem,
    WebhookItem,
    DeliveryItem,
)


def configure(table_name: str, region: str) -> None:
    """Point every model, and the table's low-level client (table.py), at the stage's
    table (before first use)."""
    table.configure(table_name, region)  # which points the models (point_models)


def point_models(table_name: str, region: str) -> None:
    for model in MODELS:
        model.Meta.table_name = table_name
        model.Meta.region = region


point_models(table.name(), table.region())  # what was configured before they loaded
