# Sobre: `make run` starts the whole system locally; `make test` runs every check.
# Both install what they need (virtualenv, pip, npm, apt) on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
STAGE ?= local

.PHONY: help install run demo test lint typecheck unit integration e2e chromium api-key clean
.PHONY: cfn-lint check-stage check-deploy package deploy

help:
	@echo "make run        start the local stack (AWS emulator, API on :8000, outbox on :8025)"
	@echo "make demo       send a few invoices to the running local stack"
	@echo "make test       lint, type-check and run every test"
	@echo "make bench      benchmarks: one table, also bench/results.json (README: Performance)"
	@echo "make eval-opens score the open classifier on the labelled fetches"
	@echo "make api-key ACCOUNT=<id> [FROM=<address>]   create an API key"
	@echo "make package STAGE=dev|prod   deployment template and zip in out/<stage>/"
	@echo "make deploy STAGE=dev|prod S3_BUCKET=... (docs/DEPLOY.md)   deploy with CloudFormation"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP)

# ruff (style, complexity), and the import contracts of pyproject.toml (the house rules).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy app.py chalicelib infra tools tests

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

# How well the open classifier tells people from machines, on tests/fixtures/opens/
# (precision/recall of "person", confusion table, misclassified entries). The thresholds
# are asserted by tests/unit/test_eval_opens.py; add --check to exit 1 below them.
.PHONY: eval-opens
eval-opens: $(STAMP)
	$(PY) -m tools.eval_opens

integration: install
	$(PY) -m pytest tests/integration -q

# Headless Chromium for the end-to-end tests (Debian's package; never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium; }

e2e: install chromium
	$(PY) -m pytest tests/e2e -q

# infra/template.yaml alone is a fragment of the deployed template, so four checks are
# off for it alone: E3001 (its RestAPI, SesEvents and PublicDoor entries have no Type:
# they extend resources Chalice generates), E1020 and E1019 (its alarms, base path mapping
# and public door Ref or Fn::Sub APIHandler, SesEvents, RestAPI and PublicDoor, which
# Chalice generates) and W8001 (HasTokenSecretKmsKey is used by
# .chalice/policy-<function>.json). The merged templates of both stages, before and after
# the SAM transform (infra/package.py), are linted with every default check.
cfn-lint: $(STAMP)
	$(VENV)/bin/cfn-lint --ignore-checks E3001 E1020 E1019 W8001 -- infra/template.yaml
	for stage in $(DEPLOY_STAGES); do $(PY) -m infra.package --stage $$stage out/lint/$$stage || exit 1; done
	$(VENV)/bin/cfn-lint -- $(foreach s,$(DEPLOY_STAGES),out/lint/$(s)/sam.yaml out/lint/$(s)/cloudformation.json)

test: install lint typecheck cfn-lint chromium
	$(PY) -m pytest -q
	$(PY) -m bench --smoke

# Benchmarks (bench/, never deployed): DynamoDB requests per operation, index versus
# scan, CPU per request, cold start, concurrency, package size, the open classifier, the
# pixel with storage paused, each beside its target.
# Prints one table and writes it to bench/results.json; `make test` runs `--smoke`.
.PHONY: bench
bench: install
	$(PY) -m bench

run: install
	$(PY) -m infra.run

# Needs `make run` in another terminal (reads its $(SOBRE_STATE_DIR)/local.env).
SOBRE_STATE_DIR ?= .sobre
demo: $(STAMP)
	@test -f "$(abspath $(SOBRE_STATE_DIR))/local.env" || { echo "Start the local stack first: make run"; exit 2; }
	@. "$(abspath $(SOBRE_STATE_DIR))/local.env" && $(PY) -m infra.demo

api-key: $(STAMP)
	@test -n "$(ACCOUNT)" || { echo "usage: make api-key ACCOUNT=<id> [FROM=<address>]"; exit 2; }
	@if [ -z "$$AWS_ENDPOINT_URL" ] && [ -f .sobre/local.env ]; then . ./.sobre/local.env; \
	  echo "Using the local stack at $$AWS_ENDPOINT_URL (.sobre/local.env)" >&2; fi; \
	$(PY) -m tools.admin api-key --account "$(ACCOUNT)" $(if $(FROM),--from "$(FROM)",--default-from billing@example.com)

