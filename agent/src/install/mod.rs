//! `certfleet-agent install` and `uninstall`: puts the agent in place on a Windows PC, for
//! `deploy/windows/install-agent.ps1` and the MSI's custom actions alike, so both register the
//! same Scheduled Task ([`task`]).
//!
//! Install, in this order: refuse a data directory a non-administrator controls; create it and
//! give it a private ACL (SYSTEM and Administrators only) *before* any secret is written into
//! it; copy the CA, the enroll secret (only while the PC is not enrolled) and the
//! configuration, each only when its content changed; register the task only when its
//! definition changed. Running it again with the same settings therefore changes nothing.
//! The operating-system parts (ACLs, Task Scheduler) are behind [`Platform`], implemented for
//! Windows in `crate::windows::tasks` and by a fake in the tests.
#![forbid(unsafe_code)]

pub mod task;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use task::{TASK_FOLDER, TaskSpec, quote_argument, split_command_line};

/// The configuration written when none is given and none exists.
pub const DEFAULT_AGENT_TOML: &str = r#"# certfleet agent configuration, written by `certfleet-agent install`.
# See deploy/examples/agent.toml for every key.
[selection]
issuer_cns = ["KANAGAWA KOKUHOREN CA"]
office_pattern = '^[0-9]{10}$'
"#;

/// Shortest enroll secret accepted (`certfleet-collector init` writes 43 characters).
const MIN_SECRET_LEN: usize = 16;
/// The copy of the registered definition kept in the data directory: what "unchanged" is
/// compared against, and what an administrator can read.
const TASK_XML: &str = "task.xml";

/// What `install` is asked to do.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub collector_url: String,
    /// The collector's CA (`ca.pem` from `certfleet-collector init`); needed on a first install.
    pub ca_file: Option<PathBuf>,
    /// The enroll secret; needed until the PC is enrolled.
    pub enroll_secret_file: Option<PathBuf>,
    /// An `agent.toml` to install; otherwise an existing one is kept or a default written.
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// The installed executable the task runs.
    pub exe: PathBuf,
    pub task_name: String,
    /// `HH:MM`, local time.
    pub daily_at: String,
    pub daily_random_delay_hours: u32,
    pub startup_delay_minutes: u32,
    pub restart_count: u32,
    pub restart_interval_minutes: u32,
    /// `--proxy` for the task's command line: a proxy URL without credentials, or `none`.
    /// `None` (or empty) leaves the choice to the environment and the WinHTTP setting.
    pub proxy: Option<String>,
    /// Start the task once when done.
    pub run_now: bool,
    /// Say what would change, change nothing.
    pub dry_run: bool,
}

/// What `uninstall` is asked to do.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub data_dir: PathBuf,
    pub task_name: String,
    /// Also delete the data directory (configuration, CA, node key, spool): the PC then
    /// enrolls as a new installation if the agent is installed again.
    pub remove_data: bool,
    pub dry_run: bool,
}

