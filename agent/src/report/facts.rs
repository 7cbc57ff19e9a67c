//! Facts about this terminal sent with every message: machine id, hostname, OS, agent version.

use std::path::Path;

use certfleet_proto::v1 as pb;

/// Why the terminal's identity could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("cannot determine a machine id (no /etc/machine-id or MachineGuid); pass --machine-id")]
    NoMachineId,
}

/// Operator overrides (imaging, tests).
#[derive(Debug, Clone, Default)]
pub struct FactOverrides {
    pub hostname: Option<String>,
    pub machine_id: Option<String>,
}

/// Collects the terminal facts, preferring overrides.
pub fn collect(overrides: &FactOverrides) -> Result<pb::TerminalFacts, FactsError> {
    let machine_id = match &overrides.machine_id {
        Some(id) => id.trim().to_owned(),
        None => machine_id().ok_or(FactsError::NoMachineId)?,
    };
    let hostname = overrides.hostname.clone().unwrap_or_else(hostname);
    Ok(pb::TerminalFacts {
        machine_id,
        hostname,
        os_name: std::env::consts::OS.to_owned(),
        os_version: os_version(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(Path::new(path)).ok()?;
    Some(text.trim().to_owned()).filter(|s| !s.is_empty())
}

fn machine_id() -> Option<String> {
    #[cfg(windows)]
    {
        if let Some(id) = crate::windows::machine_guid() {
            return Some(id);
        }
    }
    read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id"))
}

fn hostname() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| read_trimmed("/proc/sys/kernel/hostname"))
        .or_else(|| read_trimmed("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn os_version() -> String {
    read_trimmed("/etc/os-release")
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win() {
        let facts = collect(&FactOverrides {
            hostname: Some("pc-7".into()),
            machine_id: Some(" m-7 ".into()),
        })
        .unwrap();
        assert_eq!(facts.hostname, "pc-7");
        assert_eq!(facts.machine_id, "m-7");
        assert_eq!(facts.agent_version, env!("CARGO_PKG_VERSION"));
    }
}
