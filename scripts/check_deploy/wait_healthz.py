#!/usr/bin/env python3
# Waits until the collector on 127.0.0.1:PORT answers /healthz (about 20 s at most).
# Run by scripts/check-deploy.sh.
import sys, time, urllib.request
for _ in range(100):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1).status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
