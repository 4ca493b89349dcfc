"""``chalice local`` with a listen backlog big enough for a burst of pixel fetches.

``chalice local`` serves each connection in a thread but listens with socketserver's
default backlog of 5, so a burst of connections (a gateway fetching every image of a
batch of mails at once, or the benchmark's 200 concurrent pixels) is refused or made to
retry. API Gateway has no such queue; the local stack should not invent one.

    python -m infra.chalice_local local --port 8000 --stage local
"""

from __future__ import annotations

import socketserver
import sys

LISTEN_BACKLOG = 1024


def main() -> int:
    from chalice.cli import main as chalice_main

    socketserver.TCPServer.request_queue_size = LISTEN_BACKLOG
    sys.argv[0] = "chalice"
    return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