/// Why the agent could not be installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("{0}")]
    Missing(String),
    #[error("{path}: {message}")]
    Unsafe { path: PathBuf, message: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Platform(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_owned();
    move |source| InstallError::Io { what, path, source }
}

/// The operating system's side of installing: ACLs and Task Scheduler.
pub trait Platform {
    /// False where the file system keeps no ACLs (Wine): they are then set but not checked.
    fn keeps_acls(&self) -> bool;
    /// `Some(reason)` when a non-administrator controls `path` (owner or access); `None` when
    /// private, or when the platform keeps no ACLs.
    fn acl_problem(&self, path: &Path) -> Result<Option<String>, InstallError>;
    /// Fails when `dir`, an existing directory, is not safe to write secrets into: owned by
    /// someone other than SYSTEM, Administrators or the installing account, or holding a
    /// junction or link anywhere below it.
    fn check_existing_data_dir(&self, dir: &Path) -> Result<(), InstallError>;
    /// Gives `dir` the private ACL (owner Administrators; SYSTEM and Administrators full
    /// control, inherited; nothing inherited from above) and makes everything below inherit
    /// it. Returns a note when the platform cannot keep ACLs (Wine).
    fn make_private(&self, dir: &Path) -> Result<Option<String>, InstallError>;
    fn task_exists(&self, path: &str) -> Result<bool, InstallError>;
    fn register_task(&self, path: &str, definition_file: &Path) -> Result<(), InstallError>;
    fn run_task(&self, path: &str) -> Result<(), InstallError>;
    /// Deletes the task; `false` when there was none.
    fn delete_task(&self, path: &str) -> Result<bool, InstallError>;
    /// Deletes the task folder when it holds nothing else; `false` when it is gone or in use.
    fn delete_task_folder(&self, folder: &str) -> Result<bool, InstallError>;
}

/// LocalSystem.
pub const SYSTEM_SID: &str = "S-1-5-18";
/// BUILTIN\Administrators.
pub const ADMINISTRATORS_SID: &str = "S-1-5-32-544";

/// Owner and access entries of a file or directory, SIDs as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclInfo {
    pub owner: Option<String>,
    /// Allow entries (SID, access mask); `None` for a NULL DACL (everyone may do anything).
    pub allowed: Option<Vec<(String, u32)>>,
}

/// Why an ACL is not private to SYSTEM and Administrators, if it is not.
pub fn private_problem(info: &AclInfo) -> Option<String> {
    match info.owner.as_deref() {
        Some(SYSTEM_SID | ADMINISTRATORS_SID) => {}
        Some(other) => return Some(format!("owned by {other}")),
        None => return Some("no owner".into()),
    }
    let Some(allowed) = &info.allowed else {
        return Some("no access list: everyone has full access".into());
    };
    allowed
        .iter()
        .find(|(sid, _)| sid != SYSTEM_SID && sid != ADMINISTRATORS_SID)
        .map(|(sid, mask)| format!("{sid} has access {mask:#x}"))
}

/// What happened, one line per item, for the installer's output and logs.
#[derive(Debug, Default)]
pub struct Outcome {
    pub lines: Vec<String>,
    /// True when anything was (or, with `dry_run`, would be) changed.
    pub changed: bool,
}

impl Outcome {
    fn note(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    fn change(&mut self, line: impl Into<String>) {
        self.changed = true;
        self.lines.push(line.into());
    }
}

fn validate(opts: &InstallOptions) -> Result<(), InstallError> {
    let url = opts.collector_url.trim();
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| InstallError::Invalid {
            what: "collector URL",
            message: format!("{url:?} must start with https://"),
        })?;
    let host_port = rest.trim_end_matches('/');
    let valid = !host_port.is_empty()
        && host_port
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(InstallError::Invalid {
            what: "collector URL",
            message: format!("{url:?} is not https://HOST[:PORT]"),
        });
    }
    let time_ok = opts.daily_at.split_once(':').is_some_and(|(h, m)| {
        h.len() == 2
            && m.len() == 2
            && h.parse::<u8>().is_ok_and(|h| h < 24)
            && m.parse::<u8>().is_ok_and(|m| m < 60)
    });
    if !time_ok {
        return Err(InstallError::Invalid {
            what: "daily time",
            message: format!("{:?} is not HH:MM", opts.daily_at),
        });
    }
    if opts.daily_random_delay_hours > 12 || opts.startup_delay_minutes > 240 {
        return Err(InstallError::Invalid {
            what: "random delay",
            message: "at most 12 hours (daily) and 240 minutes (start-up)".into(),
        });
    }
    task_proxy(opts)?;
    if opts.task_name.is_empty()
        || !opts
            .task_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(InstallError::Invalid {
            what: "task name",
            message: format!(
                "{:?} may hold only letters, digits, '.', '_' and '-'",
                opts.task_name
            ),
        });
    }
    Ok(())
}

