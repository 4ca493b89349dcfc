"""Findings 1 to 3 of issue 15 (mail sent twice, display-name injection, 5xx on input),
tried against the local stack by ``tools.attack``."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time

from tools.attack import CREATED, Stack, Verdict

PIXEL = re.compile(r'src="[^"]*(/t/[A-Za-z0-9_-]+\.gif)"')
VIEW = re.compile(r'href="[^"]*(/v/[A-Za-z0-9_-]+)"')
SEND_AGAIN = 3


def mailed_paths(stack: Stack, address: str) -> tuple[str, str]:
    """The pixel and view paths of the first message to ``address``."""
    deadline = time.monotonic() + 15
    while True:
        rows = [r for r in stack.outbox() if address.lower() in (t.lower() for t in r["to"])]
        if rows:
            html = stack.message_part(rows[0]["id"], "html")
            pixel, view = PIXEL.search(html), VIEW.search(html)
            if pixel and view:
                return pixel[1], view[1]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no message to {address} in the outbox")
        time.sleep(0.3)


def _bad_recipients(stack: Stack) -> dict[str, tuple[dict[str, str], tuple[str, ...]]]:
    """label -> (the recipient, the addresses the emulator could list it under)."""
    idn = stack.address("ana", "bücher.example")
    idn_ascii = stack.address("ana", "xn--bcher-kva.example")
    return {
        "CR/LF in the name": (
            {"email": stack.address("crlf"), "name": f"Ana\r\nBcc: {stack.address('bcc')}"},
            (stack.address("crlf"), stack.address("bcc")),
        ),
        "IDN domain": ({"email": idn, "name": "Ana"}, (idn, idn_ascii)),
        "non-ASCII local part": (
            {"email": f"josé-{stack.run}@customer.example"},
            (f"josé-{stack.run}@customer.example",),
        ),
        "lone surrogate in the name": (
            {"email": stack.address("surrogate"), "name": "\ud800"},
            (stack.address("surrogate"),),
        ),
    }


def mail_sent_twice(stack: Stack) -> Verdict:
    """Finding 1: each awkward recipient after a good one, then POST /send three times;
    no 5xx, and nobody gets more than one copy."""
    verdict = Verdict()
    tried: list[tuple[str, str, tuple[str, ...], list[int]]] = []
    for label, (bad, addresses) in _bad_recipients(stack).items():
        good = stack.address("first" + label.split()[0].lower().replace("/", ""))
        created = stack.post_json("/invoices", stack.invoice_body([{"email": good}, bad]))
        statuses = [created.status]
        if created.status in CREATED:
            invoice_id = created.json()["id"]
            for _ in range(SEND_AGAIN):
                stack.settled(invoice_id)  # each /send after the queue has run the last
                statuses.append(stack.request("POST", f"/invoices/{invoice_id}/send").status)
            detail = stack.settled(invoice_id)
            waiting = [
                r["email"] for r in detail["recipients"] if r["status"] in ("pending", "queued")
            ]
            if waiting:
                verdict.fail(f"{label}: still waiting after {SEND_AGAIN} sends: {waiting}")
        code = (created.json() or {}).get("error", {}).get("code", "")
        tried.append((f"{label}: {created.status} {code}".strip(), good, addresses, statuses))
    copies = stack.copies(a for _, good, addresses, _ in tried for a in (good, *addresses))
    for label, good, addresses, statuses in tried:
        mine = {a.lower(): copies[a.lower()] for a in (good, *addresses) if copies[a.lower()]}
        if any(s >= 500 for s in statuses):
            verdict.fail(f"{label}: answers {statuses}")
        if any(n > 1 for n in mine.values()):
            verdict.fail(f"{label}: copies {mine} after {statuses}")
        elif statuses[0] in CREATED and mine.get(good.lower()) != 1:
            verdict.fail(f"{label}: the first recipient got {mine.get(good.lower(), 0)} copies")
        else:
            shown = (
                f"then {statuses[1:]}, mailed once each"
                if statuses[0] in CREATED
                else "nobody mailed"
            )
            verdict.hold(f"{label}, {shown}")
    return verdict


def display_name_injection(stack: Stack) -> Verdict:
    """Finding 2: ``Zoë <attacker@evil.example>, x`` as a name must never add a
    destination or an address to the To header."""
    verdict = Verdict()
    attacker = stack.address("attacker", "evil.example")
    names = [
        f"Zoë <{attacker}>, x",
        f'"Zoë" <{attacker}>',
        f"Zoë, {attacker}",
        f"=?utf-8?q?{attacker}?=",
        "Zoë Müller-O'Brien (AP)",  # accepted: one encoded name of one address
    ]
    answered: dict[str, tuple[str, int]] = {}
    for n, name in enumerate(names):
        zoe = stack.address(f"zoe{n}")
        created = stack.post_json("/invoices", stack.invoice_body([{"email": zoe, "name": name}]))
        answered[zoe.lower()] = (name, created.status)
        verdict.check(created.status < 500, "", f"{name!r}: {created.status}")
    for row in stack.outbox():
        if attacker.lower() in (t.lower() for t in row["to"]):
            verdict.fail(f"the attacker's address is a destination: {row['to']}")
        mailed = [t.lower() for t in row["to"] if t.lower() in answered]
        if not mailed:
            continue
        zoe = mailed[0]
        raw = stack.request("GET", f"/messages/{row['id']}.eml", key="", url=stack.outbox_url)
        parsed = email.message_from_bytes(raw.body, policy=email.policy.default)
        to = [a.addr_spec.lower() for a in parsed["To"].addresses]
        name = answered[zoe][0]
        verdict.check(to == [zoe], f"{name!r}: To {to}", f"{name!r}: To {to}, {row['to']}")
    told = ", ".join(f"{name!r}: {status}" for name, status in answered.values())
    verdict.evidence.insert(0, f"{told}; no destination or To address added")
    return verdict


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _shape(verdict: Verdict, label: str, answer_status: int, sobre: bool, size: int) -> None:
    ok = answer_status < 500 and sobre
    verdict.check(
        ok,
        f"{label}: {answer_status} ({size} B)",
        f"{label}: {answer_status}, {'Sobre' if sobre else 'not Sobre'}'s shape, {size} B",
    )


def input_5xx(stack: Stack) -> Verdict:
    """Finding 3: deep JSON on the three JSON routes, 415 and 405 in Sobre's shape, a
    ~2 MB body of unknown keys answered small, an invoice too large to store a 4xx."""
    verdict = Verdict()
    seed = stack.address("seed")
    created = stack.post_json("/invoices", stack.invoice_body([{"email": seed}]))
    if created.status not in CREATED:
        verdict.fail(f"a plain invoice answered {created.status}")
        return verdict
    _, view = mailed_paths(stack, seed)
    depth = 5_000 if stack.fast else 100_000
    for path in ("/invoices", "/webhooks", f"{view}/seen"):
        answer = stack.request("POST", path, _deep(depth))
        # The beacon answers 204 to any body, recorded or not (it tells nothing).
        beacon = path.endswith("/seen") and answer.status == 204
        _shape(
            verdict,
            f"{depth}-deep JSON to /{path.split('/')[1]}{'/…/seen' if beacon else ''}",
            answer.status,
            answer.sobre_shaped() or beacon,
            len(answer.body),
        )
    text = stack.request("POST", "/invoices", b"{}", {"Content-Type": "text/plain"})
    _shape(
        verdict,
        "text/plain",
        text.status,
        text.sobre_shaped() and text.status == 415,
        len(text.body),
    )
    put = stack.request("PUT", "/invoices", b"{}")
    _shape(
        verdict,
        "PUT /invoices",
        put.status,
        put.sobre_shaped() and put.status == 405,
        len(put.body),
    )
    unknown: dict[str, int] = {}
    size, n = 0, 0
    while size < 1_990_000:
        name = f"unknown_key_{n:07d}_{'x' * 40}"
        unknown[name] = n
        size += len(name) + 12
        n += 1
    body = json.dumps(unknown).encode()
    answer = stack.request("POST", "/invoices", body)
    verdict.check(
        answer.status == 400 and answer.sobre_shaped() and len(answer.body) < 100_000,
        f"{len(body) / 1e6:.2f} MB of unknown keys: {answer.status}, {len(answer.body)} B",
        f"{len(body) / 1e6:.2f} MB of unknown keys: {answer.status}, {len(answer.body)} B",
    )
    big_lines = [{"description": "😀" * 500, "quantity": "1", "unit_price": "0.50"}] * 200
    big = stack.post_json("/invoices", stack.invoice_body([{"email": seed}], lines=big_lines))
    verdict.check(
        big.status in (400, 413) and big.sobre_shaped(),
        f"an invoice of 400 KB stored: {big.status}",
        f"an invoice of 400 KB stored: {big.status} (a retry can never succeed)",
    )
    return verdict
