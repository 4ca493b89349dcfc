"""A webhook receiver for trying Sobre's alerts locally: it verifies each delivery's
signature and prints the event. Development only.

    python -m tools.webhook_receiver --port 9000 --secret <the webhook's secret>
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.core.webhooks import verify_signature


def serve(port: int, secret: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get("Sobre-Signature", "")
            valid = verify_signature(secret, signature, body, now=int(time.time()))
            self.send_response(204 if valid else 401)
            self.end_headers()
            event = json.loads(body or b"{}")
            verdict = "signature OK" if valid else "BAD SIGNATURE"
            print(f"{verdict}  {event.get('type')}  {event.get('id')}", flush=True)
            print(json.dumps(event, indent=2), flush=True)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"Listening on http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.webhook_receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the secret POST /webhooks returned")
    args = parser.parse_args(argv)
    serve(args.port, args.secret)
    return 0


if __name__ == "__main__":
    sys.exit(main())
