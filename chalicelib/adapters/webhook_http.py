"""HTTP adapter for webhook deliveries: one POST, no redirects, a short timeout, and
only to addresses ``core.ssrf.address_problem`` allows.

The host name is resolved here, the addresses checked, and the connection made to the
checked address (TLS still verifies the certificate for the host name), so a name that
resolves to a public address when checked cannot be re-pointed inside (DNS rebinding)
between the check and the connection.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from chalicelib.core.ssrf import address_problem, url_problem
from chalicelib.core.webhooks import AttemptResult

Resolver = Callable[[str, int], list[str]]
TIMEOUT_SECONDS = 5.0


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class HttpWebhookPoster:
    """``ports.WebhookPoster`` over http.client. ``stage`` decides what is allowed
    (http://127.0.0.1 only on the local stage)."""

    def __init__(
        self, stage: str, timeout: float = TIMEOUT_SECONDS, resolver: Resolver = resolve
    ) -> None:
        self._stage = stage
        self._timeout = timeout
        self._resolve = resolver

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.monotonic()

        def result(status: int | None, error: str | None) -> AttemptResult:
            return AttemptResult(status, error, int((time.monotonic() - started) * 1000))

        problem = url_problem(url, self._stage)
        if problem:
            return result(None, f"URL not allowed: {problem}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        try:
            addresses = self._resolve(host, port)
        except OSError as exc:
            return result(None, f"cannot resolve {host}: {exc}")
        problem = address_problem(addresses, self._stage)
        if problem:
            return result(None, problem)
        connection_type = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
        connection = connection_type(host, addresses[0], port, self._timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read(300)
        except (OSError, http.client.HTTPException) as exc:
            return result(None, f"{type(exc).__name__}: {exc}"[:300])
        finally:
            connection.close()
        if 200 <= response.status < 300:
            return result(response.status, None)
        text = answer.decode("utf-8", "replace").strip() or response.reason
        return result(response.status, text[:200])