/// The `--proxy` value of the task's command line, in canonical form (`http://host:port` or
/// `none`). Credentials are refused: Task Scheduler shows a task's command line to whoever may
/// read the task, and an MSI log records properties; a proxy password belongs in agent.toml,
/// which stays in the private data directory.
fn task_proxy(opts: &InstallOptions) -> Result<Option<String>, InstallError> {
    use crate::report::proxy::{ProxyConfig, ProxySource};
    let Some(text) = opts
        .proxy
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let invalid = |message: String| InstallError::Invalid {
        what: "proxy",
        message,
    };
    match ProxyConfig::from_setting(text, ProxySource::Flag).map_err(|e| invalid(e.message))? {
        ProxyConfig::Auto => Ok(None),
        ProxyConfig::Direct => Ok(Some("none".to_owned())),
        ProxyConfig::Url(url, _) if url.credentials().is_some() => Err(invalid(format!(
            "{url}: credentials do not belong on the task's command line (Task Scheduler shows              it); put the proxy with its credentials in agent.toml ([collector] proxy) and              install that file with --config"
        ))),
        ProxyConfig::Url(url, _) => Ok(Some(url.to_string())),
    }
}

/// The task definition `install` registers for these options.
pub fn task_spec(opts: &InstallOptions) -> TaskSpec {
    TaskSpec {
        name: opts.task_name.clone(),
        exe: opts.exe.clone(),
        data_dir: opts.data_dir.clone(),
        collector_url: opts.collector_url.trim().trim_end_matches('/').to_owned(),
        daily_at: opts.daily_at.clone(),
        daily_random_delay: Duration::from_secs(u64::from(opts.daily_random_delay_hours) * 3600),
        startup_random_delay: Duration::from_secs(u64::from(opts.startup_delay_minutes) * 60),
        restart_count: opts.restart_count,
        restart_interval: Duration::from_secs(u64::from(opts.restart_interval_minutes) * 60),
        // Validated by `validate` before any spec is built.
        proxy: task_proxy(opts).ok().flatten(),
    }
}

/// Reads a file that must exist (a source given on the command line).
fn read_source(what: &'static str, path: &Path) -> Result<Vec<u8>, InstallError> {
    fs::read(path).map_err(io(what, path))
}

/// Writes `bytes` to `target` unless it already holds exactly them. Returns whether it wrote.
fn write_if_changed(
    target: &Path,
    bytes: &[u8],
    dry_run: bool,
    what: &'static str,
) -> Result<bool, InstallError> {
    match fs::read(target) {
        Ok(existing) if existing == bytes => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(what, target)(e)),
    }
    if !dry_run {
        // Replaced, not rewritten in place: a new file inherits the directory's private ACL.
        let _ = fs::remove_file(target);
        fs::write(target, bytes).map_err(io(what, target))?;
    }
    Ok(true)
}

fn exists(path: &Path) -> Result<bool, InstallError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("cannot read", path)(e)),
    }
}

