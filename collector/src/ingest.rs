//! Validation of one agent report: the proto message becomes a bounded, re-parsed
//! [`Snapshot`], and every certificate that cannot be used is named with its reason.

use std::collections::BTreeMap;

use certfleet_certinfo::{Selector, parse_der};
use certfleet_proto::v1 as pb;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use certfleet_config::Limits;
use certfleet_store::{
    AuthenticatedTerminal, CertificateRecord, Location, ScanErrorRecord, Snapshot, SnapshotHolding,
    TerminalFacts,
};

/// Longest accepted strings, in bytes. Anything longer is hostile or broken.
pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_PATH_LEN: usize = 4096;
pub const MAX_LOCATIONS_PER_CERT: usize = 64;
/// Scan errors beyond this are dropped (with a note): they are diagnostics, not inventory.
pub const MAX_SCAN_ERRORS: usize = 200;

/// A validated report plus the certificates that were refused.
#[derive(Debug)]
pub struct ValidatedReport {
    pub snapshot: Snapshot,
    pub rejected: Vec<pb::RejectedCertificate>,
}

/// Checks and converts terminal facts (used by Enroll and Report).
pub fn validate_facts(facts: Option<pb::TerminalFacts>) -> Result<TerminalFacts, ServiceError> {
    let f =
        facts.ok_or_else(|| ServiceError::InvalidArgument("terminal facts are missing".into()))?;
    let machine_id = f.machine_id.trim().to_owned();
    if machine_id.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "terminal.machine_id is empty".into(),
        ));
    }
    check_len("terminal.machine_id", &machine_id, MAX_ID_LEN)?;
    check_len("terminal.hostname", &f.hostname, MAX_NAME_LEN)?;
    check_len("terminal.os_name", &f.os_name, MAX_NAME_LEN)?;
    check_len("terminal.os_version", &f.os_version, MAX_NAME_LEN)?;
    check_len("terminal.agent_version", &f.agent_version, MAX_NAME_LEN)?;
    Ok(TerminalFacts {
        machine_id,
        hostname: f.hostname,
        os_name: f.os_name,
        os_version: f.os_version,
        agent_version: f.agent_version,
    })
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ServiceError> {
    if value.len() > max {
        return Err(ServiceError::InvalidArgument(format!(
            "{field} is {} bytes, more than the {max}-byte limit",
            value.len()
        )));
    }
    Ok(())
}

/// Name of a proto source as stored.
pub fn source_name(source: i32) -> &'static str {
    match pb::Source::try_from(source) {
        Ok(pb::Source::ProfileFile) => "profile_file",
        Ok(pb::Source::Registry) => "registry",
        Ok(pb::Source::Cryptoapi) => "cryptoapi",
        Ok(pb::Source::File) => "file",
        Ok(pb::Source::Unspecified) | Err(_) => "unspecified",
    }
}

