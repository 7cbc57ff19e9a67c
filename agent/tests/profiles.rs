//! Profiles on a fake tree: the registry's profile list merged with the profiles root (moved
//! profiles, SID and account labels), AppData redirection, reparse points below a profile,
//! and "absent" kept apart from "unreadable". The Windows-only parts (ProfileList, account
//! names, GetFinalPathNameByHandleW) run for real under Wine in tests/tests/windows_wine.rs.
#![cfg(unix)]

#[path = "../../testdata/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};

use certfleet_agent::element::{ElementSpec, serialize_element};
use certfleet_agent::files::FileOptions;
use certfleet_agent::inventory::Inventory;
use certfleet_agent::profiles::{
    AppData, PERSONAL_STORE_DIR, RegisteredProfile, collect_profiles, personal_store_dir,
    scan_profiles,
};
use certfleet_agent::{ScanResult, Source};
use certfleet_certinfo::Selector;

const SID_SATO: &str = "S-1-5-21-1004336348-1177238915-682003330-1002";
const SID_YAMADA: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";

fn put(store: &Path, der: &[u8], name: &str) -> PathBuf {
    std::fs::create_dir_all(store).unwrap();
    let path = store.join(name);
    std::fs::write(
        &path,
        serialize_element(&ElementSpec {
            der,
            key_container: Some("k"),
            friendly_name: None,
        }),
    )
    .unwrap();
    path
}

fn scan(root: Option<&Path>, registered: Vec<RegisteredProfile>) -> ScanResult {
    let mut inv = Inventory::new(Selector::default(), false);
    let profiles = collect_profiles(root, registered, &mut inv);
    scan_profiles(&profiles, &FileOptions::default(), &mut inv);
    inv.finish()
}

#[test]
fn registry_profiles_merge_with_the_root_and_carry_sid_and_account() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("Users");
    // yamada is under the root and in the registry; sato's profile was moved to another drive.
    let yamada = users.join("yamada");
    let sato = tmp.path().join("D").join("Profiles").join("sato");
    put(&personal_store_dir(&yamada), &fx.office_a_new.der, "A");
    put(&personal_store_dir(&sato), &fx.office_c_utf8.der, "C");
    std::fs::create_dir_all(users.join("Public")).unwrap();
    let result = scan(
        Some(&users),
        vec![
            RegisteredProfile {
                sid: SID_YAMADA.into(),
                dir: yamada,
                account: Some("PC01\\yamada".into()),
                appdata: AppData::Default,
            },
            RegisteredProfile {
                sid: SID_SATO.into(),
                dir: sato.clone(),
                account: None,
                appdata: AppData::Default,
            },
        ],
    );
    assert!(result.errors.is_empty(), "{:#?}", result.errors);
    let where_found = |office: &str| {
        result
            .certificates
            .iter()
            .find(|c| c.office_number.as_deref() == Some(office))
            .unwrap_or_else(|| panic!("{office} not found"))
            .locations
            .clone()
    };
    let a = where_found("1234567890");
    assert_eq!(a.len(), 1, "one profile, listed once: {a:#?}");
    assert_eq!(a[0].user.as_deref(), Some("yamada"));
    assert_eq!(a[0].sid.as_deref(), Some(SID_YAMADA));
    assert_eq!(a[0].account.as_deref(), Some("PC01\\yamada"));
    assert_eq!(
        a[0].user_label().unwrap(),
        format!("PC01\\yamada ({SID_YAMADA})")
    );
    let c = where_found("3456789012");
    assert_eq!(c[0].sid.as_deref(), Some(SID_SATO));
    assert_eq!(c[0].account, None, "an unresolved SID has no account");
    assert_eq!(c[0].user_label().unwrap(), format!("sato ({SID_SATO})"));
    assert!(c[0].path.starts_with(sato.to_str().unwrap()));
}

