//! The `certfleet-agent scan` binary end to end: JSON and table output, exit codes, config
//! file and environment variables.

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::{Command, Output};

use certfleet_agent::element::{ElementSpec, serialize_element};
use certfleet_agent::profiles::personal_store_dir;
use serde_json::Value;

fn agent() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certfleet-agent"));
    // Tests must not inherit configuration from the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("CERTFLEET_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().expect("run certfleet-agent");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    (out, stdout)
}

fn fixture_dir(fx: &fixtures::Fixtures, dir: &Path) {
    for cert in fx.all() {
        std::fs::write(dir.join(format!("{}.pem", cert.name)), &cert.pem).unwrap();
    }
    std::fs::write(dir.join("broken.der"), [0x30, 0x82, 0xff, 0xff, 0x01]).unwrap();
}

#[test]
fn json_output_lists_office_certificates_and_errors() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    fixture_dir(&fx, tmp.path());
    let (out, stdout) = run(agent()
        .args(["scan", "--format", "json", "--path"])
        .arg(tmp.path()));
    assert!(
        out.status.success(),
        "exit 0 despite a broken file: {out:?}"
    );
    let doc: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let certs = doc["certificates"].as_array().unwrap();
    let numbers: Vec<&str> = certs
        .iter()
        .map(|c| c["office_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [
            "2345678901",
            "1234567890",
            "3456789012",
            "4567890123",
            "1234567890",
            "6789012345"
        ],
        "office certificates only, sorted by expiry"
    );
    let far = &certs[5];
    assert_eq!(far["not_after"], "2051-06-30T00:00:00Z");
    assert_eq!(far["serial"], "80abcdef01");
    assert_eq!(far["client_auth"], true);
    assert_eq!(far["has_private_key"], Value::Null);
    let info = certfleet_certinfo::parse_der(&fx.far_future.der).unwrap();
    assert_eq!(far["sha256"], info.sha256.as_str());
    assert_eq!(far["sha1"], info.sha1.as_str());
    assert_eq!(far["subject"], info.subject.as_str());
    assert_eq!(far["issuer"], info.issuer.as_str());
    let loc = &far["locations"][0];
    assert_eq!(loc["source"], "file");
    assert_eq!(loc["store"], Value::Null);
    assert!(loc["path"].as_str().unwrap().ends_with("far_future.pem"));
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["path"].as_str().unwrap().ends_with("broken.der"));
    assert!(!errors[0]["message"].as_str().unwrap().is_empty());
}

#[test]
fn table_marks_expired_and_uses_manual_dates() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("Users");
    let store = personal_store_dir(&users.join("taro"));
    std::fs::create_dir_all(&store).unwrap();
    for cert in [&fx.office_b_expired, &fx.office_a_old] {
        let sha1 = certfleet_certinfo::parse_der(&cert.der).unwrap().sha1;
        let el = serialize_element(&ElementSpec {
            der: &cert.der,
            key_container: Some("k"),
            friendly_name: None,
        });
        std::fs::write(store.join(sha1.to_uppercase()), el).unwrap();
    }
    let (out, stdout) = run(agent().args(["scan", "--profiles-root"]).arg(&users));
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("OFFICE"), "{stdout}");
    assert!(
        lines[1].starts_with("2345678901"),
        "expired first: {stdout}"
    );
    assert!(lines[1].contains("EXPIRED"), "{stdout}");
    assert!(lines[1].contains("profile taro\\My"), "{stdout}");
    assert!(lines[2].starts_with("1234567890"), "{stdout}");
    assert!(!lines[2].contains("EXPIRED"), "{stdout}");
    let na = fixtures::days_from_now(20).format("%Y/%m/%d").to_string();
    assert!(
        lines[2].contains(&na),
        "valid-to as YYYY/MM/DD ({na}): {stdout}"
    );
    assert!(lines[2].contains(" 20 "), "20 days left: {stdout}");
    assert!(lines[1].contains(" -5 "), "expired 5 days ago: {stdout}");
    assert!(
        out.stderr.is_empty(),
        "no log noise by default: {:?}",
        out.stderr
    );
}

