//! `report coverage` (issue 17 §4): the expected-terminal list against the fleet — expected
//! PCs that never reported, reporting PCs not on the list, expected offices with no (or only an
//! expired) certificate on their PC — and the agent version spread with its outdated PCs.
//!
//! Matching: a list entry with a machine id matches the counting terminal with that machine id
//! (case-insensitive) and nothing else, so a reinstalled PC that kept its name shows up; an
//! entry without one matches by hostname, case-insensitively (Windows host names are), the most
//! recently reporting terminal when several share the name.
//!
//! Outdated: an agent version below the minimum in semantic-version order (`0.10.0` is newer
//! than `0.9.0`; a pre-release is older than its release), or one that is not a semantic
//! version at all. The minimum is the collector's own version.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use certfleet_model::{AgentVersionCount, CoverageGap, CoverageReport, CoverageRow};
use certfleet_store::coverage::hostname_key;
use certfleet_store::reports::{TerminalFilter, TerminalInfo};
use certfleet_store::{Store, TerminalId};
use chrono::{DateTime, Utc};

use super::{ReportError, terminal_ref};

/// The minimum agent version: the version of this build (the workspace shares one version, so
/// it is the collector's).
pub const MINIMUM_AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A parsed semantic version: `MAJOR.MINOR.PATCH[-PRE][+BUILD]` (a leading `v` is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<String>,
}

impl Version {
    /// `None` for anything that is not a semantic version.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(v, _build)| v);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut parts = core.split('.');
        let mut out = [0u64; 3];
        for slot in &mut out {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(str::to_owned).collect();
                if ids.iter().any(String::is_empty) {
                    return None;
                }
                ids
            }
            None => Vec::new(),
        };
        Some(Version { core: out, pre })
    }
}

