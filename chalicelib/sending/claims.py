"""Send claims an operator settles (``tools.admin sends list-unsettled | release``).

A claim without an outcome is a send (or a reminder) that took its claim and never
recorded SES's answer: a crash or a timeout between SendEmail and the record. Nothing
mails that recipient again for that attempt, by design (docs/DESIGN.md, "Sending
once"); the operator sees it here and decides. **Release** settles it as failed with an
unknown outcome (``core.sends.RELEASED``): the recipient's status becomes ``failed``
with that reason, so the next ``POST /invoices/{id}/send`` mails them as the next
attempt — a second mail if SES did take the first, which is why only an operator
releases, never a retry. A released reminder counts as sent (its number is used) and is
not sent again. A claim younger than ``RELEASE_AFTER`` may still be in flight and is
released only when forced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import recording
from chalicelib.context import Context
from chalicelib.core.model import Invoice, Recipient, iso, parse_iso
from chalicelib.core.sends import RELEASED, SendClaim, SendOutcome
from chalicelib.core.status import Fact
from chalicelib.errors import Conflict, NotFound
from chalicelib.sending.delivery import outcome_fact, reminder_fact

# A Lambda function runs at most 15 minutes: a claim older than that has no holder.
RELEASE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Unsettled:
    invoice_id: str
    account_id: str
    number: str
    recipient_id: str
    email: str
    status: str  # the recipient's, now
    kind: str  # "send" or "reminder"
    attempt: int  # the send attempt, or the reminder's number
    claimed_at: str


def list_unsettled(
    ctx: Context, claims: Iterable[tuple[str, SendClaim]], account_id: str | None = None
) -> list[Unsettled]:
    """The unsettled claims (of ``account_id``'s invoices only, when given), oldest
    first. A claim of an invoice that no longer exists is left out."""
    found: list[Unsettled] = []
    invoices: dict[str, Invoice | None] = {}
    for invoice_id, claim in claims:
        if invoice_id not in invoices:
            invoices[invoice_id] = ctx.invoices.get(invoice_id)
        invoice = invoices[invoice_id]
        if invoice is None or account_id not in (None, invoice.account_id):
            continue
        recipient = next((r for r in invoice.recipients if r.id == claim.recipient_id), None)
        found.append(
            Unsettled(
                invoice.id,
                invoice.account_id,
                invoice.number,
                claim.recipient_id,
                recipient.email if recipient else "",
                recipient.status if recipient else "",
                "reminder" if claim.reminder else "send",
                claim.attempt,
                claim.claimed_at,
            )
        )
    return sorted(found, key=lambda u: (u.claimed_at, u.invoice_id, u.recipient_id))


def release_claims(
    ctx: Context,
    claims: Iterable[tuple[str, SendClaim]],
    invoice_id: str,
    recipient: str,
    now: datetime,
    force: bool = False,
) -> list[Unsettled]:
    """Release the unsettled claims of one recipient (its id or its email) of one
    invoice: each settled as failed with an unknown outcome and that fact recorded.
    409 when there is none, when one may still be in flight (unless ``force``)."""
    invoice = ctx.invoices.get(invoice_id)
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id}.")
    target = _named_recipient(invoice, recipient)
    mine = [
        u
        for u in list_unsettled(ctx, claims)
        if u.invoice_id == invoice.id and u.recipient_id == target.id
    ]
    if not mine:
        raise Conflict(
            "This recipient has no unsettled send.",
            {"invoice_id": invoice.id, "recipient_id": target.id, "status": target.status},
        )
    young = [u.claimed_at for u in mine if parse_iso(u.claimed_at) > now - RELEASE_AFTER]
    if young and not force:
        raise Conflict(
            "The send may still be in flight: wait until 15 minutes after its claim, or force.",
            {"claimed_at": young},
        )
    outcome = SendOutcome(iso(now), reason=RELEASED)
    facts: list[Fact] = []
    for unsettled in mine:
        reminder = unsettled.kind == "reminder"
        settled = ctx.invoices.settle_send(
            invoice.id, target.id, unsettled.attempt, outcome, reminder, unsettled_only=True
        )
        if not settled:  # its holder recorded the outcome meanwhile: nothing to release
            continue
        facts.append(_fact(target.id, unsettled.attempt, outcome, reminder))
    if facts:
        recording.record(ctx, invoice.id, facts)
    ctx.metrics.count("SendsReleased", len(facts))
    return mine


def _named_recipient(invoice: Invoice, wanted: str) -> Recipient:
    for recipient in invoice.recipients:
        if wanted in (recipient.id, recipient.email) or wanted.lower() == recipient.email:
            return recipient
    raise NotFound(f"No recipient {wanted} on invoice {invoice.id}.")


def _fact(recipient_id: str, attempt: int, outcome: SendOutcome, reminder: bool) -> Fact:
    if reminder:
        return reminder_fact(recipient_id, attempt, outcome, "released")
    return outcome_fact(recipient_id, attempt, outcome)
