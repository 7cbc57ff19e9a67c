//! Facts about this terminal sent with every message: machine id, hostname, OS, agent version.
//!
//! On Windows they come from the system, never from variables a user could set: the machine
//! id is the registry's MachineGuid, the host name comes from GetComputerNameExW and the OS
//! version from `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`. Elsewhere they come from
//! `/etc/machine-id`, the kernel's host name and `/etc/os-release`.

use std::path::Path;

use certfleet_proto::v1 as pb;

/// Why the terminal's identity could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("cannot determine a machine id (no /etc/machine-id or MachineGuid); pass --machine-id")]
    NoMachineId,
    #[error("cannot read the machine id ({0}); pass --machine-id")]
    MachineIdUnreadable(String),
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
        None => machine_id()?.ok_or(FactsError::NoMachineId)?,
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

#[cfg_attr(any(windows, certfleet_check_windows), allow(dead_code))]
fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(Path::new(path)).ok()?;
    Some(text.trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(any(windows, certfleet_check_windows))]
fn machine_id() -> Result<Option<String>, FactsError> {
    crate::windows::system::machine_guid()
        .map_err(|e| FactsError::MachineIdUnreadable(format!("MachineGuid: {e}")))
}

#[cfg(not(any(windows, certfleet_check_windows)))]
fn machine_id() -> Result<Option<String>, FactsError> {
    Ok(read_trimmed("/etc/machine-id").or_else(|| read_trimmed("/var/lib/dbus/machine-id")))
}

#[cfg(any(windows, certfleet_check_windows))]
fn hostname() -> String {
    crate::windows::system::computer_name().unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(not(any(windows, certfleet_check_windows)))]
fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| read_trimmed("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(any(windows, certfleet_check_windows))]
fn os_version() -> String {
    match crate::windows::system::windows_version() {
        Ok(v) => v.describe(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the Windows version from the registry");
            String::new()
        }
    }
}

#[cfg(not(any(windows, certfleet_check_windows)))]
fn os_version() -> String {
    read_trimmed("/etc/os-release")
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

/// The values of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion` that say which Windows
/// this is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsVersion {
    /// `ProductName`, e.g. "Windows 10 Pro" (still "Windows 10" on Windows 11).
    pub product_name: Option<String>,
    /// `DisplayVersion` ("22H2"), or `ReleaseId` on older builds.
    pub display_version: Option<String>,
    /// `CurrentMajorVersionNumber` / `CurrentMinorVersionNumber` (Windows 10 and later).
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `CurrentVersion` ("6.3"; frozen at 6.3 since Windows 8.1).
    pub current_version: Option<String>,
    /// `CurrentBuildNumber` (or `CurrentBuild`), e.g. "19045".
    pub build: Option<String>,
    /// `UBR`, the update build revision.
    pub ubr: Option<u32>,
}

/// First build of Windows 11, whose registry still says "Windows 10" in `ProductName`.
const FIRST_WINDOWS_11_BUILD: u32 = 22000;

impl WindowsVersion {
    /// `10.0.19045.3693 (Windows 10 Pro 22H2)`: the numeric version first (what the proto
    /// documents), then the product for people.
    pub fn describe(&self) -> String {
        let mut numeric = match (self.major, self.minor) {
            (Some(major), Some(minor)) => format!("{major}.{minor}"),
            _ => self.current_version.clone().unwrap_or_default(),
        };
        if let Some(build) = self.build.as_deref().filter(|b| !b.is_empty()) {
            if !numeric.is_empty() {
                numeric.push('.');
            }
            numeric.push_str(build);
            if let Some(ubr) = self.ubr {
                numeric.push_str(&format!(".{ubr}"));
            }
        }
        let windows_11 = self
            .build
            .as_deref()
            .and_then(|b| b.parse::<u32>().ok())
            .is_some_and(|b| b >= FIRST_WINDOWS_11_BUILD);
        let product = self
            .product_name
            .as_deref()
            .map(|p| match p.strip_prefix("Windows 10") {
                Some(rest) if windows_11 => format!("Windows 11{rest}"),
                _ => p.to_owned(),
            });
        let label = [product, self.display_version.clone()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        match (numeric.is_empty(), label.is_empty()) {
            (_, true) => numeric,
            (true, false) => label,
            (false, false) => format!("{numeric} ({label})"),
        }
    }
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

    #[test]
    fn windows_versions_are_described_from_registry_values() {
        let win10 = WindowsVersion {
            product_name: Some("Windows 10 Pro".into()),
            display_version: Some("22H2".into()),
            major: Some(10),
            minor: Some(0),
            current_version: Some("6.3".into()),
            build: Some("19045".into()),
            ubr: Some(3693),
        };
        assert_eq!(win10.describe(), "10.0.19045.3693 (Windows 10 Pro 22H2)");
        let win11 = WindowsVersion {
            build: Some("22631".into()),
            ubr: Some(4460),
            display_version: Some("23H2".into()),
            ..win10
        };
        assert_eq!(win11.describe(), "10.0.22631.4460 (Windows 11 Pro 23H2)");
        // Windows 7 has no major/minor numbers, DisplayVersion or UBR.
        let win7 = WindowsVersion {
            product_name: Some("Windows 7 Professional".into()),
            current_version: Some("6.1".into()),
            build: Some("7601".into()),
            ..WindowsVersion::default()
        };
        assert_eq!(win7.describe(), "6.1.7601 (Windows 7 Professional)");
        assert_eq!(WindowsVersion::default().describe(), "");
    }
}
