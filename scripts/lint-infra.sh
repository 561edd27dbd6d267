#!/usr/bin/env bash
# Lints the deployment infrastructure; exits non-zero on any finding.
#   1. cfn-lint on infra/template.yaml (the SAM template as written, against SAM's schemas).
#   2. The SAM transform (aws-sam-translator, what CloudFormation runs at deploy time) to plain
#      CloudFormation, then cfn-lint on that: catches translator errors and circular
#      dependencies between the resources SAM generates (bucket notification <-> ingest
#      function), which step 1 cannot see.
#   3. Drift checks: the DynamoDB tables in the template match infra/tables.json (keys, attribute
#      types, billing, stream, TTL, indexes), and every S3 bucket name/ARN in the template is the
#      bucket's own computed name.
# Installs its tools (pinned) into .cache/cfn-lint-venv with the machine's python3 on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.58.0
SAM_TRANSLATOR_VERSION=1.115.0
VENV=.cache/cfn-lint-venv
TEMPLATE=${LINT_INFRA_TEMPLATE:-infra/template.yaml}
TABLES=${LINT_INFRA_TABLES:-infra/tables.json}

mkdir -p .cache
exec 9>.cache/cfn-lint-venv.lock
flock 9
stamp="$VENV/.installed-cfn-lint-$CFN_LINT_VERSION-sam-translator-$SAM_TRANSLATOR_VERSION"
if [[ ! -f "$stamp" ]]; then
  echo "lint-infra: installing cfn-lint $CFN_LINT_VERSION and aws-sam-translator $SAM_TRANSLATOR_VERSION into $VENV" >&2
  rm -rf "$VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
  touch "$stamp"
fi
exec 9>&-

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

echo "lint-infra: cfn-lint $CFN_LINT_VERSION $TEMPLATE"
"$VENV/bin/cfn-lint" -- "$TEMPLATE" || status=1

echo "lint-infra: SAM transform (aws-sam-translator $SAM_TRANSLATOR_VERSION), then cfn-lint on the result"
if AWS_DEFAULT_REGION=us-east-1 "$VENV/bin/python" - "$TEMPLATE" "$work/transformed.json" <<'PY'
import json, sys
from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform
from samtranslator.model.exceptions import InvalidDocumentException

src, dst = sys.argv[1], sys.argv[2]
template = cfn_yaml.load(src)
# What `sam build` + `sam package` do before deploying: local code becomes an S3 object, the
# Dockerfile an ECR image. Placeholders are enough for the transform.
for name, res in template.get("Resources", {}).items():
    if res.get("Type") != "AWS::Serverless::Function":
        continue
    props = res.setdefault("Properties", {})
    if props.get("PackageType") == "Image":
        props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/stream:lint"
    else:
        props["CodeUri"] = f"s3://lint-placeholder/{name}.zip"
params = {k: v["Default"] for k, v in template.get("Parameters", {}).items() if "Default" in v}


class NoManagedPolicies:
    # The template names no managed policy; SAM's own (basic execution, DynamoDB stream) are ARNs.
    def load(self):
        return {}


try:
    out = transform(json.loads(json.dumps(template)), params, NoManagedPolicies())
except InvalidDocumentException as e:
    for cause in e.causes:
        print(f"SAM transform: {cause.message}", file=sys.stderr)
    sys.exit(1)
with open(dst, "w") as f:
    json.dump(out, f, indent=1)
PY
then
  "$VENV/bin/cfn-lint" -- "$work/transformed.json" || status=1
else
  status=1
fi

echo "lint-infra: tables match $TABLES; bucket names agree"
"$VENV/bin/python" - "$TEMPLATE" "$TABLES" <<'PY' || status=1
import json, re, sys
from cfnlint.decode import cfn_yaml

template_path, tables_path = sys.argv[1], sys.argv[2]
template = cfn_yaml.load(template_path)
spec = json.load(open(tables_path))["tables"]
resources = template.get("Resources", {})
errors = []