/// UTF-16LE with a byte-order mark: what `schtasks /XML` reads without complaint.
fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// Installs or updates the agent. See the module documentation for the order of the steps.
pub fn install(opts: &InstallOptions, platform: &dyn Platform) -> Result<Outcome, InstallError> {
    validate(opts)?;
    let mut out = Outcome::default();
    let verb = |done: &str, would: &str| {
        if opts.dry_run {
            would.to_owned()
        } else {
            done.to_owned()
        }
    };
    let spec = task_spec(opts);
    let dir = &opts.data_dir;
    let shown = dir.display().to_string();

    // 1. The data directory, private before any secret goes into it.
    if exists(dir)? {
        platform.check_existing_data_dir(dir)?;
        let mut problem = platform.acl_problem(dir)?;
        if problem.is_none() {
            for entry in fs::read_dir(dir).map_err(io("cannot list", dir))? {
                let entry = entry.map_err(io("cannot list", dir))?;
                if let Some(p) = platform.acl_problem(&entry.path())? {
                    problem = Some(format!("{}: {p}", entry.path().display()));
                    break;
                }
            }
        }
        match problem {
            None if !platform.keeps_acls() => {
                out.note(format!(
                    "{shown}: ACL not checked (this platform keeps no file ACLs)"
                ));
            }
            Some(reason) => {
                if !opts.dry_run
                    && let Some(note) = platform.make_private(dir)?
                {
                    out.note(note);
                }
                out.change(format!(
                    "{shown}: {} ({reason})",
                    verb("private ACL applied", "would apply the private ACL")
                ));
            }
            None => out.note(format!("{shown}: private ACL already in place")),
        }
    } else {
        if !opts.dry_run {
            fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
            if let Some(note) = platform.make_private(dir)? {
                out.note(note);
            }
        }
        out.change(format!(
            "{shown}: {}",
            verb(
                "created with the private ACL",
                "would be created with the private ACL"
            )
        ));
    }

    // 2. The CA the agent trusts for the collector.
    let ca = spec.ca_file();
    match &opts.ca_file {
        Some(source) => {
            let bytes = read_source("cannot read the CA file", source)?;
            if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
                return Err(InstallError::Invalid {
                    what: "CA file",
                    message: format!("{} holds no PEM certificate", source.display()),
                });
            }
            if write_if_changed(&ca, &bytes, opts.dry_run, "cannot write")? {
                out.change(format!(
                    "{}: {}",
                    ca.display(),
                    verb("written", "would be written")
                ));
            } else {
                out.note(format!("{}: unchanged", ca.display()));
            }
        }
        None if exists(&ca)? => out.note(format!("{}: kept", ca.display())),
        None => {
            return Err(InstallError::Missing(format!(
                "the collector's CA is required on a first install (--ca FILE): {} does not exist",
                ca.display()
            )));
        }
    }

    // 3. The enroll secret, only while the PC has no node key: the agent deletes it after
    //    enrolling, and writing it again on every run of the installer would keep the
    //    fleet-wide secret on enrolled PCs.
    let secret = spec.enroll_secret_file();
    let enrolled = exists(&spec.state_dir().join("node-key"))?;
    match &opts.enroll_secret_file {
        Some(source) => {
            let bytes = read_source("cannot read the enroll secret", source)?;
            if String::from_utf8_lossy(&bytes).trim().len() < MIN_SECRET_LEN {
                return Err(InstallError::Invalid {
                    what: "enroll secret",
                    message: format!(
                        "{} does not hold an enroll secret ({MIN_SECRET_LEN} characters or more)",
                        source.display()
                    ),
                });
            }
            if enrolled {
                out.note(format!(
                    "{}: not stored, this PC is enrolled (state\\node-key)",
                    secret.display()
                ));
            } else if write_if_changed(&secret, &bytes, opts.dry_run, "cannot write")? {
                out.change(format!(
                    "{}: {} (deleted by the agent once enrolled)",
                    secret.display(),
                    verb("written", "would be written")
                ));
            } else {
                out.note(format!("{}: unchanged", secret.display()));
            }
        }
        None if enrolled || exists(&secret)? => {}
        None => {
            return Err(InstallError::Missing(format!(
                "the enroll secret is required until this PC is enrolled (--enroll-secret-file FILE): \
                 neither {} nor a node key exists",
                secret.display()
            )));
        }
    }

    // 4. The configuration.
    let config = spec.config_file();
    match &opts.config_file {
        Some(source) => {
            let bytes = read_source("cannot read the configuration", source)?;
            let text = String::from_utf8(bytes.clone()).map_err(|_| InstallError::Invalid {
                what: "configuration",
                message: format!("{} is not UTF-8", source.display()),
            })?;
            // Checked now rather than at 3 a.m. by the first report.
            let parsed =
                crate::config::Config::load(source).map_err(|e| InstallError::Invalid {
                    what: "configuration",
                    message: e.to_string(),
                })?;
            if let Some(proxy) = &parsed.collector.proxy {
                use crate::report::proxy::{ProxyConfig, ProxySource};
                ProxyConfig::from_setting(proxy, ProxySource::ConfigFile).map_err(|e| {
                    InstallError::Invalid {
                        what: "configuration",
                        message: format!("{}: {e}", source.display()),
                    }
                })?;
            }
            if text.starts_with('\u{feff}') {
                return Err(InstallError::Invalid {
                    what: "configuration",
                    message: format!("{} starts with a byte-order mark", source.display()),
                });
            }
            if write_if_changed(&config, &bytes, opts.dry_run, "cannot write")? {
                out.change(format!(
                    "{}: {}",
                    config.display(),
                    verb("written", "would be written")
                ));
            } else {
                out.note(format!("{}: unchanged", config.display()));
            }
        }
        None if exists(&config)? => out.note(format!("{}: kept", config.display())),
        None => {
            write_if_changed(
                &config,
                DEFAULT_AGENT_TOML.as_bytes(),
                opts.dry_run,
                "cannot write",
            )?;
            out.change(format!(
                "{}: {}",
                config.display(),
                verb("default written", "default would be written")
            ));
        }
    }

    // 5. The state directory (node key, spool, status, log).
    let state = spec.state_dir();
    if !exists(&state)? {
        if !opts.dry_run {
            fs::create_dir_all(&state).map_err(io("cannot create", &state))?;
        }
        out.change(format!(
            "{}: {}",
            state.display(),
            verb("created", "would be created")
        ));
    }

    // 6. The task, registered only when its definition changed or it is gone.
    let task_path = spec.path();
    let xml = utf16_with_bom(&spec.to_xml());
    let stored = dir.join(TASK_XML);
    let same_definition = fs::read(&stored).is_ok_and(|old| old == xml);
    if same_definition && platform.task_exists(&task_path)? {
        out.note(format!("task {task_path}: unchanged"));
    } else {
        if !opts.dry_run {
            write_if_changed(&stored, &xml, false, "cannot write")?;
            platform.register_task(&task_path, &stored)?;
        }
        out.change(format!(
            "task {task_path}: {} — {}",
            verb("registered", "would be registered"),
            spec.command_line()
        ));
    }
    if opts.run_now {
        if !opts.dry_run {
            platform.run_task(&task_path)?;
        }
        out.change(format!(
            "task {task_path}: {}",
            verb("started", "would be started")
        ));
    }
    Ok(out)
}

