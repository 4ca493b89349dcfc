"""Findings 6, 7, 9, 10 and 11 of issue 15 (API keys, token rotation, IAM and
encryption, SSRF and the CSV guard, concurrent pixels), tried by ``tools.attack``."""

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.attack import ROOT, Stack, Verdict
from tools.attack_mail import mailed_paths

REVOCATION_SECONDS = 5.0
SSRF_URLS = [
    "https://127.1/hook",
    "https://0x7f.1/hook",
    "https://0177.0.0.1/hook",
    "https://2130706433/hook",
    "https://localhost./hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[2002:a9fe:a9fe::]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[2001:0:a9fe:a9fe::]/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/hook",
    "https://metadata.google.internal/hook",
    "https://xn--localhost-.example/hook",
]
# = and its fullwidth and small forms, + and fullwidth +, - and the minus sign, @ and
# fullwidth @, and = after a blank, a tab or a CR.
CSV_SIGNS = [
    "=",
    "\uff1d",
    "\ufe66",
    "+",
    "\uff0b",
    "-",
    "\u2212",
    "@",
    "\uff20",
    " =",
    "\t=",
    "\r=",
]


def _until_refused(stack: Stack, key: str) -> float | None:
    """Seconds until ``key`` answers 401 (None: still working after the bound + 2 s)."""
    started = time.monotonic()
    while time.monotonic() - started < REVOCATION_SECONDS + 2:
        if stack.request("GET", "/invoices?limit=1", key=key).status == 401:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def api_keys(stack: Stack) -> Verdict:
    """Finding 6: a key revoked by DELETE /keys or by the operator stops within 5 s;
    100 wrong keys in a row meet a 429 with Retry-After (run last: it blocks the
    network for the rest of its minute)."""
    from chalicelib import container
    from chalicelib.accounts import keys as account_keys
    from chalicelib.core.model import utc_now
    from chalicelib.settings import get_settings

    verdict = Verdict()
    for how in ("DELETE /keys/{id}", "tools.admin keys revoke"):
        created = stack.post_json("/keys", {"name": f"{stack.run} {how}"})
        if created.status != 201:
            verdict.fail(f"POST /keys: {created.status}")
            return verdict
        key = created.json()
        works = stack.request("GET", "/invoices?limit=1", key=key["key"]).status
        if how.startswith("DELETE"):
            revoked = stack.request("DELETE", f"/keys/{key['id']}").status
        else:
            store = container.account_store(get_settings())
            account_keys.revoke_key(store, utc_now(), "demo", key["id"])
            revoked = 204
        refused_after = _until_refused(stack, key["key"])
        verdict.check(
            works == 200 and revoked == 204 and refused_after is not None,
            f"revoked by {how}: refused after {refused_after or 0:.1f} s",
            f"revoked by {how} ({works}, {revoked}): still works after "
            f"{REVOCATION_SECONDS + 2:.0f} s",
        )
    listed = stack.request("GET", "/keys").json() or {}
    names = [k for k in listed.get("items", []) if stack.run in k.get("name", "")]
    verdict.check(
        len(names) == 2 and all(k["status"] == "revoked" and k["created_at"] for k in names),
        "GET /keys lists both as revoked",
        f"GET /keys: {names}",
    )
    statuses = []
    retry_after = None
    shaped = False
    stack.rate_limits_expected = True
    for _ in range(100):
        answer = stack.request("GET", "/invoices", key="sobre_" + secrets.token_urlsafe(24))
        statuses.append(answer.status)
        if answer.status == 429:
            retry_after = answer.headers.get("Retry-After")
            shaped = answer.sobre_shaped()
    stack.rate_limits_expected = False
    count = {s: statuses.count(s) for s in sorted(set(statuses))}
    verdict.check(
        429 in statuses and retry_after is not None and shaped,
        f"100 wrong keys: {count}, Retry-After {retry_after}",
        f"100 wrong keys: {count} (no 429 with Retry-After in Sobre's shape)",
    )
    return verdict


