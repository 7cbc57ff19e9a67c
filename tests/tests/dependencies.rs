//! The crate boundaries that keep the binaries lean, checked on the resolved dependency graph
//! (`cargo tree --locked`, as the lock file says):
//! - the production collector links no agent code (the demo, which needs both, is its own
//!   crate), so an agent change does not rebuild it and the server carries no PKCS#12/DES/RC2;
//! - the agent has no HTTP server: no axum, and tonic, hyper and hyper-util without their
//!   server features (the agent is a gRPC client only);
//! - the agent has no database or dashboard.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `name -> features` of every package in the normal and build dependencies of `package`, as
/// `cargo tree` resolves them when `package` is built on its own (how the release aliases
/// build each binary).
fn tree(package: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .current_dir(&workspace)
        .args(["tree", "--locked", "-p", package, "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}|{f}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (id, features) = line.split_once('|').expect("{p}|{f}");
        let name = id.split_whitespace().next().unwrap().to_owned();
        let features = features
            .trim_end_matches(" (*)")
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        packages
            .entry(name)
            .or_insert_with(BTreeSet::new)
            .extend(features);
    }
    packages
}

fn features<'a>(tree: &'a BTreeMap<String, BTreeSet<String>>, name: &str) -> &'a BTreeSet<String> {
    tree.get(name)
        .unwrap_or_else(|| panic!("{name} is not in the tree"))
}

#[test]
fn the_collector_does_not_link_the_agent() {
    let collector = tree("certfleet-collector");
    // The check itself works: the collector does have its own parts.
    for own in [
        "certfleet-store",
        "certfleet-reports",
        "certfleet-alerts",
        "axum",
    ] {
        assert!(collector.contains_key(own), "{own} missing: {collector:?}");
    }
    for agent_only in ["certfleet-agent", "certfleet-demo", "pkcs12", "des", "rc2"] {
        assert!(
            !collector.contains_key(agent_only),
            "certfleet-collector depends on {agent_only}"
        );
    }
}

#[test]
fn the_agent_has_no_http_server_database_or_dashboard() {
    let agent = tree("certfleet-agent");
    for forbidden in [
        "axum",
        "tonic-health",
        "tonic-reflection",
        "sqlx",
        "certfleet-dashboard",
        "certfleet-store",
        "certfleet-collector",
    ] {
        assert!(
            !agent.contains_key(forbidden),
            "certfleet-agent depends on {forbidden}"
        );
    }
    for (name, server_features) in [
        ("tonic", &["server", "router", "transport"][..]),
        ("hyper", &["server"][..]),
        ("hyper-util", &["server", "server-auto", "service"][..]),
    ] {
        let enabled = features(&agent, name);
        for f in server_features {
            assert!(
                !enabled.contains(*f),
                "the agent's {name} has feature {f}: {enabled:?}"
            );
        }
    }
    // …while it is a gRPC client over TLS.
    assert!(features(&agent, "tonic").contains("channel"));
    // And the collector, built on its own, does get the server.
    let collector = tree("certfleet-collector");
    assert!(features(&collector, "tonic").contains("server"));
}
