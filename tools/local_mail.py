"""Mail that the local stack "sent": read from the AWS emulator's own store (moto keeps
every message SES accepted). Development only; never deployed.

    python -m tools.local_mail list
    python -m tools.local_mail pixel-url ana@globex.example
"""

from __future__ import annotations

import argparse
import email
import json
import re
import sys
import urllib.request
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

from chalicelib.settings import get_settings

PIXEL = re.compile(r'<img[^>]+src="([^"]+/t/[A-Za-z0-9_-]+\.gif)"')


@dataclass(frozen=True)
class LocalMessage:
    message_id: str
    to: str
    raw: str

    @property
    def parsed(self) -> Message:
        return email.message_from_string(self.raw)

    def html(self) -> str | None:
        for part in self.parsed.walk():
            if part.get_content_type() == "text/html":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload.decode(part.get_content_charset() or "utf-8")
        return None

    def pixel_url(self) -> str | None:
        found = PIXEL.search(self.html() or "")
        return found.group(1).replace("&amp;", "&") if found else None


def messages(endpoint: str) -> list[LocalMessage]:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json") as response:  # noqa: S310
        data = json.load(response)
    return [
        LocalMessage(m["id"], parseaddr(m["destinations"][0])[1], m["raw_data"])
        for m in data.get("ses", {}).get("RawMessage", [])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_mail", description=__doc__)
    parser.add_argument("command", choices=["list", "pixel-url"])
    parser.add_argument("address", nargs="?")
    args = parser.parse_args(argv)
    endpoint = get_settings().aws_endpoint_url
    if not endpoint:
        print("AWS_ENDPOINT_URL is not set: source .sobre/local.env first", file=sys.stderr)
        return 2
    found = messages(endpoint)
    if args.command == "list":
        for message in found:
            print(f"{message.message_id}  {message.to}  {message.parsed['Subject']}")
        return 0
    mine = [m for m in found if m.to.lower() == (args.address or "").lower()]
    if not mine or mine[-1].pixel_url() is None:
        print(f"no tracked message to {args.address}", file=sys.stderr)
        return 1
    print(mine[-1].pixel_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
