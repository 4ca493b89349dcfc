"""The pynamodb models of Sobre's single table, and ``MODELS``, every one of them.

The table itself is defined in infra/template.yaml; tests/unit/test_table_definition.py
keeps these models in step with it. Every model uses the table's primary key (pk, sk);
only the invoice item is projected into the two indexes. ``configure`` points them all
at the stage's table before first use.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

# What a status-list page returns: everything but the timeline and the long fields.
LIST_ATTRIBUTES = [
    "number",
    "customer_name",
    "currency",
    "total",
    "due_date",
    "status",
    "account_id",
    "created_at",
    "last_activity_at",
    "recipients",
]


class _Meta:
    table_name = "sobre"
    region = "us-east-1"
    billing_mode = "PAY_PER_REQUEST"


class _SameTable:
    """Use the invoice model's connection: one table, one client."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        return InvoiceItem._get_connection()


class ByStatusIndex(GlobalSecondaryIndex["InvoiceItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = IncludeProjection(LIST_ATTRIBUTES)

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByAccountIndex(GlobalSecondaryIndex["InvoiceItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_account"
        projection = IncludeProjection(LIST_ATTRIBUTES)

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class InvoiceItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # INVOICE
    gsi1pk = UnicodeAttribute()  # <account>#<status>#<shard>
    gsi1sk = UnicodeAttribute()  # last activity time, then id
    gsi2pk = UnicodeAttribute()  # <account>#<shard>
    gsi2sk = UnicodeAttribute()
    by_status = ByStatusIndex()
    by_account = ByAccountIndex()
    account_id = UnicodeAttribute()
    number = UnicodeAttribute()
    customer_name = UnicodeAttribute()
    currency = UnicodeAttribute()
    total = UnicodeAttribute()
    due_date = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    recipients = UnicodeAttribute()  # JSON list
    detail = UnicodeAttribute()  # JSON: the rest of the invoice
    events = BinaryAttribute(legacy_encoding=False)  # zlib JSON: the inline timeline
    expires_at = TTLAttribute()
    version = VersionAttribute()


class ArchivePageItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # EVENTS#<page>
    events = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute()


class ParkedFactItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # PARKED#<fact key>
    fact = UnicodeAttribute()  # JSON of status.Fact
    expires_at = TTLAttribute()


class PdfChunkItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # PDF#<invoice id>
    sk = UnicodeAttribute(range_key=True)  # <chunk:03d>
    data = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute()


class MessageRefItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # MSG#<SES message id>
    sk = UnicodeAttribute(range_key=True)  # MSG
    account_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    recipient_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class AccountItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNT#<id>
    sk = UnicodeAttribute(range_key=True)  # ACCOUNT
    data = UnicodeAttribute()  # JSON


class ApiKeyItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # APIKEY#<sha256>
    sk = UnicodeAttribute(range_key=True)  # APIKEY
    account_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)


class UnprocessedItem(Model):
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
    ArchivePageItem,
    ParkedFactItem,
    PdfChunkItem,
    MessageRefItem,
    AccountItem,
    ApiKeyItem,
    UnprocessedItem,
    AccountDirectoryItem,
    MarkerItem,
    TaskItem,
    QueueCursorItem,
    WebhookItem,
    DeliveryItem,
)


def configure(table_name: str, region: str) -> None:
    """Point every model at the stage's table (before first use)."""
    for model in MODELS:
        model.Meta.table_name = table_name
        model.Meta.region = region
