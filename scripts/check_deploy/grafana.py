#!/usr/bin/env python3
# The Grafana dashboard's structure; writes every panel query as a recording rule so that
# promtool can parse it as PromQL.
# Run by scripts/check-deploy.sh.
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