#[test]
fn config_file_env_vars_and_all_issuers() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    fixture_dir(&fx, &certs);
    fixtures::write_p12(
        tmp.path(),
        &certs.join("foreign.p12"),
        &fx.foreign,
        &[],
        "topsecret",
        fixtures::P12Kind::Legacy,
        "foreign",
    );
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "issuers = [\"{}\"]\noffice_pattern = '^(\\d{{4}})\\d{{6}}$'\npaths = ['{}']\npkcs12_password_env = \"MY_P12_PW\"\n",
            fixtures::FOREIGN_CA_CN,
            certs.display()
        ),
    )
    .unwrap();
    let (out, stdout) = run(agent()
        .args(["scan"])
        .env("CERTFLEET_CONFIG", &config)
        .env("CERTFLEET_FORMAT", "json")
        .env("MY_P12_PW", "topsecret"));
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let certs_json = doc["certificates"].as_array().unwrap();
    assert_eq!(certs_json.len(), 1, "{stdout}");
    assert_eq!(certs_json[0]["office_number"], "5678");
    assert_eq!(certs_json[0]["friendly_name"], "foreign");
    assert_eq!(certs_json[0]["has_private_key"], true);
    assert_eq!(certs_json[0]["locations"].as_array().unwrap().len(), 2);

    // --all-issuers through its environment variable; wrong password is a per-file error.
    let (out, stdout) = run(agent()
        .args(["scan", "--format", "json"])
        .env("CERTFLEET_CONFIG", &config)
        .env("CERTFLEET_ALL_ISSUERS", "true")
        .env("MY_P12_PW", "wrong"));
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        doc["certificates"].as_array().unwrap().len(),
        fx.all().len()
    );
    let errors = doc["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["path"].as_str().unwrap().ends_with("foreign.p12")
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("wrong PKCS#12 password")),
        "{errors:?}"
    );
}

#[test]
fn unusable_configuration_fails_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "office_pattern = '('\n").unwrap();
    let out = agent()
        .args(["scan", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid office-number pattern"), "{err}");

    std::fs::write(&config, "isuers = []\n").unwrap();
    let out = agent()
        .args(["scan", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));

    let out = agent()
        .args([
            "scan",
            "--pkcs12-password-env",
            "CERTFLEET_TEST_UNSET_VAR",
            "--path",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CERTFLEET_TEST_UNSET_VAR"));
}

#[test]
fn status_reports_an_undelivered_run_and_its_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (out, _) = run(agent().arg("status").arg("--state-dir").arg(&state));
    assert!(!out.status.success(), "no state directory yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // Nothing listens on port 9 of loopback: the report is spooled and recorded.
    let (out, _) = run(agent()
        .args([
            "report",
            "--collector",
            "http://127.0.0.1:9",
            "--insecure-plaintext",
            "--machine-id",
            "m-status",
            "--attempts",
            "1",
            "--path",
        ])
        .arg(tmp.path())
        .arg("--state-dir")
        .arg(&state));
    assert!(!out.status.success());
    let (out, stdout) = run(agent().arg("status").arg("--state-dir").arg(&state));
    assert_eq!(out.status.code(), Some(1), "last run not acknowledged");
    assert!(
        stdout.contains("NOT delivered, spooled for the next run"),
        "{stdout}"
    );
    assert!(stdout.contains("last acknowledged: never"), "{stdout}");
    assert!(stdout.contains("spooled:           report "), "{stdout}");
    assert!(stdout.contains("agent.log"), "{stdout}");
    let (_, json) = run(agent()
        .args(["status", "--format", "json", "--state-dir"])
        .arg(&state));
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["last_run"]["outcome"], "spooled");
    assert_eq!(doc["enrolled"], false);
    assert!(doc["spooled"]["report_id"].is_string());
}
