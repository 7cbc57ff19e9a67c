#!/usr/bin/env python3
# Cross-reference checks of deploy/docker/: compose services, volumes, secrets and the
# Dockerfile's layout.
# Run by scripts/check-deploy.sh.
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
