"""Each function's IAM policy (.chalice/policy-<function>.json, the same in every
stage) allows every AWS API that function's code can call, on the resources it calls
them on, and nothing else.

The calls are found by reading the source (``ast``) of app.py and chalicelib/: boto3
client calls (also through the functions and properties that return a client, through
helpers that call the client method their argument names, and on the botocore client
pynamodb builds), pynamodb operations and Powertools parameter reads, each mapped to the
IAM action that authorizes it by the tables below; which of them each Lambda function
can reach is tests/unit/iam_reach.py's. A call of a kind the tables do not know
fails the test, so a new kind of AWS call cannot reach production without its
permission. The policy file holds CloudFormation intrinsics (Chalice copies it verbatim
into the roles of the merged template); they are resolved here against
infra/template.yaml with sample parameter values, and the result is evaluated like IAM
evaluates an identity policy (Allow statements, wildcards, condition operators).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
import yaml

from chalicelib.core.stored import pdf_key
from tests.unit.iam_reach import FUNCTIONS, reached

if TYPE_CHECKING:
    from chalicelib.core.model import Invoice

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
DEPLOYED = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
STAGES = ("dev", "prod")
FUNCTION_NAMES = tuple(FUNCTIONS)

# --- The tables: what the code calls -> the IAM action that authorizes it -------------

# boto3 and botocore clients: (service, method, variant) -> action. SESv2 SendEmail is
# authorized as the action of its content: Content.Raw -> ses:SendRawEmail; Simple or
# Template -> ses:SendEmail (an AccessDenied for a raw SESv2 SendEmail names
# ses:SendRawEmail). An S3 PutObject that sets an ACL or tags needs s3:PutObjectAcl or
# s3:PutObjectTagging as well: its variant names those arguments, and no row maps it. A
# presigned URL is signed locally, and whoever follows it acts with the role's
# permission for the method it names (its variant).
BOTO3_ACTIONS: dict[tuple[str, str, str | None], str] = {
    ("sesv2", "send_email", "Raw"): "ses:SendRawEmail",
    ("sesv2", "send_email", "Simple"): "ses:SendEmail",
    ("sesv2", "send_email", "Template"): "ses:SendEmail",
    ("dynamodb", "get_item", None): "dynamodb:GetItem",
    ("dynamodb", "put_item", None): "dynamodb:PutItem",
    ("dynamodb", "update_item", None): "dynamodb:UpdateItem",
    ("dynamodb", "delete_item", None): "dynamodb:DeleteItem",
    ("dynamodb", "query", None): "dynamodb:Query",
    ("dynamodb", "scan", None): "dynamodb:Scan",
    ("dynamodb", "batch_get_item", None): "dynamodb:BatchGetItem",
    ("dynamodb", "batch_write_item", None): "dynamodb:BatchWriteItem",
    ("s3", "put_object", None): "s3:PutObject",
    ("s3", "get_object", None): "s3:GetObject",
    ("s3", "head_object", None): "s3:GetObject",
    ("s3", "delete_object", None): "s3:DeleteObject",
    ("s3", "generate_presigned_url", "get_object"): "s3:GetObject",
    ("s3", "generate_presigned_url", "put_object"): "s3:PutObject",
    ("sqs", "send_message", None): "sqs:SendMessage",
    ("sqs", "send_message_batch", None): "sqs:SendMessage",  # SendMessageBatch's permission
    ("sqs", "change_message_visibility", None): "sqs:ChangeMessageVisibility",
    ("ssm", "get_parameter", None): "ssm:GetParameter",
}
# Keyword arguments of S3 PutObject that need another action too.
S3_PUT_EXTRAS = ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP")
# pynamodb: Model / Index / TableConnection method -> action. Saves inside a
# ``with Model.batch_write() as batch`` block are BatchWriteItem, not PutItem (and
# deletes there are BatchWriteItem, not DeleteItem).
PYNAMODB_ACTIONS: dict[str, str] = {
    "get": "dynamodb:GetItem",
    "refresh": "dynamodb:GetItem",
    "save": "dynamodb:PutItem",
    "update": "dynamodb:UpdateItem",
    "delete": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "count": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get": "dynamodb:BatchGetItem",
    "batch_write": "dynamodb:BatchWriteItem",
    "exists": "dynamodb:DescribeTable",
    "describe_table": "dynamodb:DescribeTable",
    "create_table": "dynamodb:CreateTable",
    "delete_table": "dynamodb:DeleteTable",
}
# pynamodb methods that other objects have too: counted only on a model class (get) or
# with pynamodb's arguments (update(actions=[...])).
AMBIGUOUS_METHODS = {"get", "update", "refresh", "exists", "count"}
# aws_lambda_powertools.utilities.parameters functions -> action.
POWERTOOLS_ACTIONS: dict[str, str] = {
    "get_parameter": "ssm:GetParameter",
    "get_parameters_by_name": "ssm:GetParameters",
    "get_parameters": "ssm:GetParametersByPath",
    "get_secret": "secretsmanager:GetSecretValue",
}
# Actions that AWS performs with the functions' role rather than the code.
SERVICE_ACTIONS: dict[str, str] = {
    "logs:CreateLogStream": "Lambda writes the functions' logs",
    "logs:PutLogEvents": "Lambda writes the functions' logs",
    "sqs:SendMessage": "Lambda's on-failure destination sends with the function's role",
    "kms:Decrypt": (
        "DynamoDB reads the table and SQS the queue with the stack's key (SobreKey), and "
        "SSM decrypts the secret with a customer-managed key (if one is given)"
    ),
    "kms:GenerateDataKey": "DynamoDB and SQS (the on-failure destination) write with SobreKey",
}
# Actions Lambda's event source mapping performs with one function's role.
_SQS_EVENT_SOURCE = frozenset(
    {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
)
EVENT_SOURCE_ACTIONS: dict[str, frozenset[str]] = {
    "fetch_fallback": _SQS_EVENT_SOURCE,
    "sender": _SQS_EVENT_SOURCE,
}
# Code in chalicelib that only the operator tools run, with the operator's credentials.
OPERATOR_ONLY = {
    "DynamoUnprocessedStore.delete_unprocessed": "tools.admin unprocessed replay --delete",
    "DynamoInvoiceStore.invoice_ids": "tools.admin reclassify (a Scan)",
    "DynamoInvoiceStore.unsettled_sends": "tools.admin sends (a Scan)",
}
# The container's builders for operator commands (tools/admin.py), which alone may use
# the code above.
OPERATOR_BUILDERS = {"all_invoice_ids", "all_unsettled_sends"}

# --- Finding the calls ----------------------------------------------------------------


@dataclass(frozen=True)
class _Models:
    """The pynamodb model classes of the deployed code and their index attributes."""

    classes: set[str]
    index_attributes: set[str]


def _find_models(trees: list[ast.Module]) -> _Models:
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    models: set[str] = set()
    changed = True
    while changed:
        changed = False
        for cls in classes:
            bases = {_dotted(base).split("[")[0] for base in cls.bases}
            if cls.name not in models and bases & ({"Model"} | models):
                models.add(cls.name)
                changed = True
    index_classes = {
        cls.name
        for cls in classes
        if any(_dotted(b).startswith("GlobalSecondaryIndex") for b in cls.bases)
    }
    index_attributes = {
        target.id
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and _dotted(node.value.func) in index_classes
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return _Models(models, index_attributes)


@dataclass(frozen=True)
class ApiCall:
    path: str
    function: str
    call: str
    action: str | None  # None: a kind of call the tables do not know
    target: str = ""  # "table" or "index" for DynamoDB


def _dotted(node: ast.expr) -> str:
    return ast.unparse(node)


# The botocore client of a pynamodb model's connection (what pynamodb itself calls).
_PYNAMODB_CLIENT = re.compile(r"\._get_connection\(\)\.connection\.client$")


def _makes_client(name: str) -> bool:
    """``boto3.client(...)`` or botocore's ``<session>.create_client(...)`` (the token
    keyring's SSM client: botocore alone, without boto3's import)."""
    return name == "boto3.client" or name.endswith(".create_client")


def _client_of(node: ast.expr, variables: dict[str, str], factories: dict[str, str]) -> str | None:
    """The service of the AWS client an expression evaluates to, None if it is none."""
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if _makes_client(name):
            given = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "service_name")]
            service = given[0] if given else None
            if isinstance(service, ast.Constant) and isinstance(service.value, str):
                return service.value
            return "?"
        return factories.get(name.removeprefix("self."))  # table_client(), self.client()
    text = _dotted(node)
    if _PYNAMODB_CLIENT.search(text):
        return "dynamodb"
    if text in variables:
        return variables[text]
    if text.startswith("self.") and text[5:] in factories:
        return factories[text[5:]]  # a property that returns a client
    return None


def _assigned_clients(tree: ast.AST, factories: dict[str, str]) -> dict[str, str]:
    """Names (``s3``, ``self._client``) assigned a client in ``tree`` -> its service."""
    variables: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        else:
            continue
        service = _client_of(value, variables, factories)
        if service is not None:
            variables.update((_dotted(target), service) for target in targets)
    return variables


def _is_getattr(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
    )


def _mentions_index(node: ast.AST) -> bool:
    return any(
        (isinstance(sub, ast.Constant) and sub.value == "IndexName")
        or (isinstance(sub, ast.keyword) and sub.arg == "IndexName")
        for sub in ast.walk(node)
    )


@dataclass(frozen=True)
class _Clients:
    """Functions of the deployed code that return an AWS client (name -> service), and
    functions that call the client method their parameter names (name -> service, the
    parameter, its position): ``conditional("update_item", ...)``."""

    factories: dict[str, str]
    dispatchers: dict[str, tuple[str, str, int]]


def _find_factories(functions: list[ast.FunctionDef]) -> dict[str, str]:
    factories: dict[str, str] = {}
    changed = True
    while changed:  # a function may return what another one returns
        changed = False
        for function in functions:
            variables = _assigned_clients(function, factories)
            for node in ast.walk(function):
                if function.name in factories:
                    break
                if isinstance(node, ast.Return) and node.value is not None:
                    service = _client_of(node.value, variables, factories)
                    if service is not None:
                        factories[function.name] = service
                        changed = True
    return factories


def _find_clients(trees: list[ast.Module]) -> _Clients:
    functions = [
        node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
    ]
    factories = _find_factories(functions)
    dispatchers: dict[str, tuple[str, str, int]] = {}
    for function in functions:
        variables = _assigned_clients(function, factories)
        parameters = [a.arg for a in function.args.args]
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and _is_getattr(node):
                client, method = node.args[:2]
                service = _client_of(client, variables, factories)
                if service and isinstance(method, ast.Name) and method.id in parameters:
                    dispatchers[function.name] = (
                        service,
                        method.id,
                        parameters.index(method.id),
                    )
    return _Clients(factories, dispatchers)


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module, models: _Models, clients: _Clients) -> None:
        self.path = path
        self.calls: list[ApiCall] = []
        self._tree = tree
        self._scope: list[str] = []
        self._functions: list[ast.FunctionDef] = []
        self._parents = {
            id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)
        }
        imports = {
            alias.asname or alias.name: node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        # The models are defined in one module and used in others: a file that imports a
        # model (or pynamodb itself) makes pynamodb calls.
        self._models = {name for name in imports if name in models.classes} | {
            cls.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
        } & models.classes
        # ``models.InvoiceItem``: the models module itself, imported (or made a lazy
        # module) so that pynamodb loads only with the first model used.
        self._models_module = imports.get("models") == "chalicelib.adapters.dynamo"
        self._pynamodb = (
            bool(self._models)
            or self._models_module
            or any(module.startswith("pynamodb") for module in imports.values())
        )
        self._model_classes = models.classes
        self._powertools = {
            name
            for name, module in imports.items()
            if module == "aws_lambda_powertools.utilities.parameters"
        }
        self._index_attributes = models.index_attributes
        self._index_names = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(
                isinstance(sub, ast.Attribute) and sub.attr in self._index_attributes
                for sub in ast.walk(node.value)
            )
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        self._batches = {
            _dotted(item.optional_vars)
            for node in ast.walk(tree)
            if isinstance(node, ast.With)
            for item in node.items
            if item.optional_vars is not None
            and isinstance(item.context_expr, ast.Call)
            and isinstance(item.context_expr.func, ast.Attribute)
            and item.context_expr.func.attr == "batch_write"
        }
        # Only the factories and dispatchers this file defines or imports.
        known = set(imports) | defined
        self._factories = {k: v for k, v in clients.factories.items() if k in known}
        self._dispatchers = {k: v for k, v in clients.dispatchers.items() if k in known}
        self._clients = _assigned_clients(tree, self._factories)
        self._helpers = set(clients.factories) | set(clients.dispatchers)

    def _add(self, call: str, action: str | None, target: str = "") -> None:
        self.calls.append(ApiCall(self.path, ".".join(self._scope), call, action, target))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope.append(node.name)
        self._functions.append(node)
        self.generic_visit(node)
        self._functions.pop()
        self._scope.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _dotted(func)
        if name in ("boto3.resource", "boto3.Session", "boto3.session.Session") or (
            name.endswith(".client") and not _makes_client(name)
        ):
            self._add(name, None)
        elif _makes_client(name) or name.endswith("._get_connection"):
            self._client_made(node, name)
        elif isinstance(func, ast.Name) and func.id in self._powertools:
            self._add(f"powertools {func.id}", POWERTOOLS_ACTIONS.get(func.id))
        elif _is_getattr(func) and isinstance(func, ast.Call):
            self._getattr_call(func, node)
        elif name.removeprefix("self.") in self._dispatchers:
            self._dispatched_call(name, node)
        elif isinstance(func, ast.Attribute):
            service = _client_of(func.value, self._clients, self._factories)
            if service is not None:
                self._client_call(service, func.attr, node)
            elif self._helper_elsewhere(func) or self._helper_elsewhere(func.value):
                self._add(f"{name} (a client helper reached through another object)", None)
            elif self._pynamodb and func.attr in PYNAMODB_ACTIONS:
                self._pynamodb_call(func.value, func.attr, node)
        self.generic_visit(node)

    def _helper_elsewhere(self, node: ast.expr) -> bool:
        """``helpers.table_client``, ``store._s3``: a client helper that this scan
        follows only by its own name or on ``self``."""
        return (
            isinstance(node, ast.Attribute)
            and node.attr in self._helpers
            and _dotted(node.value) != "self"
        )

    def _client_made(self, node: ast.Call, name: str) -> None:
        """A client is made (boto3.client) or reached (pynamodb's connection): the scan
        must see where it goes, or it could not see what is called on it."""
        client: ast.AST = node
        if name.endswith("._get_connection"):
            function = self._functions[-1].name if self._functions else ""
            returned = isinstance(self._parents.get(id(node)), ast.Return)
            if function == "_get_connection" and returned:
                return  # a model's override that hands pynamodb another model's connection
            connection = self._parents.get(id(node))
            client = self._parents.get(id(connection), node)
            if not (
                isinstance(connection, ast.Attribute)
                and connection.attr == "connection"
                and isinstance(client, ast.Attribute)
                and client.attr == "client"
            ):
                self._add(f"{name}() used as {_dotted(node)}...", None)
                return
        parent = self._parents.get(id(client))
        if isinstance(parent, ast.Assign | ast.AnnAssign | ast.Return):
            return  # a variable or a factory: followed to its calls
        if isinstance(parent, ast.Attribute) and isinstance(
            self._parents.get(id(parent)), ast.Call
        ):
            return  # a method called on it at once
        self._add(f"{name}(...) passed on", None)

    def _getattr_call(self, getter: ast.Call, node: ast.Call) -> None:
        client, method = getter.args[:2]
        service = _client_of(client, self._clients, self._factories)
        if service is None:
            return  # getattr of something else
        if isinstance(method, ast.Constant) and isinstance(method.value, str):
            self._client_call(service, method.value, node)
            return
        function = self._functions[-1] if self._functions else None
        if (
            function is not None
            and function.name in self._dispatchers
            and isinstance(method, ast.Name)
            and method.id == self._dispatchers[function.name][1]
        ):
            return  # a dispatcher: its callers name the method
        self._add(f"{service}.<{_dotted(method)}>", None)

    def _dispatched_call(self, name: str, node: ast.Call) -> None:
        service, parameter, position = self._dispatchers[name.removeprefix("self.")]
        if name.startswith("self."):
            position -= 1
        given = [k.value for k in node.keywords if k.arg == parameter]
        given += node.args[position : position + 1]
        method = given[0] if given else None
        if isinstance(method, ast.Constant) and isinstance(method.value, str):
            self._client_call(service, method.value, node)
        else:
            self._add(f"{name}(<{_dotted(method) if method else '?'}>)", None)

    def _variant(self, service: str, method: str, node: ast.Call) -> str | None:
        if (service, method) == ("sesv2", "send_email"):
            for keyword in node.keywords:
                if keyword.arg == "Content" and isinstance(keyword.value, ast.Dict):
                    keys = [k.value for k in keyword.value.keys if isinstance(k, ast.Constant)]
                    return str(keys[0]) if len(keys) == 1 else "?"
            return None
        if method == "generate_presigned_url":
            given = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "ClientMethod")]
            signed = given[0] if given else None
            if isinstance(signed, ast.Constant) and isinstance(signed.value, str):
                return signed.value
            return "?"
        if (service, method) == ("s3", "put_object"):
            if any(k.arg is None for k in node.keywords):
                return "**"  # arguments the scan cannot see
            extras = sorted(
                k.arg for k in node.keywords if k.arg in S3_PUT_EXTRAS or k.arg == "Tagging"
            )
            return "+".join(extras) or None
        return None

    def _client_call(self, service: str, method: str, node: ast.Call) -> None:
        variant = self._variant(service, method, node)
        target = self._dynamodb_target(method, node) if service == "dynamodb" else ""
        self._add(
            f"{service}.{method}({variant or ''})",
            BOTO3_ACTIONS.get((service, method, variant)),
            target,
        )

    def _dynamodb_target(self, method: str, node: ast.Call) -> str:
        """A raw Query or Scan reads the index when its request names one: in the call,
        in the function that builds the request, or, for a function that forwards its
        ``**request``, in a call of that function."""
        if method not in ("query", "scan"):
            return "table"
        function = self._functions[-1] if self._functions else None
        if _mentions_index(node) or (function is not None and _mentions_index(function)):
            return "index"
        forwarded = function.args.kwarg.arg if function and function.args.kwarg else None
        if function is None or not any(
            k.arg is None and isinstance(k.value, ast.Name) and k.value.id == forwarded
            for k in node.keywords
        ):
            return "table"
        callers = [
            call
            for call in ast.walk(self._tree)
            if isinstance(call, ast.Call)
            and _dotted(call.func).removeprefix("self.") == function.name
        ]
        # A caller that names an index, or forwards what the scan cannot see.
        if any(_mentions_index(c) or any(k.arg is None for k in c.keywords) for c in callers):
            return "index"
        return "table"

    def _pynamodb_call(self, receiver: ast.expr, method: str, node: ast.Call) -> None:
        on_model = (isinstance(receiver, ast.Name) and receiver.id in self._models) or (
            self._models_module
            and isinstance(receiver, ast.Attribute)
            and _dotted(receiver.value) == "models"
            and receiver.attr in self._model_classes
        )
        if method in AMBIGUOUS_METHODS and not on_model:
            pynamodb_update = method == "update" and (
                any(k.arg == "actions" for k in node.keywords)
                or (bool(node.args) and isinstance(node.args[0], ast.List))
            )
            if not pynamodb_update:
                return  # dict.get, set.update, ...
        action = PYNAMODB_ACTIONS[method]
        if method in ("save", "delete") and _dotted(receiver) in self._batches:
            action = PYNAMODB_ACTIONS["batch_write"]
        target = "table"
        if method in ("query", "count", "scan") and (
            (isinstance(receiver, ast.Attribute) and receiver.attr in self._index_attributes)
            or (isinstance(receiver, ast.Name) and receiver.id in self._index_names)
        ):
            target = "index"
        shown = (
            f"{_dotted(receiver.func)}(...)"
            if isinstance(receiver, ast.Call)
            else _dotted(receiver)
        )
        self._add(f"pynamodb {shown}.{method}", action, target)


@functools.cache
def scan_calls() -> tuple[ApiCall, ...]:
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in DEPLOYED}
    models = _find_models(list(trees.values()))
    clients = _find_clients(list(trees.values()))
    calls: list[ApiCall] = []
    for path, tree in trees.items():
        scanner = _Scanner(str(path.relative_to(ROOT)), tree, models, clients)
        scanner.visit(tree)
        calls.extend(scanner.calls)
    return tuple(calls)  # scanned once per session: the tests only read it


def lambda_calls(function: str | None = None) -> list[ApiCall]:
    """The calls the functions make (``function``: only those it can reach)."""
    calls = [c for c in scan_calls() if c.function not in OPERATOR_ONLY]
    if function is None:
        return calls
    runs = reached(function)
    return [
        c
        for c in calls
        if any(
            c.path == path and (c.function == name or c.function.startswith(name + "."))
            for path, name in runs
        )
    ]


# --- Resolving the policy file's CloudFormation intrinsics ----------------------------

REGION = "eu-west-1"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sobre-prod-SobreTable-1A2B3C4D"
LOG_GROUP = "/aws/lambda/sobre-prod"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sobre-prod-DeadLetterQueue-5E6F7G8H"
FETCH_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sobre-prod-FetchQueue-9I0J1K2L"
SEND_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sobre-prod-SendQueue-3M4N5O6P"
# The queue each function's event source reads.
EVENT_QUEUES = {"fetch_fallback": FETCH_QUEUE_ARN, "sender": SEND_QUEUE_ARN}
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0c0ffee0-1234-5678-9abc-def012345678"
STACK_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5ab1e5ab-1e00-4000-8000-000000000001"
SECRET_NAME = "/sobre/prod/token-secret"
# S3 bucket names are global: an ARN with no region and no account.
PDF_BUCKET = "sobre-prod-pdfbucket-1a2b3c4d5e6f"
PDF_BUCKET_ARN = f"arn:aws:s3:::{PDF_BUCKET}"
SAMPLE_PARAMETERS: dict[str, Any] = {
    "SenderDomains": ["example.com", "billing.example.org"],
    "TokenSecretParameterName": SECRET_NAME,
    "TokenSecretKmsKeyArn": "",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "sobre-prod",
}
# What Ref / Fn::GetAtt of the template's resources return in this sample stack.
SAMPLE_REFS: dict[str, str] = {
    "SobreTable": TABLE_ARN.rsplit("/", 1)[1],
    "SesConfigurationSet": "sobre",
    "DeadLetterQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sobre-prod-DLQ",
    "FetchQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sobre-prod-FetchQueue",
    "SendQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sobre-prod-SendQueue",
    "FunctionLogGroup": LOG_GROUP,
    "PdfBucket": PDF_BUCKET,
}
SAMPLE_ATTRIBUTES: dict[tuple[str, str], str] = {
    ("SobreTable", "Arn"): TABLE_ARN,
    ("DeadLetterQueue", "Arn"): QUEUE_ARN,
    ("FetchQueue", "Arn"): FETCH_QUEUE_ARN,
    ("SendQueue", "Arn"): SEND_QUEUE_ARN,
    ("FunctionLogGroup", "Arn"): LOG_GROUP_ARN,
    ("PdfBucket", "Arn"): PDF_BUCKET_ARN,
    ("SobreKey", "Arn"): STACK_KEY_ARN,
}
NO_VALUE = object()


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return loaded


class Resolver:
    """Evaluates the intrinsics CloudFormation would, for one set of parameter values;
    every name must exist in infra/template.yaml."""

    def __init__(self, parameters: dict[str, Any]) -> None:
        self.template = template()
        self.parameters = parameters
        self.used: set[str] = set()

    def ref(self, name: str) -> Any:
        self.used.add(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.template.get("Parameters", {}) or name.startswith("AWS::"):
            return self.parameters[name]
        assert name in self.template["Resources"], f"Ref {name}: not in infra/template.yaml"
        return SAMPLE_REFS[name]

    def attribute(self, resource: str, attribute: str) -> str:
        self.used.add(resource)
        assert resource in self.template["Resources"], f"GetAtt {resource}: not in template"
        return SAMPLE_ATTRIBUTES[(resource, attribute)]

    def condition(self, name: str) -> bool:
        assert name in self.template["Conditions"], f"Condition {name}: not in template"
        return bool(self.resolve(self.template["Conditions"][name]))

    def substitute(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.attribute(resource, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    # One case an intrinsic function, as CloudFormation documents them.
    def resolve(self, node: Any) -> Any:  # noqa: C901
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), *_ = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                return self.attribute(*value)
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                return self.substitute(text, self.resolve(variables))
            if key == "Fn::Join":
                return value[0].join(self.resolve(value[1]))
            if key == "Fn::Split":
                return self.resolve(value[1]).split(value[0])
            if key == "Fn::If":
                return self.resolve(value[1] if self.condition(value[0]) else value[2])
            if key == "Fn::Equals":
                return self.resolve(value[0]) == self.resolve(value[1])
            if key == "Fn::Not":
                return not self.resolve(value[0])
            assert not key.startswith("Fn::"), f"{key}: not supported by this test"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}


def policy_file(function: str) -> dict[str, Any]:
    path = ROOT / ".chalice" / f"policy-{function}.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def resolved_statements(function: str, kms_key: str = "") -> list[dict[str, Any]]:
    resolver = Resolver({**SAMPLE_PARAMETERS, "TokenSecretKmsKeyArn": kms_key})
    document = resolver.resolve(policy_file(function))
    assert document["Version"] == "2012-10-17"
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- Evaluating a request against the policy ------------------------------------------

_MATCHERS = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": fnmatch.fnmatchcase,
}


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, keys in conditions.items():
        if operator == "ForAllValues:StringNotLike":
            # Holds when no value of the key matches (and, as in IAM, when it is absent).
            for key, patterns in keys.items():
                if key in context and any(
                    fnmatch.fnmatchcase(context[key], p) for p in as_list(patterns)
                ):
                    return False
            continue
        match = _MATCHERS[operator]  # an unknown operator fails the test
        for key, expected in keys.items():
            if key not in context:
                return False
            if not any(match(context[key], value) for value in as_list(expected)):
                return False
    return True


def allows(
    statements: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> bool:
    for statement in statements:
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in as_list(statement["Resource"])):
            continue
        if _conditions_hold(statement.get("Condition", {}), context or {}):
            return True
    return False


def index_arns() -> list[str]:
    indexes = template()["Resources"]["SobreTable"]["Properties"]["GlobalSecondaryIndexes"]
    return [f"{TABLE_ARN}/index/{gsi['IndexName']}" for gsi in indexes]


IDENTITY = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity"
CONFIGURATION_SET = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/sobre"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{SECRET_NAME}"
LOG_STREAM = f"{LOG_GROUP_ARN[:-2]}:log-stream:2026/11/29/[$LATEST]0123456789abcdef"
FROM = {"ses:FromAddress": "billing@example.com"}
# An invoice's PDF object, where the code keeps it (chalicelib/core/stored.py).
PDF_OBJECT = f"{PDF_BUCKET_ARN}/" + pdf_key(
    cast("Invoice", SimpleNamespace(id="3f2a9c0d8e7b6a5f4e3d2c1b0a998877", body_hash="ab" * 32))
)


def requests_for(
    action: str, target: str = "", function: str = "fetch_fallback"
) -> list[tuple[str, dict[str, str]]]:
    """The (resource, context) pairs one action of the code is authorized on (an event
    source's, on ``function``'s queue)."""
    if action == "ses:SendRawEmail":
        return [
            (f"{IDENTITY}/example.com", FROM),  # a verified domain
            (f"{IDENTITY}/billing@example.com", FROM),  # a verified address
            (f"{IDENTITY}/billing.example.org", {"ses:FromAddress": "ar@billing.example.org"}),
            (CONFIGURATION_SET, FROM),
        ]
    if action.startswith("dynamodb:"):
        return [(arn, {}) for arn in index_arns()] if target == "index" else [(TABLE_ARN, {})]
    if action in ("s3:GetObject", "s3:PutObject"):
        return [(PDF_OBJECT, {})]
    if action == "ssm:GetParameter":
        return [(PARAMETER_ARN, {})]
    if action.startswith("logs:"):
        return [(LOG_STREAM, {})]
    if action == "sqs:SendMessage":
        return [(QUEUE_ARN, {})]
    if action.startswith("sqs:"):  # an event source's (and the sender's delays)
        return [(EVENT_QUEUES[function], {})]
    through_stack_key = [
        (STACK_KEY_ARN, {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"})
        for service in ("dynamodb", "sqs")
    ]
    if action == "kms:Decrypt":
        return [(KEY_ARN, {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}), *through_stack_key]
    if action == "kms:GenerateDataKey":
        return through_stack_key
    raise AssertionError(f"no sample request for {action}")


# --- Tests ----------------------------------------------------------------------------


def test_every_aws_call_of_the_code_is_in_the_tables() -> None:
    calls = scan_calls()
    unknown = [c for c in calls if c.action is None]
    assert not unknown, f"AWS calls with no IAM action in this test's tables: {unknown}"
    # What the functions' code does today, exactly; the scan must keep seeing it (a call
    # it stopped seeing would drop its permission from what the policy must grant).
    assert {(c.action, c.target) for c in lambda_calls()} == {
        ("ses:SendRawEmail", ""),
        ("dynamodb:GetItem", "table"),
        ("dynamodb:BatchGetItem", "table"),
        ("dynamodb:PutItem", "table"),
        ("dynamodb:UpdateItem", "table"),
        ("dynamodb:BatchWriteItem", "table"),
        ("dynamodb:Query", "table"),
        ("dynamodb:Query", "index"),
        ("s3:PutObject", ""),
        ("s3:GetObject", ""),
        ("ssm:GetParameter", ""),
        ("sqs:SendMessage", ""),
        ("sqs:ChangeMessageVisibility", ""),
    }
    # And what only the operator's tools do: the functions never delete or scan.
    operator = {(c.action, c.target) for c in calls if c.function in OPERATOR_ONLY}
    assert operator == {("dynamodb:DeleteItem", "table"), ("dynamodb:Scan", "table")}


def test_operator_only_code_is_not_called_by_the_functions() -> None:
    functions = {c.function for c in scan_calls()}
    for qualified in OPERATOR_ONLY:
        assert qualified in functions, f"{qualified} is gone: update OPERATOR_ONLY"
        method = qualified.rsplit(".", 1)[1]
        for path in DEPLOYED:
            tree = ast.parse(path.read_text())
            builders = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef) and node.name in OPERATOR_BUILDERS
            ]
            allowed = {id(sub) for builder in builders for sub in ast.walk(builder)}
            uses = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute)
                and node.attr == method
                and id(node) not in allowed
            ]
            assert not uses, f"{path.name} calls {method}: its actions need the policy now"
    for builder in OPERATOR_BUILDERS:
        callers = [
            path.name
            for path in DEPLOYED
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and _dotted(node.func).endswith(builder)
        ]
        assert not callers, f"{callers} call {builder}, which is for tools/admin.py only"


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_uses_its_own_policy_file(stage: str) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_config = config["stages"][stage]
    assert stage_config["autogen_policy"] is False
    # No stage-wide policy: a function without its own file would fail to package.
    assert "iam_policy_file" not in stage_config
    assert "iam_role_arn" not in stage_config
    functions = stage_config["lambda_functions"]
    assert set(functions) == set(FUNCTION_NAMES)
    for name, function in functions.items():
        assert function == {"iam_policy_file": f"policy-{name}.json"}
    files = {p.name for p in (ROOT / ".chalice").glob("policy-*.json")}
    assert files == {f"policy-{name}.json" for name in FUNCTION_NAMES}


def test_every_call_of_the_functions_is_reached_by_one_of_them() -> None:
    reachable = {(c.action, c.target) for f in FUNCTION_NAMES for c in lambda_calls(f)}
    assert reachable == {(c.action, c.target) for c in lambda_calls()}
    # What per-function policies buy: the SES consumer neither sends mail nor touches
    # the PDFs, and the scheduled jobs never write PDFs.
    ses_events = {c.action for c in lambda_calls("ses_events")}
    assert not ses_events & {"ses:SendRawEmail", "s3:GetObject", "s3:PutObject"}
    assert "dynamodb:BatchWriteItem" not in ses_events
    for job in ("hourly_reports", "alert_deliveries"):
        assert "s3:PutObject" not in {c.action for c in lambda_calls(job)}


@pytest.mark.parametrize("kms_key", ["", KEY_ARN])
@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_the_policy_grants_exactly_the_actions_needed(function: str, kms_key: str) -> None:
    statements = resolved_statements(function, kms_key)
    granted = {action for s in statements for action in s["Action"]}
    needed = {c.action for c in lambda_calls(function)} | set(SERVICE_ACTIONS)
    needed |= EVENT_SOURCE_ACTIONS.get(function, frozenset())
    assert granted == needed


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_every_call_is_allowed_on_its_resources(function: str) -> None:
    statements = resolved_statements(function, KEY_ARN)
    calls = {(c.action, c.target) for c in lambda_calls(function)}
    calls |= {(action, "") for action in SERVICE_ACTIONS}
    calls |= {(action, "") for action in EVENT_SOURCE_ACTIONS.get(function, ())}
    for action, target in sorted(calls, key=str):
        assert action is not None
        for resource, context in requests_for(action, target, function):
            assert allows(statements, action, resource, context), (action, resource, context)
    # The code's own SendMessage is the deferred fetches' and the queued sends', each to
    # its own queue (the DLQ's is Lambda's).
    senders = {c.function for c in lambda_calls(function) if c.action == "sqs:SendMessage"}
    if "SqsFetchQueue.defer" in senders:
        assert allows(statements, "sqs:SendMessage", FETCH_QUEUE_ARN, {})
    if "SqsSendQueue._send_batch" in senders:
        assert allows(statements, "sqs:SendMessage", SEND_QUEUE_ARN, {})
    assert senders <= {"SqsFetchQueue.defer", "SqsSendQueue._send_batch"}, senders


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_the_policy_is_no_broader(function: str) -> None:
    statements = resolved_statements(function, KEY_ARN)
    other_table = TABLE_ARN.replace("SobreTable", "OtherTable")
    denied: list[tuple[str, str, dict[str, str]]] = [
        # Only the allowed sender domains, and only this account's identities.
        ("ses:SendRawEmail", f"{IDENTITY}/evil.example", {"ses:FromAddress": "x@evil.example"}),
        ("ses:SendRawEmail", f"{IDENTITY}/example.com", {"ses:FromAddress": "x@evil.example"}),
        (
            "ses:SendRawEmail",
            f"{IDENTITY}/example.com.evil.example",
            {"ses:FromAddress": "x@example.com.evil.example"},
        ),
        ("ses:SendRawEmail", f"{IDENTITY}/example.com", {}),
        ("ses:SendRawEmail", IDENTITY.replace(ACCOUNT, OTHER_ACCOUNT) + "/example.com", FROM),
        ("ses:SendRawEmail", CONFIGURATION_SET.replace("/sobre", "/other"), FROM),
        # Raw content is all the code sends.
        ("ses:SendEmail", f"{IDENTITY}/example.com", FROM),
        ("ses:SendBulkEmail", f"{IDENTITY}/example.com", FROM),
        # Item actions the code never uses, other tables, items through an index.
        ("dynamodb:DeleteItem", TABLE_ARN, {}),
        ("dynamodb:Scan", TABLE_ARN, {}),
        ("dynamodb:DescribeTable", TABLE_ARN, {}),
        ("dynamodb:TransactWriteItems", TABLE_ARN, {}),
        ("dynamodb:PartiQLUpdate", TABLE_ARN, {}),
        ("dynamodb:GetItem", other_table, {}),
        ("dynamodb:PutItem", other_table, {}),
        ("dynamodb:UpdateItem", other_table, {}),
        ("dynamodb:BatchGetItem", other_table, {}),
        ("dynamodb:Query", f"{other_table}/index/by_status", {}),
        ("dynamodb:GetItem", f"{TABLE_ARN}/index/by_status", {}),
        ("dynamodb:UpdateItem", f"{TABLE_ARN}/index/by_status", {}),
        ("dynamodb:Scan", f"{TABLE_ARN}/index/by_status", {}),
        # The index the table no longer has.
        ("dynamodb:Query", f"{TABLE_ARN}/index/by_account", {}),
        # PDFs: read and written under pdf/ of the stack's bucket, nothing else.
        ("s3:PutObject", f"arn:aws:s3:::other-bucket/{PDF_OBJECT.split('/', 1)[1]}", {}),
        ("s3:GetObject", f"arn:aws:s3:::other-bucket/{PDF_OBJECT.split('/', 1)[1]}", {}),
        ("s3:GetObject", PDF_OBJECT.replace(PDF_BUCKET, f"{PDF_BUCKET}-evil"), {}),
        ("s3:PutObject", f"{PDF_BUCKET_ARN}/other/x.pdf", {}),
        ("s3:GetObject", f"{PDF_BUCKET_ARN}/x.pdf", {}),
        ("s3:GetObject", f"{PDF_BUCKET_ARN}/pdf-evil/x.pdf", {}),
        ("s3:GetObject", PDF_BUCKET_ARN, {}),
        ("s3:DeleteObject", PDF_OBJECT, {}),
        ("s3:PutObjectAcl", PDF_OBJECT, {}),
        ("s3:PutObjectTagging", PDF_OBJECT, {}),
        ("s3:GetObjectVersion", PDF_OBJECT, {}),
        ("s3:ListBucket", PDF_BUCKET_ARN, {}),
        ("s3:PutBucketPolicy", PDF_BUCKET_ARN, {}),
        ("s3:PutLifecycleConfiguration", PDF_BUCKET_ARN, {}),
        # One parameter, read directly, decrypted only through SSM.
        ("ssm:GetParameter", PARAMETER_ARN.replace("token-secret", "other"), {}),
        ("ssm:GetParameters", PARAMETER_ARN, {}),
        ("ssm:GetParametersByPath", PARAMETER_ARN, {}),
        ("kms:Decrypt", KEY_ARN, {}),
        ("kms:Decrypt", KEY_ARN, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        # The stack's key: only through DynamoDB and SQS, never directly, never others.
        ("kms:Decrypt", STACK_KEY_ARN, {}),
        ("kms:Decrypt", STACK_KEY_ARN, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        ("kms:GenerateDataKey", STACK_KEY_ARN, {}),
        ("kms:GenerateDataKey", KEY_ARN, {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}),
        ("kms:Encrypt", STACK_KEY_ARN, {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}),
        ("kms:CreateGrant", STACK_KEY_ARN, {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}),
        ("kms:ScheduleKeyDeletion", STACK_KEY_ARN, {}),
        # Its own log group and queue only.
        ("logs:PutLogEvents", LOG_STREAM.replace("sobre-prod", "other"), {}),
        ("logs:CreateLogGroup", LOG_GROUP_ARN, {}),
        ("sqs:SendMessage", QUEUE_ARN.replace("DeadLetterQueue", "Other"), {}),
        ("sqs:ReceiveMessage", QUEUE_ARN, {}),
        ("sqs:ReceiveMessage", FETCH_QUEUE_ARN.replace("FetchQueue", "Other"), {}),
        ("sqs:ChangeMessageVisibility", SEND_QUEUE_ARN.replace("SendQueue", "Other"), {}),
        ("sqs:DeleteMessage", QUEUE_ARN, {}),
    ]
    for domain in SAMPLE_PARAMETERS["SenderDomains"]:
        for address in (f"x@evil{domain}", f"x@{domain}.evil.example", f"x@sub.{domain}"):
            denied.append(
                ("ses:SendRawEmail", f"{IDENTITY}/{domain}", {"ses:FromAddress": address})
            )
    for action, resource, context in denied:
        assert not allows(statements, action, resource, context), (action, resource, context)
    # What another function calls and this one does not is denied to this one.
    mine = {(c.action or "", c.target) for c in lambda_calls(function)}
    for other, target in {(c.action or "", c.target) for c in lambda_calls()} - mine:
        if any(a == other for a, _ in mine):
            continue  # the same action on another target (the index): checked above
        # The code sends only deferred fetches; the DLQ is Lambda's, for every function.
        requests = (
            [(FETCH_QUEUE_ARN, {}), (SEND_QUEUE_ARN, {})]
            if other == "sqs:SendMessage"
            else requests_for(other, target, "sender")
        )
        for resource, context in requests:
            assert not allows(statements, other, resource, context), (function, other)
    # Without a customer-managed key for the secret, no decrypting through SSM.
    key, via_ssm = requests_for("kms:Decrypt")[0]
    assert not allows(resolved_statements(function), "kms:Decrypt", key, via_ssm)
    stack_key, via_dynamodb = requests_for("kms:Decrypt")[1]
    assert allows(resolved_statements(function), "kms:Decrypt", stack_key, via_dynamodb)


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_no_wildcard_actions_and_account_scoped_resources(function: str) -> None:
    for statement in resolved_statements(function, KEY_ARN):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        for action in statement["Action"]:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action
        for resource in as_list(statement["Resource"]):
            service = statement["Action"][0].split(":")[0]
            if service == "s3":
                # Bucket ARNs name no account: only the stack's own bucket, and in it one
                # key prefix (the "*" after it covers the objects).
                assert {a.split(":")[0] for a in statement["Action"]} == {"s3"}
                prefix = resource.removeprefix(f"{PDF_BUCKET_ARN}/").removesuffix("*")
                assert resource == f"{PDF_BUCKET_ARN}/{prefix}*", resource
                assert re.fullmatch(r"([a-z0-9-]+/)+", prefix), resource
                continue
            assert resource.startswith(f"arn:aws:{service}:{REGION}:{ACCOUNT}:"), resource
            rest = resource.split(":", 5)[5]
            # The only wildcards: every SES identity of the account (the statement's
            # ses:FromAddress condition restricts it to the allowed domains), and the
            # log group ARN's ":*" that covers its streams.
            assert "*" not in rest.replace("identity/*", "").removesuffix(":*"), resource
            if rest == "identity/*":
                assert "ses:FromAddress" in statement["Condition"]["StringLike"]


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_the_policy_names_only_what_the_template_declares(function: str) -> None:
    resolver = Resolver({**SAMPLE_PARAMETERS, "TokenSecretKmsKeyArn": KEY_ARN})
    resolver.resolve(policy_file(function))
    declared = set(template()["Parameters"]) | set(template()["Resources"])
    assert {name for name in resolver.used if not name.startswith("AWS::")} <= declared


def _scan(source: str) -> list[tuple[str, str | None, str]]:
    tree = ast.parse(source)
    scanner = _Scanner("example.py", tree, _find_models([tree]), _find_clients([tree]))
    scanner.visit(tree)
    return [(c.call, c.action, c.target) for c in scanner.calls]


def test_the_scan_reports_calls_it_cannot_map() -> None:
    source = """
import boto3
from pynamodb.models import Model
from aws_lambda_powertools.utilities.parameters import get_secret

class Item(Model):
    pass

def change(item, data):
    data.update({"a": 1})              # a dict: not an AWS call
    item.update(actions=[Item.n.add(1)])
    Item.scan()
    get_secret("name")
    s3 = boto3.client("s3")
    s3.delete_bucket(Bucket="b")
    s3.put_object(Bucket="b", Key="k", Body=b"", ACL="public-read")
    s3.put_object(Bucket="b", Key="k", Body=b"", Tagging="a=b")
    s3.put_object(Bucket="b", **arguments)
    s3.generate_presigned_url(method, Params={})
    boto3.resource("dynamodb")
"""
    assert _scan(source) == [
        ("pynamodb item.update", "dynamodb:UpdateItem", "table"),
        ("pynamodb Item.scan", "dynamodb:Scan", "table"),
        ("powertools get_secret", "secretsmanager:GetSecretValue", ""),
        ("s3.delete_bucket()", None, ""),
        ("s3.put_object(ACL)", None, ""),
        ("s3.put_object(Tagging)", None, ""),
        ("s3.put_object(**)", None, ""),
        ("s3.generate_presigned_url(?)", None, ""),
        ("boto3.resource", None, ""),
    ]


def test_the_scan_follows_clients_through_helpers() -> None:
    source = """
from functools import cached_property
import boto3
from pynamodb.models import Model

class Item(Model):
    pass

class Other(Model):
    @classmethod
    def _get_connection(cls):
        return Item._get_connection()  # pynamodb's plumbing, not a call

def table_client():
    return Item._get_connection().connection.client

def conditional(operation, **request):
    client = table_client()
    getattr(client, operation)(TableName="t", **request)

class Store:
    @cached_property
    def _s3(self):
        return boto3.client("s3", region_name="eu-west-1")

    def pdfs(self, key):
        self._s3.put_object(Bucket="b", Key=key, Body=b"")
        self._s3.generate_presigned_url("get_object", Params={})

    def _all(self, **request):
        return table_client().query(TableName="t", **request)

    def items(self, op, helpers, store):
        conditional("update_item", Key={})
        conditional(operation="put_item", Item={})
        conditional(op, Key={})
        table_client().batch_get_item(RequestItems={})
        table_client().query(TableName="t", IndexName="by_status")
        request = {"TableName": "t", "IndexName": "by_status"}
        table_client().query(**request)
        self._all(KeyConditionExpression="pk = :pk")
        getattr(table_client(), "delete_item")(Key={})
        Item._get_connection().update_item("k")
        send(boto3.client("sqs"))
        boto3.client("sqs").purge_queue(QueueUrl="q")
        helpers.table_client().scan(TableName="t")
        store._s3.delete_object(Bucket="b", Key="k")
"""
    assert _scan(source) == [
        ("s3.put_object()", "s3:PutObject", ""),
        ("s3.generate_presigned_url(get_object)", "s3:GetObject", ""),
        ("dynamodb.query()", "dynamodb:Query", "table"),
        ("dynamodb.update_item()", "dynamodb:UpdateItem", "table"),
        ("dynamodb.put_item()", "dynamodb:PutItem", "table"),
        ("conditional(<op>)", None, ""),
        ("dynamodb.batch_get_item()", "dynamodb:BatchGetItem", "table"),
        ("dynamodb.query()", "dynamodb:Query", "index"),
        ("dynamodb.query()", "dynamodb:Query", "index"),
        ("dynamodb.delete_item()", "dynamodb:DeleteItem", "table"),
        ("Item._get_connection() used as Item._get_connection()...", None, ""),
        ("boto3.client(...) passed on", None, ""),
        ("sqs.purge_queue()", None, ""),
        # the inner call is the one the scan cannot follow
        ("pynamodb helpers.table_client(...).scan", "dynamodb:Scan", "table"),
        ("helpers.table_client (a client helper reached through another object)", None, ""),
        ("store._s3.delete_object (a client helper reached through another object)", None, ""),
    ]


# Partition keys only the API writes: accounts, their keys, the failed-auth counters.
ACCOUNT_ITEMS = ("ACCOUNT#acme", "APIKEY#" + "0f" * 32, "AUTHFAIL#203.0.113.0/24")
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem")


@pytest.mark.parametrize("function", FUNCTION_NAMES)
def test_only_the_function_that_writes_accounts_and_keys_may(function: str) -> None:
    """``dynamodb:LeadingKeys``: a function whose code never writes an account, a key or
    a failed-auth counter (chalicelib/adapters/dynamo/accounts.py) cannot overwrite one,
    however its code goes wrong (issue 15, point 9)."""
    statements = resolved_statements(function, KEY_ARN)
    accounts_module = "chalicelib/adapters/dynamo/accounts.py"
    writes_accounts = any(
        c.path == accounts_module and c.action in WRITES for c in lambda_calls(function)
    )
    assert writes_accounts is (function == "api_handler")
    for action in {c.action or "" for c in lambda_calls(function)} & set(WRITES):
        assert allows(statements, action, TABLE_ARN, {"dynamodb:LeadingKeys": "INVOICE#x"})
        for key in ACCOUNT_ITEMS:
            context = {"dynamodb:LeadingKeys": key}
            assert allows(statements, action, TABLE_ARN, context) is writes_accounts, key
