"""The answers http11.read_answer must read as a server may send them: sized by
Content-Length, chunked (with extensions and trailers), to the end of the connection,
with no body; and what it must refuse rather than misread: a closed connection, a
truncated body, a line that is not HTTP."""

from __future__ import annotations

import io

import pytest

from chalicelib.adapters.http11 import BrokenAnswer, read_answer

JSON = b'{"Item":{"pk":{"S":"INVOICE#1"}}}'


def read(raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    stream = io.BytesIO(raw)
    answer, keep = read_answer(stream)
    return answer.status, answer.headers, answer.body, keep


def test_a_sized_answer_keeps_the_connection_and_leaves_the_next_one() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: " + str(len(JSON)).encode() + b"\r\n"
        b"x-amzn-RequestId: ABC\r\n\r\n" + JSON + b"HTTP/1.1 400 Bad Request\r\n"
    )
    stream = io.BytesIO(raw)
    answer, keep = read_answer(stream)
    assert (answer.status, answer.body, keep) == (200, JSON, True)
    assert answer.headers["x-amzn-requestid"] == "ABC"  # names in lower case
    assert stream.read() == b"HTTP/1.1 400 Bad Request\r\n"  # nothing of the next read


def test_a_chunked_answer_is_joined() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\n"
        + JSON[:5]
        + b"\r\n"
        + f"{len(JSON) - 5:x}".encode()
        + b"\r\n"
        + JSON[5:]
        + b"\r\n"
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    assert read(raw)[2] == JSON


@pytest.mark.parametrize(
    ("raw", "keep"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", True),
    ],
)
def test_the_server_says_whether_the_connection_stays(raw: bytes, keep: bool) -> None:
    assert read(raw)[2:] == (b"{}", keep)


def test_an_unsized_answer_ends_with_the_connection() -> None:
    assert read(b"HTTP/1.1 500 Oops\r\n\r\n" + JSON)[::2] == (500, JSON)
    assert read(b"HTTP/1.1 500 Oops\r\n\r\n" + JSON)[3] is False


def test_no_body_answers() -> None:
    assert read(b"HTTP/1.1 204 No Content\r\n\r\n")[2:] == (b"", True)


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # the server had closed the kept-alive connection
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 OK 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + JSON[:10],  # cut short
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2",  # headers never end
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
)
def test_what_is_not_a_whole_answer_is_refused(raw: bytes) -> None:
    with pytest.raises(BrokenAnswer):
        read(raw)


def test_a_broken_answer_is_a_connection_error() -> None:
    # What the retries and the transient-error rules already know (ses_transient).
    assert issubclass(BrokenAnswer, ConnectionError)
