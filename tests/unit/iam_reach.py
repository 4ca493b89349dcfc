"""Which AWS calls each Lambda function can reach, for the per-function IAM policies
(tests/unit/test_iam_policy.py).

From a function's entry points (its handlers), the use-case code is followed by name
(every function or method whose name it calls, reads as a property or passes on: an
over-approximation, so a function's policy can only be broader than its code needs,
never narrower). The use
cases reach adapters only through ports, by calls such as ``ctx.invoices.get(...)`` or
``accounts.put_key(...)``: the port's name (``invoices``) gives the adapters behind it,
and the method's name the adapter method. Inside the adapters, calls are followed by
name within the same class (``self.x``) and to module-level functions. The AWS calls
the scan of test_iam_policy.py found in the reached functions are the function's.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"

# Lambda function (Chalice's name) -> the modules whose functions are its handlers
# (``path::function`` when a module holds the handlers of several functions).
# Every function builds the context, whose token keyring reads SSM (container.py).
_CONTEXT = ("chalicelib/container.py::_KeyringCache._read_parameter",)
FUNCTIONS: dict[str, tuple[str, ...]] = {
    # Every route, and the HTTP middleware app.py registers.
    "api_handler": (
        *sorted(str(p.relative_to(ROOT)) for p in CHALICELIB.glob("*/routes.py")),
        "chalicelib/http.py",
        *_CONTEXT,
    ),
    # The public routes behind the HTTP API (app.py's public_door): the same routes, the
    # HTTP middleware, and the door that routes to them.
    "public_door": (
        "chalicelib/tracking/routes.py",
        "chalicelib/tracking/door.py",
        "chalicelib/http.py",
        *_CONTEXT,
    ),
    "ses_events": ("chalicelib/tracking/subscriptions.py::on_ses_event", *_CONTEXT),
    "fetch_fallback": ("chalicelib/tracking/subscriptions.py::on_deferred_fetch", *_CONTEXT),
    "sender": ("chalicelib/sending/subscriptions.py::on_queued_send", *_CONTEXT),
    "hourly_reports": ("chalicelib/reports/schedules.py", *_CONTEXT),
    "alert_deliveries": ("chalicelib/alerts/schedules.py", *_CONTEXT),
}
# Where a port's name leads (chalicelib/container.py wires these): the attribute or
# parameter name a use case calls it by -> the adapter classes behind it.
PORTS: dict[str, tuple[str, ...]] = {
    "invoices": ("DynamoInvoiceStore",),
    "accounts": ("CachedAccountStore", "DynamoAccountStore"),
    "_store": ("DynamoAccountStore",),  # CachedAccountStore's wrapped store
    "unprocessed": ("DynamoUnprocessedStore",),
    "mailer": ("SesMailer",),
    "pdfs": ("S3PdfStore",),
    "alerts": ("DynamoReportStore",),
    "store": ("DynamoReportStore",),
    "poster": ("HttpWebhookPoster",),
    "failures": ("DynamoAuthFailures",),
    "deferred": ("SqsFetchQueue",),
    "sends": ("SqsSendQueue",),
}

PORT_CLASSES = {cls for classes in PORTS.values() for cls in classes}


@dataclass(frozen=True)
class Function:
    path: str
    qualified: str  # Class.method or function, as test_iam_policy's scan names them
    node: ast.FunctionDef
    adapter: bool
    cls: str


@functools.cache
def _functions() -> tuple[Function, ...]:
    found: list[Function] = []
    for path in [ROOT / "app.py", *sorted(CHALICELIB.rglob("*.py"))]:
        relative = str(path.relative_to(ROOT))
        adapter = relative.startswith("chalicelib/adapters/")
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found.append(Function(relative, node.name, node, adapter, ""))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        qualified = f"{node.name}.{item.name}"
                        found.append(Function(relative, qualified, item, adapter, node.name))
    return tuple(found)


def _port_calls(node: ast.AST) -> set[tuple[str, str]]:
    """(port, method) of every ``<...>.port.method(...)`` / ``port.method(...)``; a port
    read some other way (``store = ctx.invoices``, passed on) is (port, "*"): any of its
    methods, since where it goes is not followed."""
    calls: set[tuple[str, str]] = set()
    called = {
        id(sub.func.value)
        for sub in ast.walk(node)
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
    }
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Attribute)
            and sub.attr in PORTS
            and isinstance(sub.ctx, ast.Load)
            and id(sub) not in called
        ):
            calls.add((sub.attr, "*"))
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            receiver = sub.func.value
            name = (
                receiver.attr
                if isinstance(receiver, ast.Attribute)
                else receiver.id
                if isinstance(receiver, ast.Name)
                else ""
            )
            if name in PORTS:
                calls.add((name, sub.func.attr))
    return calls


def _mentioned(node: ast.AST) -> set[str]:
    """Every name a function calls or mentions (``f``, ``x.f``, ``f`` passed on)."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
    return names