/// Removes the task and its folder, and the data directory when asked. The program directory
/// is the caller's (the running executable cannot delete itself).
pub fn uninstall(
    opts: &UninstallOptions,
    platform: &dyn Platform,
) -> Result<Outcome, InstallError> {
    let mut out = Outcome::default();
    let task_path = format!("\\{TASK_FOLDER}\\{}", opts.task_name);
    if opts.dry_run {
        if platform.task_exists(&task_path)? {
            out.change(format!("task {task_path}: would be deleted"));
        }
    } else if platform.delete_task(&task_path)? {
        out.change(format!("task {task_path}: deleted"));
    } else {
        out.note(format!("task {task_path}: not registered"));
    }
    if !opts.dry_run && platform.delete_task_folder(TASK_FOLDER)? {
        out.change(format!("task folder \\{TASK_FOLDER}: deleted"));
    }
    let dir = &opts.data_dir;
    // The fleet-wide enroll secret does not stay on a PC without the agent (it is there only
    // when the PC never enrolled); a reinstall brings it again.
    let secret = dir.join("enroll-secret.txt");
    if !opts.remove_data && exists(&secret)? {
        if !opts.dry_run {
            fs::remove_file(&secret).map_err(io("cannot remove", &secret))?;
        }
        out.change(format!(
            "{}: {}",
            secret.display(),
            if opts.dry_run {
                "would be removed"
            } else {
                "removed"
            }
        ));
    }
    if opts.remove_data {
        if exists(dir)? {
            if !opts.dry_run {
                fs::remove_dir_all(dir).map_err(io("cannot remove", dir))?;
            }
            out.change(format!(
                "{}: {}",
                dir.display(),
                if opts.dry_run {
                    "would be removed"
                } else {
                    "removed"
                }
            ));
        }
    } else if exists(dir)? {
        out.note(format!(
            "{}: kept (configuration and node key; --remove-data deletes it)",
            dir.display()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;

    /// Task Scheduler and ACLs in memory; records what was asked of it.
    #[derive(Default)]
    struct FakePlatform {
        tasks: RefCell<BTreeSet<String>>,
        registrations: RefCell<u32>,
        private: RefCell<BTreeSet<PathBuf>>,
        foreign_owner: bool,
    }

    impl Platform for FakePlatform {
        fn keeps_acls(&self) -> bool {
            true
        }
        fn acl_problem(&self, path: &Path) -> Result<Option<String>, InstallError> {
            let private = self.private.borrow();
            Ok(
                (!path.ancestors().any(|p| private.contains(p)))
                    .then(|| "Users can read it".into()),
            )
        }
        fn check_existing_data_dir(&self, dir: &Path) -> Result<(), InstallError> {
            if self.foreign_owner {
                return Err(InstallError::Unsafe {
                    path: dir.to_owned(),
                    message: "owned by S-1-5-21-9-9-9-1001".into(),
                });
            }
            Ok(())
        }
        fn make_private(&self, dir: &Path) -> Result<Option<String>, InstallError> {
            self.private.borrow_mut().insert(dir.to_owned());
            Ok(None)
        }
        fn task_exists(&self, path: &str) -> Result<bool, InstallError> {
            Ok(self.tasks.borrow().contains(path))
        }
        fn register_task(&self, path: &str, file: &Path) -> Result<(), InstallError> {
            assert!(file.exists());
            *self.registrations.borrow_mut() += 1;
            self.tasks.borrow_mut().insert(path.to_owned());
            Ok(())
        }
        fn run_task(&self, _path: &str) -> Result<(), InstallError> {
            Ok(())
        }
        fn delete_task(&self, path: &str) -> Result<bool, InstallError> {
            Ok(self.tasks.borrow_mut().remove(path))
        }
        fn delete_task_folder(&self, _folder: &str) -> Result<bool, InstallError> {
            Ok(self.tasks.borrow().is_empty())
        }
    }

    struct Setup {
        tmp: tempfile::TempDir,
        opts: InstallOptions,
    }

    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca.pem");
        fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let secret = tmp.path().join("enroll-secret.txt");
        fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
        let opts = InstallOptions {
            collector_url: "https://certfleet.example.org:50051".into(),
            ca_file: Some(ca),
            enroll_secret_file: Some(secret),
            config_file: None,
            data_dir: tmp.path().join("ProgramData").join("certfleet"),
            exe: tmp
                .path()
                .join("Program Files")
                .join("certfleet")
                .join("certfleet-agent.exe"),
            task_name: "certfleet-agent".into(),
            daily_at: "10:00".into(),
            daily_random_delay_hours: 4,
            startup_delay_minutes: 30,
            restart_count: 3,
            restart_interval_minutes: 30,
            proxy: None,
            run_now: false,
            dry_run: false,
        };
        Setup { tmp, opts }
    }

    #[test]
    fn a_second_install_with_the_same_settings_changes_nothing() {
        let s = setup();
        let platform = FakePlatform::default();
        let first = install(&s.opts, &platform).unwrap();
        assert!(first.changed);
        assert_eq!(*platform.registrations.borrow(), 1);
        let dir = &s.opts.data_dir;
        assert!(dir.join("ca.pem").exists() && dir.join("enroll-secret.txt").exists());
        assert_eq!(
            fs::read_to_string(dir.join("agent.toml")).unwrap(),
            DEFAULT_AGENT_TOML
        );
        assert!(dir.join("state").is_dir());

        let second = install(&s.opts, &platform).unwrap();
        assert!(!second.changed, "{:#?}", second.lines);
        assert_eq!(*platform.registrations.borrow(), 1, "no re-registration");

        // A changed setting re-registers; a deleted task is registered again.
        let mut later = s.opts.clone();
        later.daily_at = "11:30".into();
        assert!(install(&later, &platform).unwrap().changed);
        assert_eq!(*platform.registrations.borrow(), 2);
        platform.tasks.borrow_mut().clear();
        assert!(install(&later, &platform).unwrap().changed);
        assert_eq!(*platform.registrations.borrow(), 3);
    }

    #[test]
    fn the_secret_is_stored_only_until_the_pc_is_enrolled() {
        let s = setup();
        let platform = FakePlatform::default();
        install(&s.opts, &platform).unwrap();
        let secret = s.opts.data_dir.join("enroll-secret.txt");
        // The agent enrolls and deletes the secret; the installer runs again (GPO, upgrade).
        fs::write(s.opts.data_dir.join("state").join("node-key"), "k").unwrap();
        fs::remove_file(&secret).unwrap();
        let again = install(&s.opts, &platform).unwrap();
        assert!(
            !secret.exists(),
            "an enrolled PC does not get the secret back"
        );
        assert!(!again.changed, "{:#?}", again.lines);
        // Without a node key and without a secret, a secret is required.
        fs::remove_file(s.opts.data_dir.join("state").join("node-key")).unwrap();
        let mut no_secret = s.opts;
        no_secret.enroll_secret_file = None;
        let err = install(&no_secret, &platform).unwrap_err();
        assert!(matches!(err, InstallError::Missing(_)), "{err}");
    }

    #[test]
    fn unsafe_or_invalid_input_is_refused_before_anything_is_written() {
        let s = setup();
        fs::create_dir_all(&s.opts.data_dir).unwrap();
        let planted = FakePlatform {
            foreign_owner: true,
            ..FakePlatform::default()
        };
        assert!(matches!(
            install(&s.opts, &planted),
            Err(InstallError::Unsafe { .. })
        ));
        assert!(!s.opts.data_dir.join("enroll-secret.txt").exists());

        let platform = FakePlatform::default();
        for (change, what) in [
            (
                Box::new(|o: &mut InstallOptions| o.collector_url = "http://x:1".into())
                    as Box<dyn Fn(&mut InstallOptions)>,
                "collector URL",
            ),
            (Box::new(|o| o.daily_at = "25:00".into()), "daily time"),
            (Box::new(|o| o.task_name = "a\\b".into()), "task name"),
        ] {
            let mut bad = s.opts.clone();
            change(&mut bad);
            match install(&bad, &platform) {
                Err(InstallError::Invalid { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{what}: {other:?}"),
            }
        }
        let short = s.tmp.path().join("short.txt");
        fs::write(&short, "abc").unwrap();
        let mut bad = s.opts.clone();
        bad.enroll_secret_file = Some(short);
        assert!(matches!(
            install(&bad, &platform),
            Err(InstallError::Invalid {
                what: "enroll secret",
                ..
            })
        ));
        let mut bad = s.opts.clone();
        bad.ca_file = Some(s.tmp.path().join("enroll-secret.txt"));
        assert!(matches!(
            install(&bad, &platform),
            Err(InstallError::Invalid {
                what: "CA file",
                ..
            })
        ));
        assert!(platform.tasks.borrow().is_empty());
    }

    #[test]
    fn only_system_and_administrators_make_an_acl_private() {
        let acl = |owner: &str, allowed: &[(&str, u32)]| AclInfo {
            owner: Some(owner.into()),
            allowed: Some(allowed.iter().map(|(s, m)| ((*s).to_owned(), *m)).collect()),
        };
        let full = 0x1f01ff;
        assert_eq!(
            private_problem(&acl(
                ADMINISTRATORS_SID,
                &[(SYSTEM_SID, full), (ADMINISTRATORS_SID, full)]
            )),
            None
        );
        let users = private_problem(&acl(
            SYSTEM_SID,
            &[(SYSTEM_SID, full), ("S-1-5-32-545", 0x1200a9)],
        ));
        assert_eq!(users.as_deref(), Some("S-1-5-32-545 has access 0x1200a9"));
        let planted = private_problem(&acl("S-1-5-21-1-2-3-1001", &[(SYSTEM_SID, full)]));
        assert_eq!(planted.as_deref(), Some("owned by S-1-5-21-1-2-3-1001"));
        let null_dacl = AclInfo {
            owner: Some(SYSTEM_SID.into()),
            allowed: None,
        };
        assert!(private_problem(&null_dacl).unwrap().contains("everyone"));
    }

    #[test]
    fn dry_run_changes_nothing_and_says_what_it_would_do() {
        let s = setup();
        let platform = FakePlatform::default();
        let mut dry = s.opts.clone();
        dry.dry_run = true;
        let out = install(&dry, &platform).unwrap();
        assert!(out.changed);
        assert!(!s.opts.data_dir.exists());
        assert!(platform.tasks.borrow().is_empty());
        assert!(
            out.lines.iter().any(|l| l.contains("would be registered")),
            "{:#?}",
            out.lines
        );
    }

    #[test]
    fn a_proxy_goes_on_the_command_line_and_its_password_never_does() {
        let s = setup();
        let platform = FakePlatform::default();
        let mut opts = s.opts.clone();
        opts.proxy = Some(" proxy.corp.example:8080 ".into());
        install(&opts, &platform).unwrap();
        let bytes = fs::read(opts.data_dir.join(TASK_XML)).unwrap();
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let xml = String::from_utf16(&units).unwrap();
        assert!(
            xml.contains("--proxy http://proxy.corp.example:8080</Arguments>"),
            "canonical form: {xml}"
        );
        // The same proxy spelled differently is no change; `none` is.
        opts.proxy = Some("http://proxy.corp.example:8080/".into());
        assert!(!install(&opts, &platform).unwrap().changed);
        opts.proxy = Some("none".into());
        assert!(install(&opts, &platform).unwrap().changed);
        // An empty property (MSI) means no --proxy at all.
        opts.proxy = Some(String::new());
        install(&opts, &platform).unwrap();
        assert!(!task_spec(&opts).arguments().contains("--proxy"));

        opts.proxy = Some("http://svc:Pa55word@proxy.corp.example:8080".into());
        let e = install(&opts, &platform).unwrap_err().to_string();
        assert!(e.contains("agent.toml ([collector] proxy)"), "{e}");
        assert!(!e.contains("Pa55word") && !e.contains("svc"), "{e}");
        opts.proxy = Some("socks5://proxy:1080".into());
        let e = install(&opts, &platform).unwrap_err().to_string();
        assert!(e.starts_with("invalid proxy: "), "{e}");

        // The password's place, agent.toml, is checked when installed.
        let config = s.tmp.path().join("agent.toml");
        fs::write(
            &config,
            "[collector]\nproxy = \"https://svc:Pa55word@proxy:1\"\n",
        )
        .unwrap();
        opts.proxy = None;
        opts.config_file = Some(config.clone());
        let e = install(&opts, &platform).unwrap_err().to_string();
        assert!(e.contains("[collector] proxy: an https:// proxy"), "{e}");
        assert!(!e.contains("Pa55word"), "{e}");
        fs::write(
            &config,
            "[collector]\nproxy = \"http://svc:Pa55word@proxy:1\"\n",
        )
        .unwrap();
        install(&opts, &platform).unwrap();
    }

    #[test]
    fn uninstall_removes_the_task_and_folder_and_keeps_data_unless_asked() {
        let s = setup();
        let platform = FakePlatform::default();
        install(&s.opts, &platform).unwrap();
        let mut opts = UninstallOptions {
            data_dir: s.opts.data_dir.clone(),
            task_name: "certfleet-agent".into(),
            remove_data: false,
            dry_run: false,
        };
        let out = uninstall(&opts, &platform).unwrap();
        assert!(
            out.lines
                .iter()
                .any(|l| l.contains("task folder \\certfleet: deleted"))
        );
        assert!(platform.tasks.borrow().is_empty());
        assert!(s.opts.data_dir.join("ca.pem").exists(), "data kept");
        assert!(
            !s.opts.data_dir.join("enroll-secret.txt").exists(),
            "but not the fleet-wide secret"
        );
        opts.remove_data = true;
        uninstall(&opts, &platform).unwrap();
        assert!(!s.opts.data_dir.exists());
    }
}
