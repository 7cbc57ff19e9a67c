//! Every `collector.toml` the project ships is read by the real configuration types, with
//! unknown keys refused (`deny_unknown_fields`): `deploy/examples/collector.toml` and the
//! Kubernetes ConfigMap's. The parts that need no secret files are resolved too, so a value
//! the collector would refuse at start fails here. (The agent's examples:
//! `agent/tests/examples.rs`; the `collector.toml` that `init` writes: its unit test.)

use std::path::Path;

use certfleet_config::{
    AlertSettings, FileConfig, GrpcSettings, HttpSettings, Limits, ReportSettings,
};

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Parses and resolves what can be resolved without the secret files.
fn check(label: &str, text: &str) -> FileConfig {
    let file = FileConfig::parse(text).unwrap_or_else(|e| panic!("{label}: {e}"));
    file.selector().unwrap_or_else(|e| panic!("{label}: {e}"));
    let reports = ReportSettings::resolve(&file.reports).unwrap_or_else(|e| panic!("{label}: {e}"));
    Limits::resolve(&file.limits).unwrap_or_else(|e| panic!("{label}: {e}"));
    let grpc = GrpcSettings::resolve(&file.grpc).unwrap_or_else(|e| panic!("{label}: {e}"));
    // Production listeners do not describe the API to whoever connects (issue 14).
    assert!(!grpc.reflection, "{label}: [grpc] reflection must be off");
    if file.alerts.smtp.is_none() && file.alerts.webhooks.is_empty() {
        AlertSettings::resolve(&file.alerts, reports.time_zone)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
    }
    file
}

/// The value of a `key: |` literal block in YAML text, dedented.
fn yaml_block(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines();
    let start = lines
        .by_ref()
        .position(|l| l.trim() == format!("{key}: |"))
        .unwrap_or_else(|| panic!("no `{key}: |` block"));
    let key_indent = yaml.lines().nth(start).unwrap().len()
        - yaml.lines().nth(start).unwrap().trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_production_example_is_a_valid_collector_toml() {
    let mut file = check(
        "deploy/examples/collector.toml",
        &repo_file("deploy/examples/collector.toml"),
    );
    let url = file
        .database_url
        .as_deref()
        .expect("the production example uses PostgreSQL");
    // Issue 14: the example verifies the database server, not only encrypts.
    assert!(
        url.contains("sslmode=verify-full") && url.contains("sslrootcert="),
        "{url}"
    );
    // Its [http] and [dashboard] resolve together: secure cookies on a loopback listener
    // behind a declared proxy, the __Host- cookie, the public name allowed. (The token files
    // are init's, not here.)
    file.http.api_token_file = None;
    file.http.metrics_token_file = None;
    let http = HttpSettings::resolve(&file.http).unwrap();
    assert!(file.dashboard.secure_cookies == Some(true));
    assert!(file.dashboard.cookie_host_prefix == Some(true));
    assert!(http.is_trusted_proxy("127.0.0.1".parse().unwrap()));
    assert_eq!(http.allowed_hosts, ["certfleet.example.org"]);
}

#[test]
fn documented_database_urls_verify_the_server() {
    for path in [
        "deploy/README.md",
        "docs/OPERATIONS.md",
        "deploy/kubernetes/secret.example.yaml",
    ] {
        let text = repo_file(path);
        // Every full URL (with credentials); `postgres://…/certfleet` placeholders aside.
        for line in text
            .lines()
            .filter(|l| l.contains("postgres://") && l.contains('@'))
        {
            assert!(
                line.contains("sslmode=verify-full") && line.contains("sslrootcert="),
                "{path}: a database URL that does not verify the server: {line}"
            );
        }
    }
}

#[test]
fn the_kubernetes_configmap_holds_a_valid_collector_toml() {
    let yaml = repo_file("deploy/kubernetes/configmap.yaml");
    let text = yaml_block(&yaml, "collector.toml");
    assert!(text.contains("grpc_listen"), "extracted the block:\n{text}");
    check("deploy/kubernetes/configmap.yaml collector.toml", &text);
}

#[test]
fn an_unknown_key_in_an_example_would_fail() {
    let text = repo_file("deploy/examples/collector.toml") + "\n[reports]\nwindow_dayz = 1\n";
    assert!(FileConfig::parse(&text).is_err());
    let text = "[selection]\nissuer_cn = [\"X\"]\n";
    let err = FileConfig::parse(text).unwrap_err();
    assert!(err.contains("issuer_cn"), "{err}");
}