impl Ord for Version {
    /// Semantic-version precedence (semver.org §11): numeric core, then a pre-release sorts
    /// before its release, identifiers compared numerically when both are numbers.
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether `version` is below `minimum` (or not a semantic version).
pub fn is_outdated(version: &str, minimum: &Version) -> bool {
    Version::parse(version).is_none_or(|v| &v < minimum)
}

/// The agent version spread of `terminals` that reported: newest first, unparsable last.
pub fn agent_versions(terminals: &[TerminalInfo], minimum: &Version) -> Vec<AgentVersionCount> {
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for t in terminals.iter().filter(|t| t.last_report_at.is_some()) {
        *counts.entry(t.agent_version.as_str()).or_default() += 1;
    }
    let mut out: Vec<(Option<Version>, AgentVersionCount)> = counts
        .into_iter()
        .map(|(version, terminals)| {
            (
                Version::parse(version),
                AgentVersionCount {
                    version: version.to_owned(),
                    terminals,
                    outdated: is_outdated(version, minimum),
                },
            )
        })
        .collect();
    out.sort_by(|(a, x), (b, y)| match (a, b) {
        (Some(a), Some(b)) => b.cmp(a).then_with(|| x.version.cmp(&y.version)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => x.version.cmp(&y.version),
    });
    out.into_iter().map(|(_, c)| c).collect()
}

/// Builds the coverage report at `as_of` against `minimum` (normally
/// [`MINIMUM_AGENT_VERSION`]).
#[tracing::instrument(skip(store), err)]
pub async fn coverage(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    minimum: &str,
) -> Result<CoverageReport, ReportError> {
    let min = Version::parse(minimum).ok_or_else(|| {
        ReportError::invalid(
            "minimum_agent_version",
            format!("{minimum:?} is not a semantic version like 0.1.0"),
        )
    })?;
    let (expected, imported_at) = store.expected_terminals().await?;
    let terminals = store.report_terminals(&TerminalFilter::default()).await?;
    let office_names: HashMap<String, String> = store
        .list_offices()
        .await?
        .into_iter()
        .map(|o| (o.office_number, o.name))
        .collect();

    let mut by_machine: HashMap<String, usize> = HashMap::new();
    let mut by_host: HashMap<String, usize> = HashMap::new();
    for (i, t) in terminals.iter().enumerate() {
        // The latest reporter wins a shared key (re-enrolled PCs keep their names).
        let newer = |j: &usize| terminals[*j].last_report_at < t.last_report_at;
        for (map, key) in [
            (&mut by_machine, t.machine_id.to_lowercase()),
            (&mut by_host, hostname_key(&t.hostname)),
        ] {
            if key.is_empty() {
                continue;
            }
            match map.get(&key) {
                Some(j) if !newer(j) => {}
                _ => {
                    map.insert(key, i);
                }
            }
        }
    }

    let mut matched: HashSet<usize> = HashSet::new();
    let mut expected_on: Vec<(usize, &[String])> = Vec::new();
    let mut rows = Vec::new();
    for e in &expected {
        let found = match &e.machine_id {
            Some(m) => by_machine.get(&m.to_lowercase()),
            None => by_host.get(&e.hostname_key()),
        }
        .copied();
        if let Some(i) = found {
            matched.insert(i);
        }
        match found.map(|i| (i, &terminals[i])) {
            Some((i, t)) if t.last_report_at.is_some() => expected_on.push((i, &e.offices)),
            found => rows.push(CoverageRow {
                gap: CoverageGap::NeverReported,
                hostname: e.hostname.clone(),
                machine_id: e.machine_id.clone(),
                terminal: found.map(|(_, t)| terminal_ref(t)),
                office_number: None,
                office_name: None,
                not_after: None,
                last_report_at: None,
                agent_version: found.map(|(_, t)| t.agent_version.clone()),
            }),
        }
    }

    // One fetch for the pairs of every matched terminal; the whole fleet's when most match.
    let ids: Vec<TerminalId> = expected_on.iter().map(|(i, _)| terminals[*i].id).collect();
    let fetch_ids: &[TerminalId] = if ids.len() > 1000 { &[] } else { &ids };
    let mut pairs: HashMap<(TerminalId, &str), DateTime<Utc>> = HashMap::new();
    let fetched = if ids.is_empty() {
        Vec::new()
    } else {
        store.pair_expiries(fetch_ids, &[]).await?
    };
    for p in &fetched {
        pairs.insert((p.terminal_id, p.office_number.as_str()), p.not_after);
    }
    for (i, offices) in &expected_on {
        let t = &terminals[*i];
        for office in *offices {
            let (gap, not_after) = match pairs.get(&(t.id, office.as_str())) {
                None => (CoverageGap::OfficeMissing, None),
                Some(&not_after) if not_after <= as_of => {
                    (CoverageGap::OfficeExpired, Some(not_after))
                }
                Some(_) => continue,
            };
            rows.push(row_for(t, gap, Some(office), &office_names, not_after));
        }
    }
    if imported_at.is_some() {
        for (i, t) in terminals.iter().enumerate() {
            if !matched.contains(&i) && t.last_report_at.is_some() {
                rows.push(row_for(
                    t,
                    CoverageGap::NotExpected,
                    None,
                    &office_names,
                    None,
                ));
            }
        }
    }
    for t in &terminals {
        if t.last_report_at.is_some() && is_outdated(&t.agent_version, &min) {
            rows.push(row_for(
                t,
                CoverageGap::OutdatedAgent,
                None,
                &office_names,
                None,
            ));
        }
    }
    rows.sort_by(|a, b| {
        (
            a.gap,
            hostname_key(&a.hostname),
            &a.office_number,
            a.terminal.as_ref().map(|t| t.id),
        )
            .cmp(&(
                b.gap,
                hostname_key(&b.hostname),
                &b.office_number,
                b.terminal.as_ref().map(|t| t.id),
            ))
    });
    Ok(CoverageReport {
        as_of,
        list_imported_at: imported_at,
        expected_terminals: u32::try_from(expected.len()).unwrap_or(u32::MAX),
        terminals: u32::try_from(terminals.len()).unwrap_or(u32::MAX),
        minimum_agent_version: minimum.to_owned(),
        agent_versions: agent_versions(&terminals, &min),
        rows,
    })
}

fn row_for(
    t: &TerminalInfo,
    gap: CoverageGap,
    office: Option<&String>,
    office_names: &HashMap<String, String>,
    not_after: Option<DateTime<Utc>>,
) -> CoverageRow {
    CoverageRow {
        gap,
        hostname: t.hostname.clone(),
        machine_id: Some(t.machine_id.clone()).filter(|m| !m.is_empty()),
        terminal: Some(terminal_ref(t)),
        office_number: office.cloned(),
        office_name: office.and_then(|o| office_names.get(o).cloned()),
        not_after,
        last_report_at: t.last_report_at,
        agent_version: Some(t.agent_version.clone()),
    }
}

/// Counting terminals that reported, by agent version, for `/metrics`.
pub fn version_counts(terminals: &[TerminalInfo]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for t in terminals.iter().filter(|t| t.last_report_at.is_some()) {
        *out.entry(t.agent_version.clone()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn versions_compare_as_semver_not_as_text() {
        assert!(v("0.10.0") > v("0.9.0"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0-rc.2") < v("1.0.0-rc.10"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert_eq!(v("v1.2.3+build.5"), v("1.2.3"));
        for bad in [
            "", "1", "1.2", "1.2.3.4", "1..3", "a.b.c", "1.2.3-", "１.2.3",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn outdated_means_below_the_minimum_or_unparsable() {
        let min = v("0.10.0");
        assert!(is_outdated("0.9.9", &min));
        assert!(is_outdated("0.10.0-rc.1", &min));
        assert!(is_outdated("unknown", &min));
        assert!(!is_outdated("0.10.0", &min));
        assert!(!is_outdated("0.11.0", &min));
    }
}