def token_rotation(stack: Stack) -> Verdict:
    """Finding 7, on the keyring the stack signs with: a token mailed under the stack's
    secret verifies after a rotation (keyring {1: old, 2: new}, signing 2), a new token
    is signed by key 2, and idempotency ids do not change. The running stack keeps its
    one secret, so the rotation is done on a copy of its keyring, in this process."""
    from chalicelib.ids import Keyring, TokenSigner

    verdict = Verdict()
    email = stack.address("rotation")
    created = stack.post_json("/invoices", stack.invoice_body([{"email": email}]))
    pixel, view = mailed_paths(stack, email)
    old = stack.env["SOBRE_TOKEN_SECRET"]
    before = TokenSigner(Keyring.parse(old))
    rotated = TokenSigner(
        Keyring.parse(json.dumps({"keys": {"1": old, "2": secrets.token_urlsafe(32)}}))
    )
    retired = TokenSigner(
        Keyring.parse(json.dumps({"keys": {"2": secrets.token_urlsafe(32)}, "idempotency": old}))
    )
    pixel_token = pixel.removeprefix("/t/").removesuffix(".gif")
    view_token = view.removeprefix("/v/")
    target = before.verify(pixel_token, "pixel")
    verdict.check(
        target is not None and target.invoice_id == created.json()["id"],
        "",
        "the mailed pixel token does not verify under the stack's own secret",
    )
    verdict.check(
        rotated.verify(pixel_token, "pixel") == target
        and rotated.verify(view_token, "view") is not None,
        "mailed pixel and view tokens verify after rotating to key 2",
        "a mailed token no longer verifies after the rotation",
    )
    verdict.check(retired.verify(pixel_token, "pixel") is None, "", "a retired key still verifies")
    if target is not None:
        new = rotated.token_for(target.invoice_id, target.recipient_id, "pixel")
        verdict.check(
            before.verify(new, "pixel") is None and rotated.verify(new, "pixel") == target,
            "new tokens signed by key 2",
            "new tokens not signed by the new key",
        )
    verdict.check(
        before.invoice_id_for("demo", "k")
        == rotated.invoice_id_for("demo", "k")
        == retired.invoice_id_for("demo", "k"),
        "idempotency ids unchanged",
        "idempotency ids changed with the rotation",
    )
    return verdict


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def iam_and_encryption(stack: Stack) -> Verdict:
    """Finding 9, read from what deploys (an attacker's reading of the stack's IAM; the
    local emulator enforces no IAM): one policy per function, only the API writes
    accounts and keys, the SES consumer mails nothing; KMS keys and the topic's Deny."""
    verdict = Verdict()
    config = _load(ROOT / ".chalice" / "config.json")
    for stage in ("dev", "prod"):
        functions = config["stages"][stage].get("lambda_functions", {})
        files = [f.get("iam_policy_file") for f in functions.values()]
        verdict.check(
            config["stages"][stage].get("autogen_policy") is False
            and len(files) >= 5
            and len(set(files)) == len(files),
            f"{stage}: {len(files)} functions, a policy each",
            f"{stage}: policies {files}",
        )
    for path in sorted((ROOT / ".chalice").glob("policy-*.json")):
        text = path.read_text()
        function = path.stem.removeprefix("policy-")
        if function == "ses_events":
            verdict.check(
                "ses:Send" not in text and "s3:GetObject" not in text,
                "",
                "the SES consumer may send mail or read PDFs",
            )
        if function != "api_handler":
            for statement in _statements(_load(path)):
                writes = {"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"}
                if writes & set(_actions(statement)) and "APIKEY#*" not in json.dumps(statement):
                    verdict.fail(f"{function} may write API keys: {statement.get('Sid')}")
    template = (ROOT / "infra" / "template.yaml").read_text()
    verdict.check(
        "Type: AWS::KMS::Key" in template
        and template.count("KmsMasterKeyId: {Ref: SobreKey}") >= 3
        and "KMSMasterKeyId: {Ref: SobreKey}" in template,
        "table, topic and queues under the stack's KMS key",
        "AWS-owned keys remain",
    )
    verdict.check(
        "aws:PrincipalServiceName: ses.amazonaws.com" in template,
        "",
        "no Deny on the topic for publishers other than SES",
    )
    verdict.evidence.append("only the API writes ACCOUNT#/APIKEY#; only SES publishes")
    return verdict


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for statement in policy["Statement"]:
        if "Fn::If" in statement:
            found.extend(s for s in statement["Fn::If"][1:] if isinstance(s, dict))
        else:
            found.append(statement)
    return [s for s in found if s.get("Effect") == "Allow"]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def ssrf_and_csv(stack: Stack) -> Verdict:
    """Finding 10: every disguised internal address refused at registration; a CSV
    cell starting with any formula sign, fullwidth ones included, is defused."""
    verdict = Verdict()
    accepted = []
    for url in SSRF_URLS:
        answer = stack.post_json("/webhooks", {"url": url, "events": ["opened"]})
        if answer.status != 400:
            accepted.append(f"{url} ({answer.status})")
    verdict.check(
        not accepted,
        f"{len(SSRF_URLS)} internal webhook URLs refused (400)",
        f"accepted: {accepted}",
    )
    for sign in CSV_SIGNS:
        name = f'{sign}HYPERLINK("https://evil.example","{stack.run}")'
        body = stack.invoice_body([{"email": stack.address("csv")}], customer={"name": name})
        stack.post_json("/invoices", body)
    exported = stack.request("GET", "/exports/events.csv?limit=100")
    cells = [
        c
        for row in csv.reader(io.StringIO(exported.body.decode()))
        for c in row
        if stack.run in c and "HYPERLINK" in c
    ]
    dangerous = [c for c in cells if not c.startswith("'")]
    verdict.check(
        exported.status == 200 and len(cells) >= len(CSV_SIGNS) and not dangerous,
        f"{len(cells)} formula cells ({''.join(s.strip() for s in CSV_SIGNS)}) exported with a "
        "leading '",
        f"export {exported.status}: {len(cells)} cells, live formulas {dangerous[:4]}",
    )
    return verdict


def concurrent_pixels(stack: Stack) -> Verdict:
    """Finding 11: many pixel fetches at once under ``chalice local``'s threads: no 500
    (a shared metrics object answered one in ~10,000 with a 500)."""
    verdict = Verdict()
    email = stack.address("pixels")
    stack.post_json("/invoices", stack.invoice_body([{"email": email}]))
    pixel, _ = mailed_paths(stack, email)
    fetches = 300 if stack.fast else 3000
    agent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/132.0"}

    def fetch(_: int) -> int:
        return stack.request("GET", pixel, key="", headers=agent).status

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(fetch, range(fetches)))
    count = {s: statuses.count(s) for s in sorted(set(statuses))}
    schema_errors = stack.log_text().count("Must contain at least one metric")
    verdict.check(
        set(statuses) == {200} and schema_errors == 0,
        f"{fetches} concurrent pixel fetches (32 threads): {count}, no metrics error logged",
        f"{fetches} concurrent pixel fetches: {count}, {schema_errors} metrics errors logged",
    )
    return verdict
