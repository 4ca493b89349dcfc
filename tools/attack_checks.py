"""The eleven findings of issue 15, in the order ``tools.attack`` tries them (the
wrong-key flood of finding 6 blocks the network, so API keys go last)."""

from __future__ import annotations

from tools.attack import Check
from tools.attack_access import (
    api_keys,
    concurrent_pixels,
    iam_and_encryption,
    ssrf_and_csv,
    token_rotation,
)
from tools.attack_events import malformed_events, privacy, tenant_and_time
from tools.attack_mail import display_name_injection, input_5xx, mail_sent_twice

CHECKS: dict[int, tuple[str, Check]] = {
    1: (
        "mail sent twice (CR/LF, IDN, non-ASCII local part, lone surrogate; /send x3)",
        mail_sent_twice,
    ),
    2: ("display-name injection", display_name_injection),
    3: (
        "5xx on input (deep JSON, 415/405 shape, 2 MB of unknown keys, too large to store)",
        input_5xx,
    ),
    4: (
        "SES events that crash or misapply (malformed and wrong-typed SNS messages)",
        malformed_events,
    ),
    5: (
        "tenant and time binding of events (no / wrong account tag, dates 2999 / 0001)",
        tenant_and_time,
    ),
    7: ("token secret rotation (old tokens, idempotency ids)", token_rotation),
    8: ("privacy (whole IPs kept, retention from creation)", privacy),
    9: ("IAM per function and encryption", iam_and_encryption),
    10: ("SSRF webhook URLs and the CSV formula guard", ssrf_and_csv),
    11: ("concurrent pixels answering 500 (shared metrics)", concurrent_pixels),
    6: ("API keys (revocation within 5 s, 100 wrong keys -> 429)", api_keys),
}
