"""Operator commands, run against whatever AWS endpoint the environment points to
(``AWS_ENDPOINT_URL`` for the local emulator, or your AWS credentials).

    python -m tools.admin api-key --account acme [--from billing@acme.test]
    python -m tools.admin unprocessed list
    python -m tools.admin unprocessed replay [--id <id>] [--delete]
    python -m tools.admin account --account acme [--tracking off] [--retention-days 90] ...
    python -m tools.admin reclassify          # re-judge every stored open with today's rules
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from chalicelib import dynamo, service
from chalicelib.errors import DomainError
from chalicelib.model import utc_now
from chalicelib.settings import get_settings


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
    args = parser.parse_args(argv)

    settings = get_settings()
    dynamo.configure(settings.table_name, settings.aws_region)
    try:
        if args.command == "api-key":
            new_key = service.create_api_key(
                dynamo.DynamoAccountStore(),
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
        if args.command == "account":
            return _account(args)
        if args.command == "reclassify":
            from chalicelib.container import context

            store = dynamo.DynamoInvoiceStore(settings.retention_days)
            print(json.dumps(service.reclassify(context(), store.invoice_ids())))
            return 0
        return _unprocessed(args)
    except DomainError as exc:
        print(f"error: {exc.message} {json.dumps(exc.details)}", file=sys.stderr)
        return 2


def _account(args: argparse.Namespace) -> int:
    changes: dict[str, object] = {
        name: getattr(args, name)
        for name in ("name", "reply_to", "report_address", "time_zone", "locale", "retention_days")
        if getattr(args, name) is not None
    }
    if args.tracking is not None:
        changes["tracking"] = args.tracking == "on"
    store = dynamo.DynamoAccountStore()
    account = (
        service.update_account(store, args.account, changes)
        if changes
        else store.get_account(args.account)
    )
    if account is None:
        print(f"error: no account {args.account!r}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(account), indent=2))
    return 0


def _unprocessed(args: argparse.Namespace) -> int:
    from chalicelib.container import context

    store = dynamo.DynamoUnprocessedStore(get_settings().retention_days)
    items = [i for i in store.list_unprocessed(args.limit) if args.id in (None, i["id"])]
    for item in items:
        if args.action == "list":
            print(
                json.dumps(
                    {"id": item["id"], "reason": item["reason"], "payload": item["payload"][:300]}
                )
            )
            continue
        outcome = service.replay_payload(context(), item["payload"])
        print(f"{item['id']}: {outcome}")
        if args.delete and not outcome.startswith("unprocessable"):
            store.delete_unprocessed(item["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
