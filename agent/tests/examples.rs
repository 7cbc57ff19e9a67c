//! Every agent configuration the project ships is read by the agent's own `Config` type, with
//! unknown keys refused (`deny_unknown_fields`), and its selection rules resolve:
//! `deploy/examples/agent.toml` and the default `agent.toml` that
//! `deploy/windows/install-agent.ps1` writes.

use std::path::Path;

use certfleet_agent::config::Config;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn check(label: &str, text: &str) -> Config {
    let config: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{label}: {e}"));
    config.selector().unwrap_or_else(|e| panic!("{label}: {e}"));
    config
}

#[test]
fn the_example_agent_toml_is_valid() {
    let config = check(
        "deploy/examples/agent.toml",
        &repo_file("deploy/examples/agent.toml"),
    );
    assert_eq!(
        config.selection.issuer_cns,
        Some(vec!["KANAGAWA KOKUHOREN CA".to_owned()]),
        "the example uses [selection]"
    );
}

#[test]
fn the_installers_default_agent_toml_is_valid() {
    let script = repo_file("deploy/windows/install-agent.ps1");
    let start = script
        .find("$defaultConfig = @'\n")
        .expect("install-agent.ps1 has a $defaultConfig here-string")
        + "$defaultConfig = @'\n".len();
    let end = start
        + script[start..]
            .find("\n'@")
            .expect("end of the here-string");
    check("install-agent.ps1 default agent.toml", &script[start..end]);
}
