//! Every `collector.toml` the project ships is read by the real configuration types, with
//! unknown keys refused (`deny_unknown_fields`): `deploy/examples/collector.toml` and the
//! Kubernetes ConfigMap's. The parts that need no secret files are resolved too, so a value
//! the collector would refuse at start fails here. (The agent's examples:
//! `agent/tests/examples.rs`; the `collector.toml` that `init` writes: its unit test.)

use std::path::Path;

use certfleet_config::{AlertSettings, FileConfig, GrpcSettings, Limits, ReportSettings};

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
    let file = check(
        "deploy/examples/collector.toml",
        &repo_file("deploy/examples/collector.toml"),
    );
    assert!(
        file.database_url.is_some(),
        "the production example uses PostgreSQL"
    );
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