#[test]
fn redirected_appdata_is_read_and_an_unreadable_one_is_an_error() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("Users").join("suzuki");
    std::fs::create_dir_all(&profile).unwrap();
    let redirected = tmp.path().join("Redirect").join("suzuki").join("Roaming");
    let store = PERSONAL_STORE_DIR[2..]
        .iter()
        .fold(redirected, |p, part| p.join(part));
    put(&store, &fx.office_c_utf8.der, "C");
    // The default location holds a certificate Windows no longer uses for this user.
    put(&personal_store_dir(&profile), &fx.office_a_old.der, "A");
    let registered = |value: String, sid: &str| RegisteredProfile {
        sid: sid.into(),
        dir: profile.clone(),
        account: Some("PC01\\suzuki".into()),
        appdata: AppData::from_shell_folder(Some(&value)),
    };
    let template = format!(
        "{}/%USERNAME%/Roaming",
        tmp.path().join("Redirect").display()
    );
    let result = scan(None, vec![registered(template, SID_YAMADA)]);
    assert!(result.errors.is_empty(), "{:#?}", result.errors);
    let offices: Vec<_> = result
        .certificates
        .iter()
        .map(|c| c.office_number.clone().unwrap())
        .collect();
    assert_eq!(
        offices,
        ["3456789012"],
        "the redirected store, not the default"
    );

    // Redirected to a folder that is not there (a disconnected drive): an error item naming it.
    let missing = tmp.path().join("Nowhere").join("Roaming");
    let result = scan(
        None,
        vec![registered(missing.display().to_string(), SID_YAMADA)],
    );
    assert_eq!(result.errors.len(), 1, "{:#?}", result.errors);
    assert_eq!(result.errors[0].path, missing.display().to_string());
    assert!(result.errors[0].message.contains("redirected"));
    assert!(result.certificates.is_empty());

    // Redirected to a network share: never contacted, reported.
    let result = scan(
        None,
        vec![registered(
            "\\\\fs01\\redirect\\%USERNAME%\\AppData\\Roaming".into(),
            SID_YAMADA,
        )],
    );
    assert_eq!(result.errors.len(), 1, "{:#?}", result.errors);
    assert!(
        result.errors[0].message.contains("network path"),
        "{:#?}",
        result.errors
    );
    assert_eq!(
        result.errors[0].path,
        "\\\\fs01\\redirect\\suzuki\\AppData\\Roaming"
    );
}

#[test]
fn links_below_a_profile_are_not_followed() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("Users");
    // SYSTEM-only files the agent must never read on a user's behalf.
    let secret_dir = tmp
        .path()
        .join("ProgramData")
        .join("certfleet")
        .join("state");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(
        secret_dir.join("node-key"),
        "3f9a1c2be4d5f6a7b8c9d0e1f2a3b4c5",
    )
    .unwrap();
    put(&secret_dir, &fx.office_b_expired.der, "STOLEN");

    // mallory: her whole "Microsoft" folder is a link to the state directory.
    let mallory = users.join("mallory");
    let roaming = mallory.join("AppData").join("Roaming");
    std::fs::create_dir_all(&roaming).unwrap();
    std::os::unix::fs::symlink(&secret_dir, roaming.join("Microsoft")).unwrap();
    // trudy: a real store directory whose entries are links to the secret files.
    let trudy_store = personal_store_dir(&users.join("trudy"));
    put(&trudy_store, &fx.office_c_utf8.der, "REAL");
    std::os::unix::fs::symlink(secret_dir.join("node-key"), trudy_store.join("KEY")).unwrap();
    std::os::unix::fs::symlink(secret_dir.join("STOLEN"), trudy_store.join("STOLEN")).unwrap();
    // A link in the profiles root itself ("Default User" style) is an alias, not a user.
    std::os::unix::fs::symlink(&mallory, users.join("alias")).unwrap();

    let result = scan(Some(&users), Vec::new());
    let offices: Vec<_> = result
        .certificates
        .iter()
        .map(|c| c.office_number.clone().unwrap())
        .collect();
    assert_eq!(
        offices,
        ["3456789012"],
        "only trudy's real file; nothing behind a link"
    );
    let mut refused: Vec<_> = result.errors.iter().map(|e| e.path.clone()).collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            roaming.join("Microsoft").display().to_string(),
            trudy_store.join("KEY").display().to_string(),
            trudy_store.join("STOLEN").display().to_string(),
        ],
        "{:#?}",
        result.errors
    );
    for e in &result.errors {
        assert_eq!(e.source, Source::ProfileFile);
        assert!(e.message.contains("not followed"), "{e:?}");
        assert!(
            !e.message.contains("3f9a"),
            "no file bytes in messages: {e:?}"
        );
    }
}

#[test]
fn absent_stores_are_silent_and_unreadable_ones_are_errors() {
    let fx = fixtures::generate();
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("Users");
    // No AppData at all, AppData without the store, a stale ProfileList entry: all absent.
    std::fs::create_dir_all(users.join("fresh")).unwrap();
    std::fs::create_dir_all(users.join("partial").join("AppData").join("Roaming")).unwrap();
    // "Microsoft" is a file where a directory must be: an error, not "no certificates".
    let odd = users.join("odd").join("AppData").join("Roaming");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("Microsoft"), b"").unwrap();
    put(
        &personal_store_dir(&users.join("ok")),
        &fx.office_a_new.der,
        "A",
    );
    let result = scan(
        Some(&users),
        vec![RegisteredProfile {
            sid: SID_SATO.into(),
            dir: tmp.path().join("deleted-profile"),
            account: None,
            appdata: AppData::Default,
        }],
    );
    assert_eq!(result.certificates.len(), 1);
    assert_eq!(result.errors.len(), 1, "{:#?}", result.errors);
    assert_eq!(
        result.errors[0].path,
        odd.join("Microsoft").display().to_string()
    );
    assert!(result.errors[0].message.contains("not a directory"));
}
