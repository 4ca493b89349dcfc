"""One kept-alive HTTP/1.1 connection, for the signed POSTs of aws_json.py.

``http.client`` imports the ``email`` package to parse headers (its parser, feed
parser, policies and utilities: ~15 ms of every cold start, a forged pixel's largest
cost after Chalice). AWS's JSON APIs need only this much of HTTP/1.1: a POST with a
``Content-Length``, and an answer with a status line, headers, and a body sized by
``Content-Length`` or sent chunked. tests/integration run every store through it against
moto (werkzeug) and dynalite (node's HTTP server); tests/unit/test_http11.py gives it
answers cut and shaped every way a server may send them.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import BinaryIO, cast

MAX_LINE = 65_536  # a status or header line longer than this is not an AWS answer
MAX_HEADERS = 100
# A connection idle longer than this is opened again before a request: Lambda freezes a
# container between invocations, and a connection the network dropped meanwhile would
# hold the request until its read timeout instead of failing at once.
MAX_IDLE_SECONDS = 30.0


class BrokenAnswer(ConnectionError):
    """The server closed the connection or sent something that is not HTTP/1.1: the
    request may or may not have been applied (retry only what is idempotent)."""


class Answer:
    """A status, its headers (names in lower case) and its body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def read_answer(stream: BinaryIO) -> tuple[Answer, bool]:
    """One answer from ``stream``, and whether the connection stays open after it."""
    line = stream.readline(MAX_LINE + 1)
    if not line:
        raise BrokenAnswer("the server closed the connection")
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BrokenAnswer(f"not an HTTP/1.1 status line: {line[:80]!r}")
    version, status = parts[0], int(parts[1])
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = stream.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n"):
            break
        if not line or len(line) > MAX_LINE or b":" not in line:
            raise BrokenAnswer(f"a broken header line: {line[:80]!r}")
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise BrokenAnswer("too many header lines")
    keep = version != b"HTTP/1.0" and headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _chunked(stream)
    elif "content-length" in headers:
        length = headers["content-length"]
        if not length.isdigit():
            raise BrokenAnswer(f"a broken Content-Length: {length!r}")
        body = _exactly(stream, int(length))
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:  # sized by the end of the connection
        body, keep = stream.read(), False
    return Answer(status, headers, body), keep


def _exactly(stream: BinaryIO, size: int) -> bytes:
    body = stream.read(size)
    if len(body) != size:
        raise BrokenAnswer(f"the answer ended after {len(body)} of {size} bytes")
    return body


def _chunked(stream: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = stream.readline(MAX_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BrokenAnswer(f"a broken chunk size: {line[:80]!r}") from None
        if size == 0:
            break
        chunks.append(_exactly(stream, size))
        if _exactly(stream, 2) != b"\r\n":
            raise BrokenAnswer("a chunk not ended by CRLF")
    for _ in range(MAX_HEADERS + 1):  # trailers, then the blank line
        line = stream.readline(MAX_LINE + 1)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(chunks)
    raise BrokenAnswer("too many trailer lines")


class Connection:
    """POSTs to one host, on one socket kept open between them (not thread-safe: one
    per thread). ``connect_timeout`` bounds the connection (and TLS handshake),
    ``read_timeout`` each wait for the server."""

    def __init__(
        self, host: str, port: int, tls: bool, connect_timeout: float, read_timeout: float
    ) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._socket: socket.socket | None = None
        self._stream: BinaryIO | None = None
        self._used_at = 0.0

    def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if self._stream is not None and time.monotonic() - self._used_at > MAX_IDLE_SECONDS:
            self.close()
        stream = self._open()
        head = f"POST {path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        message = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        try:
            assert self._socket is not None
            self._socket.sendall(message)
            answer, keep = read_answer(stream)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        self._used_at = time.monotonic()
        return answer

    def _open(self) -> BinaryIO:
        if self._stream is None:
            # An ASCII host as bytes: getaddrinfo encodes a str with the "idna" codec,
            # whose import (stringprep, unicodedata) is a millisecond of a cold start.
            host: str | bytes = self._host.encode() if self._host.isascii() else self._host
            address = cast("tuple[str, int]", (host, self._port))  # bytes work: see above
            sock = socket.create_connection(address, self._connect_timeout)
            try:
                if self._tls:
                    import ssl  # lazy: a local emulator speaks plain HTTP

                    context = ssl.create_default_context()
                    sock = context.wrap_socket(sock, server_hostname=self._host)
                sock.settimeout(self._read_timeout)
            except BaseException:
                sock.close()
                raise
            self._socket, self._stream = sock, sock.makefile("rb")
        return self._stream

    def close(self) -> None:
        stream, sock = self._stream, self._socket
        self._stream = self._socket = None
        if stream is not None:
            stream.close()
        if sock is not None:
            sock.close()