def _is_entry_point(path: str) -> bool:
    return path == "app.py" or Path(path).name in ("routes.py", "subscriptions.py", "schedules.py")


def _called(node: ast.AST) -> set[str]:
    """Every name a function calls (``f(...)``, ``x.f(...)``), reads as a property
    (``x.f`` where some ``f`` is a property) or passes on as a value (a bare ``f``)."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            names.add(sub.func.attr)
        elif isinstance(sub, ast.Attribute) and sub.attr in _properties():
            names.add(sub.attr)
    return names


@functools.cache
def _properties() -> frozenset[str]:
    return frozenset(
        f.node.name
        for f in _functions()
        if any(
            ast.unparse(d).split(".")[-1] in ("property", "cached_property")
            for d in f.node.decorator_list
        )
    )


def _self_calls(node: ast.AST) -> set[str]:
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Name)
        and sub.value.id in ("self", "cls")
    }


@functools.cache
def reached(lambda_function: str) -> frozenset[tuple[str, str]]:
    """(path, qualified name) of every function the Lambda function can run."""
    functions = _functions()
    by_name: dict[str, list[Function]] = {}
    for function in functions:
        by_name.setdefault(function.qualified.rsplit(".", 1)[-1], []).append(function)
    by_class: dict[str, list[Function]] = {}
    for function in functions:
        if function.cls:
            by_class.setdefault(function.cls, []).append(function)
    entries = FUNCTIONS[lambda_function]
    todo = [f for f in functions if f.path in entries or f"{f.path}::{f.qualified}" in entries]
    seen: set[tuple[str, str]] = set()
    while todo:
        function = todo.pop()
        key = (function.path, function.qualified)
        if key in seen:
            continue
        seen.add(key)
        nexts: list[Function] = []
        if function.adapter:
            # Same-class methods, and module-level functions of the adapters.
            own = _self_calls(function.node)
            nexts += [f for f in by_class.get(function.cls, []) if f.node.name in own]
            mentioned = _mentioned(function.node)
            nexts += [
                f for name in mentioned for f in by_name.get(name, []) if f.adapter and not f.cls
            ]
            # A helper class the adapter builds (listing's _Stream): all its methods.
            nexts += [
                f
                for name in mentioned
                if name not in PORT_CLASSES
                for f in by_class.get(name, [])
                if f.adapter
            ]
        else:
            used = _called(function.node)
            # Handlers are where a function starts, never what code calls (a use case's
            # ``store.list_webhooks`` is not the route ``list_webhooks``).
            nexts += [
                f
                for name in used
                for f in by_name.get(name, [])
                if not f.adapter and not _is_entry_point(f.path)
            ]
        for port, method in _port_calls(function.node):
            for cls in PORTS[port]:
                nexts += [f for f in by_class.get(cls, []) if method in (f.node.name, "*")]
        todo.extend(nexts)
    return frozenset(seen)
