"""Section 5: concurrent pixel requests against the local stack (``chalice local`` on a
free port + the moto server), every response checked and every open counted, latency
as a ratio to ``GET /health`` fired the same way in the same run.

The client fires each burst from one thread per request, released together by a
barrier, so the burst really is concurrent. Everything (client, ``chalice local``,
moto or dynalite) shares this machine's CPUs.

``chalice local`` serves each connection in a thread (``ThreadingMixIn``) but listens
with ``socketserver``'s default backlog of 5: a burst of 200 connections overflows it
and the kernel makes the rest retry their SYN (1 s, 3 s, 7 s, … up to ~2 min), or resets
them. That is the dev server, not API Gateway + Lambda, so each burst runs twice:

* ``stock``: Chalice's own ``chalice local`` as any Chalice project runs it (DynamoDB
  on moto), with a 15 s client timeout so the section stays short;
* ``backlog 1024``: the same command with ``socketserver.TCPServer.request_queue_size``
  raised before it starts — what ``make run`` serves (infra/chalice_local.py) —, on moto
  and on dynalite, to measure Sobre rather than the accept queue.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.core import ROOT, Backends, Mode, Row, dynamodb_at, percentile, progress, verdict
from bench.fixtures import USER_AGENT, sent_invoice, store_copies, tokens_for

SECTION = "5 concurrency (chalice local)"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    seconds: float  # from connect() to the last byte of the response
    connect_seconds: float  # connect() alone: waiting in (or for) the listen queue
    error: str | None = None

    @property
    def served_seconds(self) -> float:
        """From the connection being accepted to the last byte."""
        return self.seconds - self.connect_seconds

    @property
    def is_gif(self) -> bool:
        return (
            self.status == 200
            and self.content_type == "image/gif"
            and self.body.startswith(b"GIF89a")
            and len(self.body) == 43
        )


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 120) -> Answer:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    began = time.perf_counter()
    connected = began
    try:
        connection.connect()
        connected = time.perf_counter()
        connection.request("GET", f"{parts.path}?{parts.query}".rstrip("?"), headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Answer(
            response.status,
            response.getheader("Content-Type", ""),
            body,
            time.perf_counter() - began,
            connected - began,
        )
    except Exception as exc:  # counted, not raised: the burst goes on
        return Answer(
            0,
            "",
            b"",
            time.perf_counter() - began,
            connected - began,
            f"{type(exc).__name__}: {exc}",
        )
    finally:
        connection.close()


def burst(
    urls: list[str], headers: dict[str, str] | None, timeout: float
) -> tuple[list[Answer], float]:
    """All ``urls`` at once; (answers, wall seconds of the burst)."""
    barrier = threading.Barrier(len(urls))

    def one(url: str) -> Answer:
        barrier.wait()
        return fetch(url, headers, timeout)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        answers = list(pool.map(one, urls))
    return answers, time.perf_counter() - began


def latency(answers: list[Answer], served: bool = False) -> dict[str, float]:
    ms = [(a.served_seconds if served else a.seconds) * 1000 for a in answers]
    return {
        "p50_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
    }


def _lat_text(stats: dict[str, float]) -> str:
    return f"{stats['p50_ms']:.0f}/{stats['p95_ms']:.0f}/{stats['p99_ms']:.0f} ms"


def _not_recorded(log: Path) -> int:
    """How many pixel requests so far logged that their open was not recorded."""
    time.sleep(0.2)  # the server's last log lines
    return log.read_text(errors="replace").count("pixel open not recorded")


STOCK_TIMEOUT = 15.0
BACKLOG = 1024
RAISE_BACKLOG = (
    "import socketserver, sys; socketserver.TCPServer.request_queue_size = {backlog}; "
    "from chalice.cli import main; sys.argv[0] = 'chalice'; sys.exit(main())"
)


def run(mode: Mode, stack_env: dict[str, str], work: Path, backends: Backends) -> list[Row]:
    progress("stock chalice local, DynamoDB on moto")
    with dynamodb_at(None):
        rows = _run_on(mode, stack_env, work, "moto", None, hot=False, timeout=STOCK_TIMEOUT)
    for name, url in backends.dynamodb():
        progress(f"chalice local with a listen backlog of {BACKLOG}, DynamoDB on {name}")
        with dynamodb_at(url):
            rows.extend(_run_on(mode, stack_env, work, name, BACKLOG, hot=True, timeout=120))
    return rows


def _run_on(
    mode: Mode,
    stack_env: dict[str, str],
    work: Path,
    backend: str,
    backlog: int | None,
    hot: bool,
    timeout: float,
) -> list[Row]:
    from bench.dynamo_requests import make_key
    from tests.emulators import free_port, wait_for_http

    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {**os.environ, **stack_env, "SOBRE_BASE_URL": api, "PYTHONUNBUFFERED": "1"}
    if backlog is None:
        command = [str(Path(sys.executable).parent / "chalice")]
    else:
        command = [sys.executable, "-c", RAISE_BACKLOG.format(backlog=backlog)]
    command += ["local", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--stage", "local", "--no-autoreload"]
    server_name = "stock" if backlog is None else f"backlog {backlog}"
    tag = f"[{backend}, {server_name}]"
    log_path = work / f"chalice-local-{backend}-{backlog}.log"
    n = mode.concurrent
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{api}/health", timeout=60)
            key = make_key()
            auth = {"Authorization": f"Bearer {key}"}
            pixel_headers = {"User-Agent": USER_AGENT, "Accept": "image/webp,*/*"}
            two = ["ana@globex.example", "luis@globex.example"]
            spread = store_copies(sent_invoice(two), n // 2)
            hot_invoice = store_copies(sent_invoice(two), 1)
            warm = store_copies(sent_invoice(["warm@globex.example"]), 1)
            # Warm the server: its first pixel builds the Context and the botocore client.
            for token in tokens_for(warm):
                assert fetch(f"{api}/t/{token}.gif", pixel_headers).is_gif
            for _ in range(3):
                fetch(f"{api}/health")

            health, health_wall = burst([f"{api}/health"] * n, None, timeout)
            spread_urls = [f"{api}/t/{t}.gif" for t in tokens_for(spread)]
            spread_answers, spread_wall = burst(spread_urls, pixel_headers, timeout)
            lost_spread = _not_recorded(log_path)
            hot_tokens = tokens_for(hot_invoice)
            if hot:
                hot_urls = [f"{api}/t/{hot_tokens[i % 2]}.gif" for i in range(n)]
                hot_answers, hot_wall = burst(hot_urls, pixel_headers, timeout)
            else:
                hot_answers, hot_wall = [], 0.0
            lost_hot = _not_recorded(log_path) - lost_spread

            time.sleep(1)  # requests the client gave up on may still be finishing
            spread_opens = [_opens(api, auth, i.id) for i in spread]
            spread_counted = sum(o[0] for o in spread_opens)
            spread_person = sum(o[1] for o in spread_opens)
            hot_counted, hot_person = _opens(api, auth, hot_invoice[0].id)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()

    health_ok = sum(a.status == 200 for a in health)
    h, h_served = latency(health), latency(health, served=True)
    rows = [
        Row(
            SECTION,
            f"{tag} {n} concurrent GET /health",
            f"{health_ok}/{n} OK; {_timing(health, h, h_served)}; {health_wall:.1f} s",
            data={
                "latency": h,
                "served": h_served,
                "ok": health_ok,
                "burst_s": round(health_wall, 3),
            },
        )
    ]
    bursts = [
        (f"{tag} {n} concurrent pixels, {len(spread)} invoices x 2", spread_answers,
         spread_wall, spread_counted, spread_person, len(spread), lost_spread),
        (f"{tag} {n} concurrent pixels, one invoice", hot_answers, hot_wall, hot_counted,
         hot_person, 1, lost_hot),
    ]  # fmt: skip
    for label, answers, wall, counted, person, invoices, lost in bursts:
        if not answers:
            continue
        gifs = sum(a.is_gif for a in answers)
        errors = sorted({a.error for a in answers if a.error})
        stats, served = latency(answers), latency(answers, served=True)
        ok = gifs == n and counted == n
        rows.append(
            Row(
                SECTION,
                label,
                f"{gifs}/{n} GIF, {counted}/{n} opens recorded; "
                f"{_timing(answers, stats, served)}; {wall:.1f} s",
                "all GIF, each open recorded once",
                verdict(ok),
                {
                    "gifs": gifs,
                    "recorded": counted,
                    "open_count_api": person,
                    "invoices": invoices,
                    "latency": stats,
                    "served": served,
                    "burst_s": round(wall, 3),
                    "errors": errors[:5],
                    "logged_not_recorded": lost,
                },
            )
        )
        if lost:
            rows[-1].value += f"; {lost} logged 'pixel open not recorded'"
        ratios = {
            f"{kind}_{p}_ratio": round(mine[f"{p}_ms"] / max(base[f"{p}_ms"], 1e-6), 2)
            for kind, mine, base in (("total", stats, h), ("served", served, h_served))
            for p in ("p50", "p95", "p99")
        }
        rows.append(
            Row(
                SECTION,
                "  latency / GET /health, same burst size",
                "p50 {total_p50_ratio:.1f}x, p95 {total_p95_ratio:.1f}x, "
                "p99 {total_p99_ratio:.1f}x".format(**ratios),
                data=ratios,
            )
        )
    return rows


def _opens(api: str, auth: dict[str, str], invoice_id: str) -> tuple[int, int]:
    """(pixel opens among the invoice's events, the API's open_count: person opens)."""
    recorded, cursor = 0, ""
    while True:  # the events, a page of 500 at a time
        query = f"limit=500&cursor={cursor}" if cursor else "limit=500"
        answer = fetch(f"{api}/invoices/{invoice_id}/events?{query}", auth)
        assert answer.status == 200, answer
        page = json.loads(answer.body)
        recorded += sum(1 for e in page["items"] if e["type"] == "open" and e["source"] == "pixel")
        if not page["next"]:
            break
        cursor = urllib.parse.quote(page["next"])
    answer = fetch(f"{api}/invoices/{invoice_id}", auth)
    assert answer.status == 200, answer
    return recorded, int(json.loads(answer.body)["open_count"])


def _timing(answers: list[Answer], total: dict[str, float], served: dict[str, float]) -> str:
    slow_connects = sum(a.connect_seconds >= 0.9 for a in answers)
    text = f"p50/p95/p99 {_lat_text(total)}"
    if slow_connects:
        text += f" ({_lat_text(served)} once connected; {slow_connects} waited ≥ 1 s to connect)"
    return text