# --- DynamoDB tables: infra/tables.json is the single source, the template must mirror it.
CHECKED = {"TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "StreamSpecification",
           "TimeToLive", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"}


def attrs(defs):
    return sorted((d["AttributeName"], d["AttributeType"]) for d in defs or [])


def keys(schema):
    return [(k["AttributeName"], k["KeyType"]) for k in schema or []]


def indexes(idx):
    return sorted((i["IndexName"], keys(i["KeySchema"]), json.dumps(i.get("Projection"), sort_keys=True))
                  for i in idx or [])


in_template = {}
for logical, res in resources.items():
    if res.get("Type") != "AWS::DynamoDB::Table":
        continue
    name = res.get("Properties", {}).get("TableName")
    m = re.fullmatch(r"\$\{TablePrefix\}-(.+)", name.get("Fn::Sub", "") if isinstance(name, dict) else "")
    if not m:
        errors.append(f"{logical}: TableName must be !Sub '${{TablePrefix}}-<name>' (got {name!r})")
        continue
    in_template[m.group(1)] = (logical, res["Properties"])

for t in spec:
    name = t["TableName"]
    unchecked = set(t) - CHECKED
    if unchecked:
        errors.append(f"tables.json {name}: keys this check does not compare yet: {sorted(unchecked)}")
    if name not in in_template:
        errors.append(f"tables.json {name}: no AWS::DynamoDB::Table named ${{TablePrefix}}-{name} in the template")
        continue
    logical, p = in_template.pop(name)
    where = f"{logical} ({name})"
    if attrs(p.get("AttributeDefinitions")) != attrs(t.get("AttributeDefinitions")):
        errors.append(f"{where}: AttributeDefinitions {attrs(p.get('AttributeDefinitions'))} != tables.json {attrs(t.get('AttributeDefinitions'))}")
    if keys(p.get("KeySchema")) != keys(t.get("KeySchema")):
        errors.append(f"{where}: KeySchema {keys(p.get('KeySchema'))} != tables.json {keys(t.get('KeySchema'))}")
    if p.get("BillingMode", "PROVISIONED") != t.get("BillingMode", "PROVISIONED"):
        errors.append(f"{where}: BillingMode {p.get('BillingMode')} != tables.json {t.get('BillingMode')}")
    want = t.get("StreamSpecification") or {}
    want_view = want.get("StreamViewType") if want.get("StreamEnabled", False) else None
    got_view = (p.get("StreamSpecification") or {}).get("StreamViewType")
    if got_view != want_view:
        errors.append(f"{where}: stream view type {got_view} != tables.json {want_view}")
    want_ttl = t.get("TimeToLive") if (t.get("TimeToLive") or {}).get("Enabled") else None
    got_ttl = p.get("TimeToLiveSpecification") if (p.get("TimeToLiveSpecification") or {}).get("Enabled") else None
    if (want_ttl or {}).get("AttributeName") != (got_ttl or {}).get("AttributeName"):
        errors.append(f"{where}: TTL attribute {(got_ttl or {}).get('AttributeName')} != tables.json {(want_ttl or {}).get('AttributeName')}")
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if indexes(p.get(kind)) != indexes(t.get(kind)):
            errors.append(f"{where}: {kind} differ from tables.json")
for name, (logical, _) in in_template.items():
    errors.append(f"{logical}: table ${{TablePrefix}}-{name} is not in tables.json")

# --- The bucket is named by a computed string (a !Ref from a function would be a circular
# dependency through the ingest notification): every use must be that same string.
bucket = [r for r in resources.values() if r.get("Type") == "AWS::S3::Bucket"]
bucket_name = (bucket[0].get("Properties", {}).get("BucketName") or {}).get("Fn::Sub") if len(bucket) == 1 else None
if not bucket_name:
    errors.append("expected exactly one AWS::S3::Bucket with BucketName: !Sub '...'")
else:
    env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    if env.get("STREAM_BUCKET") != {"Fn::Sub": bucket_name}:
        errors.append(f"Globals STREAM_BUCKET must be !Sub '{bucket_name}' (got {env.get('STREAM_BUCKET')!r})")
    prefix = "arn:${AWS::Partition}:s3:::" + bucket_name

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "Fn::Sub" and isinstance(v, str) and ":s3:::" in v:
                    if not (v == prefix or v.startswith(prefix + "/")):
                        errors.append(f"{path}: S3 ARN {v!r} is not the media bucket's ({prefix!r})")
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(resources, "Resources")

for e in errors:
    print(f"drift: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

if ((status)); then
  echo "lint-infra: FAILED" >&2
else
  echo "lint-infra: OK"
fi
exit "$status"
