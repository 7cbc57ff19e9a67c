#!/usr/bin/env python3
# Cross-reference checks of deploy/kubernetes/: names, selectors, ports, secret keys,
# probes and security settings (kubernetes-validate checks the schemas).
# Run by scripts/check-deploy.sh.
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
    # Liveness must not touch the database (a database outage would restart every replica).
    lp = c.get("livenessProbe", {}).get("httpGet", {})
    if lp.get("path") != "/livez":
        err(f"container {n}: livenessProbe must be httpGet /livez (never the database)")
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
    env_config = [e.get("value") for e in c.get("env", []) if e.get("name") == "CERTFLEET_CONFIG"]
    if "--config" in args:
        err(f"container {n}: give the config as CERTFLEET_CONFIG, not --config, so that "
            "`kubectl exec … certfleet-collector` commands read the same file")
    if not env_config:
        err(f"container {n}: CERTFLEET_CONFIG is not set")
    else:
        cfg_path = env_config[0]
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
                         cfg.get("tls", {}).get("ca_file"),
                         cfg.get("http", {}).get("api_token_file"),
                         cfg.get("http", {}).get("metrics_token_file"),
                         cfg.get("dashboard", {}).get("users_file"),
                         cfg.get("dashboard", {}).get("session_key_file"),
                         *cfg.get("enroll", {}).get("secret_files", [])]
                # Logins on more than one replica need the shared key and the accounts.
                dash = cfg.get("dashboard", {})
                if not dash.get("session_key_file"):
                    err("collector.toml: [dashboard] session_key_file is needed, or each "
                        "replica signs sessions with its own key and logins fail across pods")
                if not (dash.get("users_file") or dash.get("users")):
                    err("collector.toml: no dashboard users (users_file from the Secret)")
                ingress_hosts = {r.get("host") for _, i in docs.get("Ingress", [])
                                 for r in i["spec"].get("rules", [])}
                allowed = set(cfg.get("http", {}).get("allowed_hosts", []))
                if ingress_hosts - allowed:
                    err(f"collector.toml: [http] allowed_hosts {sorted(allowed)} lacks the "
                        f"Ingress host(s) {sorted(ingress_hosts - allowed)}")
                if ingress_hosts and not cfg.get("http", {}).get("trusted_proxies"):
                    err("collector.toml: behind the Ingress, [http] trusted_proxies must name "
                        "the controller's pods")
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
# The agents' LoadBalancer carries gRPC only; HTTP is never on it (issue 16).
lbs = [s for _, s in services if s["spec"].get("type") == "LoadBalancer"]
if len(lbs) != 1:
    err(f"exactly one LoadBalancer Service (the agents' gRPC) is expected, found {len(lbs)}")
for s in lbs:
    names = {p["name"] for p in s["spec"].get("ports", [])}
    if names != {"grpc"}:
        err(f"Service {s['metadata']['name']} (LoadBalancer) must carry only the grpc port, "
            f"not {sorted(names - {'grpc'})}")
service_ports = {s["metadata"]["name"]: {p["name"]: p for p in s["spec"].get("ports", [])}
                 for _, s in services}
ingresses = docs.get("Ingress", [])
if not ingresses:
    err("an Ingress (TLS) for the dashboard and API is expected")
for _, ing in ingresses:
    spec = ing["spec"]
    tls_hosts = {h for t in spec.get("tls", []) for h in t.get("hosts", [])}
    for rule in spec.get("rules", []):
        if rule.get("host") not in tls_hosts:
            err(f"Ingress {ing['metadata']['name']}: host {rule.get('host')} has no TLS")
        for path in rule.get("http", {}).get("paths", []):
            svc = path["backend"]["service"]
            port = svc["port"].get("name") or svc["port"].get("number")
            ports = service_ports.get(svc["name"])
            if ports is None:
                err(f"Ingress backend Service {svc['name']} does not exist")
            elif port not in ports and not any(p.get("port") == port for p in ports.values()):
                err(f"Ingress backend {svc['name']}:{port} is no port of that Service")
            elif ports.get(port, {}).get("targetPort") != "http":
                err(f"Ingress backend {svc['name']}:{port} must reach the pods' http port")
            lb_names = {s["metadata"]["name"] for s in lbs}
            if svc["name"] in lb_names:
                err("the Ingress must not use the agents' LoadBalancer Service")
policies = docs.get("NetworkPolicy", [])
if not policies:
    err("a NetworkPolicy for the collector pods is expected")
for _, np in policies:
    spec = np["spec"]
    if not selects(spec.get("podSelector", {}).get("matchLabels")):
        err(f"NetworkPolicy {np['metadata']['name']} does not select the collector pods")
    allowed_ports = {p.get("port") for r in spec.get("ingress", []) for p in r.get("ports", [])}
    if "grpc" not in allowed_ports:
        err("NetworkPolicy: the agents' grpc port must be allowed in")
    open_http = [r for r in spec.get("ingress", []) if not r.get("from")
                 and any(p.get("port") == "http" for p in r.get("ports", []))]
    if open_http:
        err("NetworkPolicy: the http port must be open only to named namespaces")
    if "Egress" in spec.get("policyTypes", []):
        egress_ports = {p.get("port") for r in spec.get("egress", []) for p in r.get("ports", [])}
        for needed in (53, 5432):
            if needed not in egress_ports:
                err(f"NetworkPolicy egress must allow port {needed}")
pdb = one("PodDisruptionBudget")
if pdb and not selects(pdb["spec"].get("selector", {}).get("matchLabels")):
    err("PodDisruptionBudget does not select the collector pods")

for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
