"""Operator commands, run against whatever AWS endpoint the environment points to
(``AWS_ENDPOINT_URL`` for the local emulator, or your AWS credentials).

    python -m tools.admin api-key --account acme [--from billing@acme.test]
    python -m tools.admin keys create --account acme [--name ci]   # the secret, once
    python -m tools.admin keys list --account acme                 # ids, names, times
    python -m tools.admin keys revoke --account acme --id key_...  # stops within 5 s
    python -m tools.admin sends list-unsettled [--account acme]  # claimed, outcome unknown
    python -m tools.admin sends release <invoice> <recipient> [--force]  # mark it failed
    python -m tools.admin unprocessed list
    python -m tools.admin unprocessed replay [--id <id>] [--delete]
    python -m tools.admin account --account acme [--tracking off] [--retention-days 90] ...
    python -m tools.admin reclassify          # re-judge every stored open with today's rules
    python -m tools.admin reports --account acme [--reminders on] [--reminder-after-days 3] ...
    python -m tools.admin run-schedule --now --account acme   # digest, reminders, alerts now
    python -m tools.admin run-schedule [--at 2026-12-01T06:00:00Z] [--job hourly|alerts|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from chalicelib import container
from chalicelib.accounts import keys as account_keys
from chalicelib.accounts import service as account_service
from chalicelib.alerts import delivery as alert_delivery
from chalicelib.core.model import utc_now
from chalicelib.errors import DomainError
from chalicelib.reports import service as report_jobs
from chalicelib.sending import claims as send_claims
from chalicelib.settings import get_settings
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    key = commands.add_parser("api-key", help="create an account (if needed) and an API key")
    key.add_argument("--account", required=True)
    key.add_argument("--from", dest="from_address", help="the account's sender (SES identity)")
    key.add_argument("--default-from", help="the sender for a new account when --from is absent")
    keys = commands.add_parser("keys", help="create, list or revoke an account's API keys")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("--account", required=True)
    keys.add_argument("--name", default="", help="create: what the key is for")
    keys.add_argument("--id", dest="key_id", help="revoke: the key's id (key_...)")
    sends = commands.add_parser("sends", help="list or release sends whose outcome is unknown")
    sends.add_argument("action", choices=["list-unsettled", "release"])
    sends.add_argument("invoice", nargs="?", help="release: the invoice id")
    sends.add_argument("recipient", nargs="?", help="release: the recipient's id or email")
    sends.add_argument("--account", help="list-unsettled: only this account's invoices")
    sends.add_argument("--force", action="store_true", help="release a claim < 15 min old")
    unprocessed = commands.add_parser("unprocessed", help="list or replay kept SNS payloads")
    unprocessed.add_argument("action", choices=["list", "replay"])
    unprocessed.add_argument("--id", help="only this item")
    unprocessed.add_argument("--delete", action="store_true", help="delete once processed")
    unprocessed.add_argument("--limit", type=int, default=100)
    account = commands.add_parser("account", help="show or change an account's settings")
    account.add_argument("--account", required=True)
    account.add_argument("--name")
    account.add_argument("--reply-to")
    account.add_argument("--report-address")
    account.add_argument("--time-zone", help="an IANA zone such as Europe/Madrid")
    account.add_argument("--locale", help="en or es")
    account.add_argument("--tracking", choices=["on", "off"], help="pixel and view beacon")
    account.add_argument("--retention-days", type=int, help="tracking data kept this long")
    commands.add_parser("reclassify", help="recompute every stored open's verdict")
    _add_report_commands(commands)
    args = parser.parse_args(argv)

    settings = get_settings()
    try:
        if args.command == "api-key":
            new_key = account_service.create_api_key(
                container.account_store(settings),
                utc_now(),
                args.account,
                args.from_address,
                default_sender=args.default_from,
            )
            print(
                f"API key for account {args.account!r} (shown once, keep it secret):",
                file=sys.stderr,
            )
            print(new_key)
            return 0
        if args.command == "keys":
            return _keys(args)
        if args.command == "sends":
            return _sends(args)
        if args.command == "account":
            return _account(args)
        if args.command == "reports":
            return _reports(args)
        if args.command == "run-schedule":
            return _run_schedule(args)
        if args.command == "reclassify":
            ids = container.all_invoice_ids(settings)
            print(json.dumps(tracking_service.reclassify(container.context(), ids)))
            return 0
        return _unprocessed(args)
    except DomainError as exc:
        print(f"error: {exc.message} {json.dumps(exc.details)}", file=sys.stderr)
        return 2


def _keys(args: argparse.Namespace) -> int:
    store = container.account_store(get_settings())
    if args.action == "create":
        key, secret = account_keys.create_key(store, utc_now(), args.account, args.name)
        print(f"API key {key.id} for account {args.account!r} (shown once):", file=sys.stderr)
        print(secret)
        return 0
    if args.action == "list":
        found = account_keys.list_keys(store, args.account)
        print(json.dumps([account_keys.key_view(k) for k in found], indent=2))
        return 0
    if not args.key_id:
        print("error: revoke needs --id key_...", file=sys.stderr)
        return 2
    key = account_keys.revoke_key(store, utc_now(), args.account, args.key_id)
    print(json.dumps(account_keys.key_view(key), indent=2))
    return 0


def _sends(args: argparse.Namespace) -> int:
    """Send claims whose outcome was never recorded (docs/DESIGN.md, "Sending once"):
    listed, or released (the recipient becomes ``failed``, so the next POST /send mails
    them again: the operator decides that a second mail is the lesser risk)."""
    settings = get_settings()
    claims = container.all_unsettled_sends(settings)
    if args.action == "list-unsettled":
        found = send_claims.list_unsettled(container.context(), claims, args.account)
        for unsettled in found:
            print(json.dumps(asdict(unsettled)))
        print(f"{len(found)} unsettled send(s)", file=sys.stderr)
        return 0
    if not (args.invoice and args.recipient):
        print("error: release needs <invoice> <recipient>", file=sys.stderr)
        return 2
    released = send_claims.release_claims(
        container.context(), claims, args.invoice, args.recipient, utc_now(), args.force
    )
    for unsettled in released:
        print(json.dumps({**asdict(unsettled), "released": True}))
    return 0


def _account(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {
        name: getattr(args, name)
        for name in ("name", "reply_to", "report_address", "time_zone", "locale", "retention_days")
        if getattr(args, name) is not None
    }
    if args.tracking is not None:
        changes["tracking"] = args.tracking == "on"
    store = container.account_store(get_settings())
    account = (
        account_service.update_account(store, args.account, changes)
        if changes
        else store.get_account(args.account)
    )
    if account is None:
        print(f"error: no account {args.account!r}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(account), indent=2))
    return 0


# -- reports, reminders and alerts (issue "Reports, reminders, alerts and evidence") ----


def _add_report_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reports = commands.add_parser("reports", help="show or change an account's report settings")
    reports.add_argument("--account", required=True)
    reports.add_argument("--digest-when-quiet", choices=["on", "off"])
    reports.add_argument("--unopened-after-days", type=int)
    reports.add_argument("--reminders", choices=["on", "off"])
    reports.add_argument("--reminder-after-days", type=int)
    reports.add_argument("--reminder-max", type=int)
    reports.add_argument("--alert-emails", choices=["on", "off"])
    run = commands.add_parser(
        "run-schedule", help="run the scheduled jobs once (no EventBridge locally)"
    )
    run.add_argument("--now", action="store_true", help="one account, now: see --account")
    run.add_argument("--account", help="with --now: the account (digest of the last 24 h)")
    run.add_argument(
        "--at", help="the hourly job as at this time (ISO 8601); alerts always run now"
    )
    run.add_argument("--job", choices=["hourly", "alerts", "all"], default="all")


def _reports(args: argparse.Namespace) -> int:
    from chalicelib.accounts.service import update_report_settings
    from chalicelib.accounts.settings import REPORT_SETTINGS

    changes: dict[str, object] = {}
    for name, setting in REPORT_SETTINGS.items():
        value = getattr(args, name)
        if value is not None:
            changes[name] = value == "on" if setting.kind is bool else value
    store = container.account_store(get_settings())
    account = (
        update_report_settings(store, args.account, changes)
        if changes
        else store.get_account(args.account)
    )
    if account is None:
        print(f"error: no account {args.account!r}", file=sys.stderr)
        return 2
    # Accounts written before the scheduled jobs existed join their directory here.
    container.report_store(get_settings()).list_account(account.id)
    shown = ["report_address", "time_zone", "locale", *REPORT_SETTINGS]
    print(json.dumps({name: getattr(account, name) for name in shown}, indent=2))
    return 0


def _run_schedule(args: argparse.Namespace) -> int:
    import dataclasses
    import secrets

    from chalicelib.core.model import parse_iso

    settings = get_settings()
    signed = bool(settings.token_secret or settings.token_secret_parameter)
    if not signed:
        # Reminders carry tracking links signed with the API's secret; without it they
        # would not verify. Digests and alerts need no secret.
        print(
            "note: SOBRE_TOKEN_SECRET is not set, so reminders are skipped "
            "(set it to the API's secret to send them)",
            file=sys.stderr,
        )
        settings = dataclasses.replace(settings, token_secret=secrets.token_urlsafe(32))
    now = parse_iso(args.at) if args.at else utc_now()
    ctx = dataclasses.replace(container.build_context(settings), clock=lambda: now)
    jobs = container.build_jobs(ctx)
    if args.now:
        if not args.account:
            print("error: --now needs --account", file=sys.stderr)
            return 2
        print(json.dumps(report_jobs.run_now(jobs, args.account, reminders=signed)))
        return 0
    outcome: dict[str, object] = {}
    if args.job in ("hourly", "all"):
        outcome["hourly"] = (
            report_jobs.run_hourly(jobs) if signed else "skipped: no SOBRE_TOKEN_SECRET"
        )
    if args.job in ("alerts", "all"):
        # Always at the real time: the queue's cursor must never move past the present,
        # or alerts recorded until then would be skipped.
        live = dataclasses.replace(jobs, ctx=dataclasses.replace(ctx, clock=utc_now))
        outcome["alerts"] = alert_delivery.run_alerts(live)
    print(json.dumps(outcome))
    return 0


def _unprocessed(args: argparse.Namespace) -> int:
    store = container.unprocessed_store(get_settings())
    items = [i for i in store.list_unprocessed(args.limit) if args.id in (None, i["id"])]
    for item in items:
        if args.action == "list":
            print(
                json.dumps(
                    {"id": item["id"], "reason": item["reason"], "payload": item["payload"][:300]}
                )
            )
            continue
        outcome = ses_service.replay_payload(container.context(), item["payload"])
        print(f"{item['id']}: {outcome}")
        if args.delete and not outcome.startswith("unprocessable"):
            store.delete_unprocessed(item["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
