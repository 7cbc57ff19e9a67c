//! Every agent configuration the project ships is read by the agent's own `Config` type, with
//! unknown keys refused (`deny_unknown_fields`), and its selection rules resolve:
//! `deploy/examples/agent.toml` and the default `agent.toml` the Windows installer writes
//! (the `$defaultConfig` of `deploy/windows/install-agent.ps1`, or `DEFAULT_AGENT_TOML` in
//! `agent/src/install/mod.rs` where the installer is `certfleet-agent install`).

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

/// The text between `start` and the next `end` in `text`, if `start` occurs.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from
        + text[from..]
            .find(end)
            .expect("the end of the embedded file");
    Some(&text[from..to])
}

#[test]
fn the_installers_default_agent_toml_is_valid() {
    let script = repo_file("deploy/windows/install-agent.ps1");
    let installer = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/install/mod.rs");
    let rust = std::fs::read_to_string(installer).unwrap_or_default();
    let defaults: Vec<(&str, &str)> = [
        (
            "install-agent.ps1 $defaultConfig",
            between(&script, "$defaultConfig = @'\n", "\n'@"),
        ),
        (
            "agent/src/install/mod.rs DEFAULT_AGENT_TOML",
            between(&rust, "DEFAULT_AGENT_TOML: &str = r#\"", "\"#;"),
        ),
    ]
    .into_iter()
    .filter_map(|(label, text)| text.map(|t| (label, t)))
    .collect();
    assert!(
        !defaults.is_empty(),
        "the Windows installer's default agent.toml was not found in either place"
    );
    for (label, text) in defaults {
        check(label, text);
    }
}
