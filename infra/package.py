"""The deployment template without the deployment package, for checks.

    python -m infra.package --stage prod out/lint/prod
        out/lint/prod/sam.yaml             what `make package` writes: Chalice's SAM
                                           template merged with infra/template.yaml
        out/lint/prod/cloudformation.json  the same after the SAM transform, run here with
                                           aws-sam-translator (what CloudFormation deploys)

``chalice package`` runs on a copy of the app that has no requirements.txt, so nothing is
downloaded and no 40 MB zip is built; the dependencies only go into the zip, never into
the template. ``make cfn-lint`` lints both files and tests/infra/test_package.py checks
them. Deploy with ``make package`` / ``make deploy`` (docs/DEPLOY.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "template.yaml"
# What `chalice package` reads to generate the template.
APP_FILES = ("app.py", "chalicelib", ".chalice/config.json")
# The template uses ${AWS::Region}; Chalice and the SAM translator still want a region.
DEFAULT_REGION = "us-east-1"


def chalice_command() -> list[str]:
    script = Path(sys.executable).with_name("chalice")
    return [str(script)] if script.exists() else ["chalice"]


def package_template(stage: str, out_dir: Path) -> Path:
    """Runs ``chalice package --merge-template`` on a dependency-free copy of the app;
    returns the path of the merged SAM template (``out_dir/sam.yaml``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sobre-package-") as tmp:
        project = Path(tmp) / "project"
        for name in APP_FILES:
            source = ROOT / name
            target = project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        for policy in (ROOT / ".chalice").glob("policy-*.json"):
            shutil.copy2(policy, project / ".chalice" / policy.name)
        env = dict(os.environ)
        env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", DEFAULT_REGION))
        # Packaging needs no credentials: don't let botocore probe the instance metadata.
        env.setdefault("AWS_EC2_METADATA_DISABLED", "true")
        subprocess.run(  # noqa: S603 - this virtualenv's chalice, fixed arguments
            [
                *chalice_command(),
                "package",
                "--stage",
                stage,
                "--merge-template",
                str(MERGE_TEMPLATE),
                str(Path(tmp) / "out"),
            ],
            cwd=project,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        target = out_dir / "sam.yaml"
        shutil.copy2(Path(tmp) / "out" / "sam.yaml", target)
    return target


class _NoManagedPolicies:
    """The template names no AWS managed policies, so the translator never asks IAM."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(sam_template: dict[str, Any], region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The AWS::Serverless-2016-10-31 transform, done locally by aws-sam-translator (the
    library CloudFormation's transform is built from). No AWS call is made."""
    import boto3

    translator_module = importlib.import_module("samtranslator.translator.translator")
    parser_module = importlib.import_module("samtranslator.parser.parser")
    template = json.loads(json.dumps(sam_template))  # a private copy; the translator edits
    for resource in template.get("Resources", {}).values():
        # Where `aws cloudformation package` would upload the zip.
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://sobre-artifacts/deployment.zip"
    translator = translator_module.Translator(
        None, parser_module.Parser(), boto_session=boto3.session.Session(region_name=region)
    )
    transformed: dict[str, Any] = translator.translate(
        template,
        parameter_values={},
        get_managed_policy_map=_NoManagedPolicies().load,
    )
    return transformed


def load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def build(stage: str, out_dir: Path) -> tuple[Path, Path]:
    sam_path = package_template(stage, out_dir)
    cfn_path = out_dir / "cloudformation.json"
    cfn_path.write_text(json.dumps(sam_transform(load_template(sam_path)), indent=1) + "\n")
    return sam_path, cfn_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for path in build(args.stage, args.out):
        print(path)


if __name__ == "__main__":
    main()