# --- Deploying (docs/DEPLOY.md). Nothing here runs in `make test`. ---------------------
DEPLOY_STAGES := dev prod
STACK_NAME ?= sobre-$(STAGE)
TOKEN_SECRET_PARAMETER ?= /sobre/$(STAGE)/token-secret
# Chalice wants a region to package; the template itself is region-independent.
PACKAGE_REGION = $${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}}

check-stage:
	@case "$(STAGE)" in dev|prod) ;; \
	  *) echo "STAGE must be dev or prod (got '$(STAGE)')"; exit 2 ;; esac

# The template (sam.yaml) and the Lambda zip (deployment.zip, built for Lambda's
# manylinux by Chalice, which downloads the wheels from PyPI the first time and caches
# the result in .chalice/deployments/), then compiled and trimmed (infra/lean_package.py).
package: $(STAMP) check-stage
	rm -rf out/$(STAGE)
	AWS_DEFAULT_REGION=$(PACKAGE_REGION) $(VENV)/bin/chalice package --stage $(STAGE) \
	  --merge-template infra/template.yaml out/$(STAGE)
	$(PY) -m infra.lean_package out/$(STAGE)/deployment.zip

# Parameters not given keep their previous value on an existing stack. CHANGESET_ONLY=1
# creates the change set for review without executing it.
DEPLOY_PARAMETERS = TokenSecretParameterName=$(TOKEN_SECRET_PARAMETER) \
	$(if $(SENDER_DOMAINS),SenderDomains=$(SENDER_DOMAINS)) \
	$(if $(API_DOMAIN),ApiDomainName=$(API_DOMAIN)) \
	$(if $(API_CERTIFICATE_ARN),ApiCertificateArn=$(API_CERTIFICATE_ARN)) \
	$(if $(HOSTED_ZONE_ID),HostedZoneId=$(HOSTED_ZONE_ID)) \
	$(if $(PUBLIC_DOMAIN),PublicDomainName=$(PUBLIC_DOMAIN)) \
	$(if $(PUBLIC_CERTIFICATE_ARN),PublicCertificateArn=$(PUBLIC_CERTIFICATE_ARN)) \
	$(if $(PUBLIC_DOOR_KIND),PublicDoorKind=$(PUBLIC_DOOR_KIND)) \
	$(if $(PUBLIC_VPC_ID),PublicVpcId=$(PUBLIC_VPC_ID)) \
	$(if $(PUBLIC_SUBNET_IDS),PublicSubnetIds=$(PUBLIC_SUBNET_IDS)) \
	$(if $(TABLE_CAPACITY),TableCapacity=$(TABLE_CAPACITY)) \
	$(if $(SES_TRACKING_DOMAIN),SesTrackingDomain=$(SES_TRACKING_DOMAIN)) \
	$(if $(ALARM_EMAIL),AlarmEmail=$(ALARM_EMAIL)) \
	$(if $(TOKEN_SECRET_KMS_KEY_ARN),TokenSecretKmsKeyArn=$(TOKEN_SECRET_KMS_KEY_ARN)) \
	$(if $(LOG_RETENTION_DAYS),LogRetentionDays=$(LOG_RETENTION_DAYS))

check-deploy: check-stage
	@test -n "$(S3_BUCKET)" || { echo "usage: make deploy STAGE=dev|prod S3_BUCKET=<bucket> \
	[SENDER_DOMAINS=a.com,b.com API_DOMAIN=<host> API_CERTIFICATE_ARN=<arn> ...] (docs/DEPLOY.md)"; exit 2; }
	@command -v aws >/dev/null || { echo "make deploy needs the AWS CLI (docs/DEPLOY.md)"; exit 2; }

deploy: check-deploy package
	aws cloudformation package --template-file out/$(STAGE)/sam.yaml \
	  --s3-bucket $(S3_BUCKET) --s3-prefix $(STACK_NAME) \
	  --output-template-file out/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file out/$(STAGE)/packaged.yaml \
	  --stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --no-fail-on-empty-changeset $(if $(CHANGESET_ONLY),--no-execute-changeset) \
	  --parameter-overrides $(strip $(DEPLOY_PARAMETERS))
	$(if $(CHANGESET_ONLY),,aws cloudformation describe-stacks --stack-name $(STACK_NAME) \
	  --query "Stacks[0].Outputs" --output table)

reclassify: $(STAMP)
	@if [ -z "$$AWS_ENDPOINT_URL" ] && [ -f .sobre/local.env ]; then . ./.sobre/local.env; fi; \
	$(PY) -m tools.admin reclassify

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .sobre out
