"""The functions' IAM policy (.chalice/policy-<stage>.json) allows every AWS API the
deployed code calls, on the resources it calls them on, and nothing else.

The calls are found by reading the source (``ast``) of app.py and chalicelib/: boto3
client calls, pynamodb operations and Powertools parameter reads, each mapped to the IAM
action that authorizes it by the tables below. A call of a kind the tables do not know
fails the test, so a new kind of AWS call cannot reach production without its
permission. The policy file holds CloudFormation intrinsics (Chalice copies it verbatim
into the roles of the merged template); they are resolved here against
infra/template.yaml with sample parameter values, and the result is evaluated like IAM
evaluates an identity policy (Allow statements, wildcards, condition operators).
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
DEPLOYED = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
STAGES = ("dev", "prod")

# --- The tables: what the code calls -> the IAM action that authorizes it -------------

# boto3: (service, method, variant) -> action. SESv2 SendEmail is authorized as the action
# of its content: Content.Raw -> ses:SendRawEmail; Simple or Template -> ses:SendEmail
# (an AccessDenied for a raw SESv2 SendEmail names ses:SendRawEmail).
BOTO3_ACTIONS: dict[tuple[str, str, str | None], str] = {
    ("sesv2", "send_email", "Raw"): "ses:SendRawEmail",
    ("sesv2", "send_email", "Simple"): "ses:SendEmail",
    ("sesv2", "send_email", "Template"): "ses:SendEmail",
}
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
    "kms:Decrypt": "SSM decrypts the secret with a customer-managed key (if one is given)",
}
# Code in chalicelib that only the operator tools run, with the operator's credentials.
OPERATOR_ONLY = {
    "DynamoUnprocessedStore.delete_unprocessed": "tools.admin unprocessed replay --delete",
    "DynamoInvoiceStore.invoice_ids": "tools.admin reclassify (a Scan)",
}
# The container's builders for operator commands (tools/admin.py), which alone may use
# the code above.
OPERATOR_BUILDERS = {"all_invoice_ids"}

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


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module, models: _Models) -> None:
        self.path = path
        self.calls: list[ApiCall] = []
        self._scope: list[str] = []
        imports = {
            alias.asname or alias.name: node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        # The models are defined in one module and used in others: a file that imports a
        # model (or pynamodb itself) makes pynamodb calls.
        self._models = {name for name in imports if name in models.classes} | {
            cls.name for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
        } & models.classes
        self._pynamodb = bool(self._models) or any(
            module.startswith("pynamodb") for module in imports.values()
        )
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
        self._clients: dict[str, str] = {}
        for node in ast.walk(tree):
            value: ast.expr | None
            if isinstance(node, ast.Assign):
                value, targets = node.value, node.targets
            elif isinstance(node, ast.AnnAssign):
                value, targets = node.value, [node.target]
            else:
                continue
            if isinstance(value, ast.Call) and _dotted(value.func) == "boto3.client":
                service = value.args[0] if value.args else None
                for target in targets:
                    self._clients[_dotted(target)] = (
                        service.value
                        if isinstance(service, ast.Constant) and isinstance(service.value, str)
                        else "?"
                    )

    def _add(self, call: str, action: str | None, target: str = "") -> None:
        self.calls.append(ApiCall(self.path, ".".join(self._scope), call, action, target))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _dotted(func)
        if name in ("boto3.resource", "boto3.Session", "boto3.session.Session") or (
            name.endswith(".client") and name != "boto3.client"
        ):
            self._add(name, None)
        elif isinstance(func, ast.Name) and func.id in self._powertools:
            self._add(f"powertools {func.id}", POWERTOOLS_ACTIONS.get(func.id))
        elif isinstance(func, ast.Attribute):
            receiver = _dotted(func.value)
            if receiver in self._clients:
                self._boto3_call(self._clients[receiver], func.attr, node)
            elif self._pynamodb and func.attr in PYNAMODB_ACTIONS:
                self._pynamodb_call(func.value, func.attr, node)
        self.generic_visit(node)

    def _boto3_call(self, service: str, method: str, node: ast.Call) -> None:
        variant = None
        for keyword in node.keywords:
            if keyword.arg == "Content" and isinstance(keyword.value, ast.Dict):
                keys = [k.value for k in keyword.value.keys if isinstance(k, ast.Constant)]
                variant = str(keys[0]) if len(keys) == 1 else "?"
        self._add(
            f"{service}.{method}({variant or ''})", BOTO3_ACTIONS.get((service, method, variant))
        )

    def _pynamodb_call(self, receiver: ast.expr, method: str, node: ast.Call) -> None:
        on_model = isinstance(receiver, ast.Name) and receiver.id in self._models
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


def scan_calls() -> list[ApiCall]:
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in DEPLOYED}
    models = _find_models(list(trees.values()))
    calls: list[ApiCall] = []
    for path, tree in trees.items():
        scanner = _Scanner(str(path.relative_to(ROOT)), tree, models)
        scanner.visit(tree)
        calls.extend(scanner.calls)
    return calls


def lambda_calls() -> list[ApiCall]:
    return [c for c in scan_calls() if c.function not in OPERATOR_ONLY]


# --- Resolving the policy file's CloudFormation intrinsics ----------------------------

REGION = "eu-west-1"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sobre-prod-SobreTable-1A2B3C4D"
LOG_GROUP = "/aws/lambda/sobre-prod"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sobre-prod-DeadLetterQueue-5E6F7G8H"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0c0ffee0-1234-5678-9abc-def012345678"
SECRET_NAME = "/sobre/prod/token-secret"
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
    "FunctionLogGroup": LOG_GROUP,
}
SAMPLE_ATTRIBUTES: dict[tuple[str, str], str] = {
    ("SobreTable", "Arn"): TABLE_ARN,
    ("DeadLetterQueue", "Arn"): QUEUE_ARN,
    ("FunctionLogGroup", "Arn"): LOG_GROUP_ARN,
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


def policy_file(stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    return loaded


def resolved_statements(stage: str, kms_key: str = "") -> list[dict[str, Any]]:
    resolver = Resolver({**SAMPLE_PARAMETERS, "TokenSecretKmsKeyArn": kms_key})
    document = resolver.resolve(policy_file(stage))
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


def requests_for(action: str, target: str = "") -> list[tuple[str, dict[str, str]]]:
    """The (resource, context) pairs one action of the code is authorized on."""
    if action == "ses:SendRawEmail":
        return [
            (f"{IDENTITY}/example.com", FROM),  # a verified domain
            (f"{IDENTITY}/billing@example.com", FROM),  # a verified address
            (f"{IDENTITY}/billing.example.org", {"ses:FromAddress": "ar@billing.example.org"}),
            (CONFIGURATION_SET, FROM),
        ]
    if action.startswith("dynamodb:"):
        return [(arn, {}) for arn in index_arns()] if target == "index" else [(TABLE_ARN, {})]
    if action == "ssm:GetParameter":
        return [(PARAMETER_ARN, {})]
    if action.startswith("logs:"):
        return [(LOG_STREAM, {})]
    if action == "sqs:SendMessage":
        return [(QUEUE_ARN, {})]
    if action == "kms:Decrypt":
        return [(KEY_ARN, {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"})]
    raise AssertionError(f"no sample request for {action}")


# --- Tests ----------------------------------------------------------------------------


def test_every_aws_call_of_the_code_is_in_the_tables() -> None:
    calls = scan_calls()
    unknown = [c for c in calls if c.action is None]
    assert not unknown, f"AWS calls with no IAM action in this test's tables: {unknown}"
    found = {(c.action, c.target) for c in calls}
    # What the code does today; the scan must keep seeing it.
    assert {
        ("ses:SendRawEmail", ""),
        ("dynamodb:GetItem", "table"),
        ("dynamodb:PutItem", "table"),
        ("dynamodb:BatchWriteItem", "table"),
        ("dynamodb:Query", "table"),
        ("dynamodb:Query", "index"),
        ("dynamodb:DeleteItem", "table"),
        ("ssm:GetParameter", ""),
    } <= found


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
def test_the_stage_uses_its_policy_file(stage: str) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_config = config["stages"][stage]
    assert stage_config["autogen_policy"] is False
    assert stage_config["iam_policy_file"] == f"policy-{stage}.json"
    assert "iam_role_arn" not in stage_config


@pytest.mark.parametrize("kms_key", ["", KEY_ARN])
@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_grants_exactly_the_actions_needed(stage: str, kms_key: str) -> None:
    statements = resolved_statements(stage, kms_key)
    granted = {action for s in statements for action in s["Action"]}
    needed = {c.action for c in lambda_calls()} | set(SERVICE_ACTIONS)
    if not kms_key:
        needed.discard("kms:Decrypt")
    assert granted == needed


@pytest.mark.parametrize("stage", STAGES)
def test_every_call_is_allowed_on_its_resources(stage: str) -> None:
    statements = resolved_statements(stage, KEY_ARN)
    calls = {(c.action, c.target) for c in lambda_calls()}
    calls |= {(action, "") for action in SERVICE_ACTIONS}
    for action, target in sorted(calls, key=str):
        assert action is not None
        for resource, context in requests_for(action, target):
            assert allows(statements, action, resource, context), (action, resource, context)


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_is_no_broader(stage: str) -> None:
    statements = resolved_statements(stage, KEY_ARN)
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
        ("dynamodb:UpdateItem", TABLE_ARN, {}),
        ("dynamodb:Scan", TABLE_ARN, {}),
        ("dynamodb:DescribeTable", TABLE_ARN, {}),
        ("dynamodb:GetItem", other_table, {}),
        ("dynamodb:Query", f"{other_table}/index/by_status", {}),
        ("dynamodb:GetItem", f"{TABLE_ARN}/index/by_status", {}),
        ("dynamodb:Scan", f"{TABLE_ARN}/index/by_status", {}),
        # One parameter, read directly, decrypted only through SSM.
        ("ssm:GetParameter", PARAMETER_ARN.replace("token-secret", "other"), {}),
        ("ssm:GetParameters", PARAMETER_ARN, {}),
        ("ssm:GetParametersByPath", PARAMETER_ARN, {}),
        ("kms:Decrypt", KEY_ARN, {}),
        ("kms:Decrypt", KEY_ARN, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
        # Its own log group and queue only.
        ("logs:PutLogEvents", LOG_STREAM.replace("sobre-prod", "other"), {}),
        ("logs:CreateLogGroup", LOG_GROUP_ARN, {}),
        ("sqs:SendMessage", QUEUE_ARN.replace("DeadLetterQueue", "Other"), {}),
        ("sqs:ReceiveMessage", QUEUE_ARN, {}),
    ]
    for domain in SAMPLE_PARAMETERS["SenderDomains"]:
        for address in (f"x@evil{domain}", f"x@{domain}.evil.example", f"x@sub.{domain}"):
            denied.append(
                ("ses:SendRawEmail", f"{IDENTITY}/{domain}", {"ses:FromAddress": address})
            )
    for action, resource, context in denied:
        assert not allows(statements, action, resource, context), (action, resource, context)
    # Without a customer-managed key, no KMS permission at all.
    key, via_ssm = requests_for("kms:Decrypt")[0]
    assert not allows(resolved_statements(stage), "kms:Decrypt", key, via_ssm)


@pytest.mark.parametrize("stage", STAGES)
def test_no_wildcard_actions_and_account_scoped_resources(stage: str) -> None:
    for statement in resolved_statements(stage, KEY_ARN):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        for action in statement["Action"]:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action
        for resource in as_list(statement["Resource"]):
            service = statement["Action"][0].split(":")[0]
            assert resource.startswith(f"arn:aws:{service}:{REGION}:{ACCOUNT}:"), resource
            rest = resource.split(":", 5)[5]
            # The only wildcards: every SES identity of the account (the statement's
            # ses:FromAddress condition restricts it to the allowed domains), and the
            # log group ARN's ":*" that covers its streams.
            assert "*" not in rest.replace("identity/*", "").removesuffix(":*"), resource
            if rest == "identity/*":
                assert "ses:FromAddress" in statement["Condition"]["StringLike"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_names_only_what_the_template_declares(stage: str) -> None:
    resolver = Resolver({**SAMPLE_PARAMETERS, "TokenSecretKmsKeyArn": KEY_ARN})
    resolver.resolve(policy_file(stage))
    declared = set(template()["Parameters"]) | set(template()["Resources"])
    assert {name for name in resolver.used if not name.startswith("AWS::")} <= declared


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
    s3.put_object(Bucket="b", Key="k", Body=b"")
    boto3.resource("dynamodb")
"""
    tree = ast.parse(source)
    scanner = _Scanner("example.py", tree, _find_models([tree]))
    scanner.visit(tree)
    assert [(c.call, c.action) for c in scanner.calls] == [
        ("pynamodb item.update", "dynamodb:UpdateItem"),
        ("pynamodb Item.scan", "dynamodb:Scan"),
        ("powertools get_secret", "secretsmanager:GetSecretValue"),
        ("s3.put_object()", None),
        ("boto3.resource", None),
    ]