/// Validates a report from `terminal`. Whole-report problems are errors; per-certificate
/// problems reject only that certificate.
pub fn validate_report(
    req: pb::ReportRequest,
    terminal: &AuthenticatedTerminal,
    selector: &Selector,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<ValidatedReport, ServiceError> {
    let report_id = req.report_id.trim().to_owned();
    if report_id.is_empty() {
        return Err(ServiceError::InvalidArgument("report_id is empty".into()));
    }
    check_len("report_id", &report_id, MAX_ID_LEN)?;
    let facts = validate_facts(req.terminal)?;
    if facts.machine_id != terminal.machine_id {
        return Err(ServiceError::PermissionDenied(format!(
            "this node key belongs to another machine id, not {:?}",
            facts.machine_id
        )));
    }
    let scanned_at = req
        .scanned_at
        .and_then(|t| {
            DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
        })
        .ok_or_else(|| {
            ServiceError::InvalidArgument("scanned_at is missing or out of range".into())
        })?;
    // A terminal clock running ahead must not let one snapshot block all later ones, so future
    // scan times count as "now".
    let scanned_at = scanned_at.min(now);
    if req.certificates.len() > limits.max_certificates_per_report {
        return Err(ServiceError::InvalidArgument(format!(
            "report holds {} certificates, more than the limit of {}",
            req.certificates.len(),
            limits.max_certificates_per_report
        )));
    }

    let mut rejected = Vec::new();
    let mut by_sha: BTreeMap<String, (CertificateRecord, SnapshotHolding)> = BTreeMap::new();
    for (index, cert) in req.certificates.into_iter().enumerate() {
        let index_u32 = u32::try_from(index).unwrap_or(u32::MAX);
        match convert_certificate(cert, selector) {
            Ok((record, holding)) => match by_sha.get_mut(&record.sha256) {
                Some((_, existing)) => {
                    if let Err(reason) = merge_holding(existing, holding) {
                        rejected.push(pb::RejectedCertificate {
                            index: index_u32,
                            reason,
                        });
                    }
                }
                None => {
                    by_sha.insert(record.sha256.clone(), (record, holding));
                }
            },
            Err(reason) => rejected.push(pb::RejectedCertificate {
                index: index_u32,
                reason,
            }),
        }
    }

    let mut scan_errors: Vec<ScanErrorRecord> = req
        .errors
        .iter()
        .take(MAX_SCAN_ERRORS)
        .map(|e| ScanErrorRecord {
            source: source_name(e.source).to_owned(),
            path: truncate(&e.path, MAX_PATH_LEN),
            message: truncate(&e.message, 1024),
        })
        .collect();
    if req.errors.len() > MAX_SCAN_ERRORS {
        scan_errors.push(ScanErrorRecord {
            source: "collector".into(),
            path: String::new(),
            message: format!(
                "{} more scan errors were dropped",
                req.errors.len() - MAX_SCAN_ERRORS
            ),
        });
    }

    let (certificates, holdings): (Vec<_>, Vec<_>) = by_sha.into_values().unzip();
    let holdings_digest = digest_holdings(&holdings);
    Ok(ValidatedReport {
        snapshot: Snapshot {
            report_id,
            facts,
            scanned_at,
            received_at: now,
            certificates,
            holdings,
            scan_errors,
            rejected_count: u32::try_from(rejected.len()).unwrap_or(u32::MAX),
            holdings_digest,
        },
        rejected,
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn convert_certificate(
    cert: pb::ReportedCertificate,
    selector: &Selector,
) -> Result<(CertificateRecord, SnapshotHolding), String> {
    if cert.locations.len() > MAX_LOCATIONS_PER_CERT {
        return Err(format!(
            "{} locations, more than the limit of {MAX_LOCATIONS_PER_CERT}",
            cert.locations.len()
        ));
    }
    // The agent cuts friendly names to the shared limit; an older or foreign agent's longer
    // name is cut the same way here rather than costing the certificate.
    let friendly_name =
        certfleet_certinfo::limits::truncate_friendly_name(&cert.friendly_name).into_owned();
    let mut locations = Vec::with_capacity(cert.locations.len());
    for loc in &cert.locations {
        if loc.path.len() > MAX_PATH_LEN
            || loc.store.len() > MAX_NAME_LEN
            || loc.user.len() > MAX_NAME_LEN
        {
            return Err("a location field exceeds its length limit".into());
        }
        locations.push(Location {
            source: source_name(loc.source).to_owned(),
            store: loc.store.clone(),
            user: loc.user.clone(),
            path: loc.path.clone(),
        });
    }
    locations.sort();
    locations.dedup();
    let info = parse_der(&cert.der).map_err(|e| e.to_string())?;
    let office_number = selector.office_number(&info);
    let record = CertificateRecord {
        sha256: info.sha256.clone(),
        sha1: info.sha1,
        der: cert.der,
        subject: info.subject,
        issuer: info.issuer,
        subject_cn: info.subject_cn,
        issuer_cn: info.issuer_cn,
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        client_auth: info.client_auth,
        office_number,
    };
    let holding = SnapshotHolding {
        sha256: info.sha256,
        locations,
        has_private_key: cert.has_private_key,
        friendly_name,
    };
    Ok((record, holding))
}

/// The same certificate listed twice in one report: keep every location; a key seen anywhere
/// wins. A listing that would take the certificate past [`MAX_LOCATIONS_PER_CERT`] distinct
/// locations is refused whole (the reason names the count), and the earlier listings stay.
fn merge_holding(into: &mut SnapshotHolding, other: SnapshotHolding) -> Result<(), String> {
    let mut locations = into.locations.clone();
    locations.extend(other.locations);
    locations.sort();
    locations.dedup();
    if locations.len() > MAX_LOCATIONS_PER_CERT {
        return Err(format!(
            "listed again: {} distinct locations in all, more than the limit of \
             {MAX_LOCATIONS_PER_CERT}",
            locations.len()
        ));
    }
    into.locations = locations;
    into.has_private_key = match (into.has_private_key, other.has_private_key) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        _ => None,
    };
    if into.friendly_name.is_empty() {
        into.friendly_name = other.friendly_name;
    }
    Ok(())
}

/// Digest of the holdings in canonical order; equal digests mean an unchanged snapshot.
pub fn digest_holdings(holdings: &[SnapshotHolding]) -> String {
    let mut sorted: Vec<&SnapshotHolding> = holdings.iter().collect();
    sorted.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    let mut hasher = Sha256::new();
    for h in sorted {
        // Length-prefixed fields so no two different holdings serialize the same.
        let mut field = |s: &str| {
            hasher.update((s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        };
        field(&h.sha256);
        field(match h.has_private_key {
            Some(true) => "1",
            Some(false) => "0",
            None => "-",
        });
        field(&h.friendly_name);
        field(&h.locations.len().to_string());
        for l in &h.locations {
            field(&l.source);
            field(&l.store);
            field(&l.user);
            field(&l.path);
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal() -> AuthenticatedTerminal {
        AuthenticatedTerminal {
            id: 1,
            machine_id: "m-1".into(),
            revoked: false,
        }
    }

    /// A certificate for `cn` from a fresh CA named `issuer_cn`.
    fn der(cn: &str, issuer_cn: &str) -> Vec<u8> {
        let now = Utc::now();
        certfleet_testsupport::TestCa::new(issuer_cn).office_cert_der(
            cn,
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(365),
        )
    }

    fn request(certs: Vec<pb::ReportedCertificate>) -> pb::ReportRequest {
        pb::ReportRequest {
            report_id: "r-1".into(),
            terminal: Some(pb::TerminalFacts {
                machine_id: "m-1".into(),
                hostname: "pc-1".into(),
                ..Default::default()
            }),
            scanned_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            certificates: certs,
            errors: vec![],
        }
    }

    fn cert(der: Vec<u8>, path: &str, key: Option<bool>) -> pb::ReportedCertificate {
        pb::ReportedCertificate {
            der,
            locations: vec![pb::Location {
                source: pb::Source::ProfileFile as i32,
                store: "My".into(),
                user: "u".into(),
                path: path.into(),
            }],
            has_private_key: key,
            friendly_name: String::new(),
        }
    }

    #[test]
    fn garbage_certificate_is_named_and_the_rest_kept() {
        let good = der("1234567890", "KANAGAWA KOKUHOREN CA");
        let req = request(vec![
            cert(b"junk".to_vec(), "a", None),
            cert(good, "b", Some(true)),
        ]);
        let v = validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(v.rejected.len(), 1);
        assert_eq!(v.rejected[0].index, 0);
        assert!(
            v.rejected[0].reason.contains("not a DER"),
            "{}",
            v.rejected[0].reason
        );
        assert_eq!(v.snapshot.certificates.len(), 1);
        assert_eq!(
            v.snapshot.certificates[0].office_number.as_deref(),
            Some("1234567890")
        );
    }

    #[test]
    fn long_friendly_names_are_cut_to_the_shared_limit_not_refused() {
        use certfleet_certinfo::limits::{MAX_FRIENDLY_NAME_BYTES, TRUNCATION_MARKER};
        let mut long = cert(der("1234567890", "KANAGAWA KOKUHOREN CA"), "a", Some(true));
        long.friendly_name = "国保連".repeat(200);
        let v = validate_report(
            request(vec![long]),
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap();
        assert!(v.rejected.is_empty(), "{:?}", v.rejected);
        let name = &v.snapshot.holdings[0].friendly_name;
        assert!(name.len() <= MAX_FRIENDLY_NAME_BYTES);
        assert!(name.starts_with("国保連国保連") && name.ends_with(TRUNCATION_MARKER));
    }

    #[test]
    fn duplicate_certificates_merge_locations_and_key_flag() {
        let d = der("1234567890", "KANAGAWA KOKUHOREN CA");
        let req = request(vec![
            cert(d.clone(), "a", Some(false)),
            cert(d, "b", Some(true)),
        ]);
        let v = validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(v.snapshot.holdings.len(), 1);
        assert_eq!(v.snapshot.holdings[0].locations.len(), 2);
        assert_eq!(v.snapshot.holdings[0].has_private_key, Some(true));
    }

    #[test]
    fn duplicates_cannot_merge_past_the_location_limit() {
        let d = der("1234567890", "KANAGAWA KOKUHOREN CA");
        let listing = |from: usize| {
            let mut c = cert(d.clone(), "a", Some(true));
            c.locations = (from..from + MAX_LOCATIONS_PER_CERT)
                .map(|i| pb::Location {
                    source: pb::Source::ProfileFile as i32,
                    store: "My".into(),
                    user: "staff".into(),
                    path: format!("C:\\certs\\{i}.cer"),
                })
                .collect();
            c
        };
        // The second listing repeats the first's locations (merges to the limit), the third
        // brings new ones and is refused, naming the total.
        let req = request(vec![listing(0), listing(0), listing(1)]);
        let v = validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(v.snapshot.holdings.len(), 1);
        assert_eq!(
            v.snapshot.holdings[0].locations.len(),
            MAX_LOCATIONS_PER_CERT
        );
        assert_eq!(v.rejected.len(), 1);
        assert_eq!(v.rejected[0].index, 2);
        assert!(
            v.rejected[0].reason.contains("65 distinct locations"),
            "{}",
            v.rejected[0].reason
        );
    }

    #[test]
    fn foreign_machine_id_is_permission_denied() {
        let mut req = request(vec![]);
        req.terminal.as_mut().unwrap().machine_id = "someone-else".into();
        let err = validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(err, ServiceError::PermissionDenied(_)));
    }

    #[test]
    fn limits_are_enforced_with_clear_messages() {
        let limits = Limits {
            max_certificates_per_report: 1,
            ..Limits::default()
        };
        let d = der("1234567890", "KANAGAWA KOKUHOREN CA");
        let req = request(vec![cert(d.clone(), "a", None), cert(d, "b", None)]);
        let err = validate_report(req, &terminal(), &Selector::default(), &limits, Utc::now())
            .unwrap_err();
        assert!(
            err.to_string().contains("more than the limit of 1"),
            "{err}"
        );

        let mut req = request(vec![]);
        req.report_id = "x".repeat(MAX_ID_LEN + 1);
        let err = validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("report_id"), "{err}");

        let mut req = request(vec![]);
        req.scanned_at = None;
        assert!(
            validate_report(
                req,
                &terminal(),
                &Selector::default(),
                &Limits::default(),
                Utc::now()
            )
            .is_err()
        );
    }

    #[test]
    fn future_scan_time_is_clamped_and_digest_ignores_order() {
        let now = DateTime::<Utc>::from_timestamp(1_600_000_000, 0).unwrap();
        let a = der("1111111111", "KANAGAWA KOKUHOREN CA");
        let b = der("2222222222", "KANAGAWA KOKUHOREN CA");
        let v1 = validate_report(
            request(vec![cert(a.clone(), "a", None), cert(b.clone(), "b", None)]),
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            now,
        )
        .unwrap();
        let v2 = validate_report(
            request(vec![cert(b, "b", None), cert(a.clone(), "a", None)]),
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            now,
        )
        .unwrap();
        assert_eq!(v1.snapshot.scanned_at, now);
        assert_eq!(v1.snapshot.holdings_digest, v2.snapshot.holdings_digest);
        let v3 = validate_report(
            request(vec![cert(a, "a", Some(true))]),
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            now,
        )
        .unwrap();
        assert_ne!(v1.snapshot.holdings_digest, v3.snapshot.holdings_digest);
    }
}
