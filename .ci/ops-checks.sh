#!/usr/bin/env bash
# The operations checks, offline and quick (about a minute after the installs):
#   1. docs/metrics.md lists every metric the code registers;
#   2. the alert rules and the Grafana dashboard name only metrics listed there;
#   3. `promtool check rules`, `promtool test rules` and `promtool check config` on docker/prometheus;
#   4. the Kubernetes base renders (`kubectl kustomize`) and every object validates against the
#      Kubernetes 1.30 schemas (kubernetes-validate, strict), and its shutdown timing fits
#      terminationGracePeriodSeconds;
#   5. LOG_FORMAT=json: the server's request log lines are JSON objects carrying the request id.
# Installs promtool (Debian's prometheus package) and kubernetes-validate (PyPI, into the venv
# under ~/.cache/simplechat-ci); kubectl comes with the machine, else from apt.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
ci_counting ops-checks
cd "$ci_root"

check() { # NAME COMMAND...: runs one check, counting it
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    ci_log "ok: $name"
  else
    failed=$((failed + 1))
    ci_log "FAILED: $name"
  fi
}

# --- tools
command -v promtool >/dev/null || ci_apt_install prometheus
# kubectl (for `kubectl kustomize`) is on this project's machines; Debian has no package of it, so
# elsewhere the try below fails and the base is assembled without it (step 4).
command -v kubectl >/dev/null || (ci_apt_install kubectl) || ci_log "no kubectl: rendering the base without kustomize"
venv=$CI_CACHE_DIR/ops-venv
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  ci_log "installing kubernetes-validate and PyYAML into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate==1.37.0' PyYAML ||
    ci_die "pip install kubernetes-validate"
fi

# --- 1 and 2: the metrics reference against the code, the alerts and the dashboard
check "docs/metrics.md lists every metric; alerts and dashboard use only listed ones" \
  "$venv/bin/python" - <<'PY'
import json, pathlib, re, sys
import yaml

root = pathlib.Path(".")
doc = (root / "docs/metrics.md").read_text()
documented = set(re.findall(r"^\| `(simplechat_[a-z0-9_]+)` \|", doc, re.M))
code = set()
for folder in ("app", "pkg", "platform"):
    for path in (root / folder).rglob("*.rs"):
        if "bench" in path.parts:
            continue
        code |= set(re.findall(r'"(simplechat_[a-z0-9_]+)"', path.read_text()))
problems = [f"registered in the code but missing from docs/metrics.md: {name}"
            for name in sorted(code - documented)]

def names_in(expr):
    for name in re.findall(r"\b([a-z_][a-z0-9_]*)\b", expr):
        if name.startswith("simplechat_"):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            yield base if base in documented else name
        elif name == "up":
            yield name

exprs = []
rules = yaml.safe_load((root / "docker/prometheus/alerts.yml").read_text())
for group in rules["groups"]:
    for rule in group["rules"]:
        exprs.append((f"alert {rule['alert']}", rule["expr"]))
dashboard = json.loads((root / "docker/grafana/simplechat.json").read_text())
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        exprs.append((f"panel {panel['title']!r}", target["expr"]))
for where, expr in exprs:
    used = list(names_in(expr))
    if not any(name.startswith("simplechat_") for name in used) and "up" not in used:
        problems.append(f"{where} names no simplechat metric: {expr}")
    for name in used:
        if name != "up" and name not in documented:
            problems.append(f"{where} uses {name}, which docs/metrics.md does not list")
for problem in problems:
    print(problem, file=sys.stderr)
print(f"{len(code)} metrics in the code, {len(documented)} documented, {len(exprs)} queries checked",
      file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# --- 3: promtool
check "promtool check rules" promtool check rules docker/prometheus/alerts.yml
check "promtool test rules" promtool test rules docker/prometheus/alerts.test.yml
check "promtool check config" promtool check config --syntax-only docker/prometheus/prometheus.yml

# --- 4: Kubernetes
rendered=$ci_tmp/k8s.yaml
if command -v kubectl >/dev/null; then
  check "kubectl kustomize docker/k8s" sh -c "kubectl kustomize docker/k8s >'$rendered'"
else
  # Without kubectl: the resources as listed, in the kustomization's namespace (the only
  # transformation the schemas care about); kustomize's own rendering is then not checked.
  check "docker/k8s assembled without kubectl" "$venv/bin/python" - "$rendered" <<'PY'
import pathlib, sys
import yaml

base = pathlib.Path("docker/k8s")
kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
out = []
for resource in kustomization["resources"]:
    for doc in yaml.safe_load_all((base / resource).read_text()):
        if doc and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = kustomization["namespace"]
        out.append(doc)
pathlib.Path(sys.argv[1]).write_text(yaml.safe_dump_all(out))
PY
fi
check "the manifests validate against Kubernetes 1.30 (strict)" \
  "$venv/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$rendered"
check "terminationGracePeriodSeconds covers preStop + SHUTDOWN_DRAIN + 4.5 s" \
  "$venv/bin/python" - "$rendered" <<'PY'
import re, sys
import yaml

docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
pod = docs[("Deployment", "simplechat")]["spec"]["template"]["spec"]
container = pod["containers"][0]
pre_stop = container["lifecycle"]["preStop"]
sleep = (pre_stop["sleep"]["seconds"] if "sleep" in pre_stop
         else float(pre_stop["exec"]["command"][-1]))
drain = docs[("ConfigMap", "simplechat-config")]["data"]["SHUTDOWN_DRAIN"]
drain_s = float(re.fullmatch(r"(\d+)s", drain).group(1))
# pkg/server/mod.rs: 3 s for in-flight requests, 1.5 s for sockets to close, after the drain.
needed = sleep + drain_s + 3 + 1.5
grace = pod["terminationGracePeriodSeconds"]
print(f"preStop {sleep}s + drain {drain_s}s + 4.5s = {needed}s; grace {grace}s", file=sys.stderr)
probes = all(k in container for k in ("readinessProbe", "livenessProbe", "startupProbe"))
sys.exit(0 if grace > needed and probes else 1)
PY

# --- 5: JSON logs
ci_require_services
bin=$(ci_bin)
database='' prefix=''
ci_new_database database ops
ci_new_redis_prefix prefix ops
port=$(ci_free_port)
ci_start_server json-logs "$port" APP_ENV=prod LOG_FORMAT=json DATABASE_URL="$CI_POSTGRES_URL/$database" \
  REDIS_PREFIX="$prefix" JWT_SECRET="$(ci_random 48)" DATABASE_POOL_SIZE=2
pid=$ci_last_pid
ci_wait_ready json-logs "$port" "$pid"
request_id="ops-json-$(ci_random 8)"
curl -fsS -m 10 -o /dev/null -H "X-Request-Id: $request_id" "http://127.0.0.1:$port/healthz"
ci_stop_pid "$pid"
check "LOG_FORMAT=json writes one JSON object per line, with the span's request_id" \
  python3 - "$ci_tmp/json-logs.log" "$request_id" <<'PY'
import json, sys

lines = [line for line in open(sys.argv[1]) if line.strip()]
objects = []
for line in lines:
    try:
        objects.append(json.loads(line))
    except ValueError:
        print(f"not JSON: {line!r}", file=sys.stderr)
        sys.exit(1)
served = [o for o in objects if o.get("span", {}).get("request_id") == sys.argv[2]]
ok = served and all(k in served[0] for k in ("timestamp", "level", "target", "message"))
print(f"{len(objects)} lines, all JSON; request line: {served[:1]}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
[ "$failed" = 0 ]
