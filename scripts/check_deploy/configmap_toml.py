#!/usr/bin/env python3
# Prints the collector.toml of the Kubernetes ConfigMap with the secrets directory replaced
# by a local one (the smoke test's credentials).
# Run by scripts/check-deploy.sh.
import sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
print(cm["data"]["collector.toml"].replace("/etc/certfleet/secrets", sys.argv[2]))
