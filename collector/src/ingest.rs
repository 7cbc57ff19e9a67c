//! Validation of one agent report: the proto message becomes a bounded, re-parsed
//! [`Snapshot`], and every certificate that cannot be used is named with its reason.

use std::collections::BTreeMap;

use certfleet_certinfo::{Selector, parse_der, verify_issued_by};
use certfleet_proto::v1 as pb;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;
use certfleet_config::{Limits, TrustSettings};
use certfleet_model::text;
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
/// Longest stored scan error message, in bytes.
pub const MAX_SCAN_ERROR_MESSAGE_LEN: usize = 1024;

/// A validated report plus the certificates that were refused.
#[derive(Debug)]
pub struct ValidatedReport {
    pub snapshot: Snapshot,
    pub rejected: Vec<pb::RejectedCertificate>,
}

/// Checks and converts terminal facts (used by Enroll and Report). Every string is bounded and
/// free of control and bidi characters; the hostname keeps to a hostname's characters.
pub fn validate_facts(facts: Option<pb::TerminalFacts>) -> Result<TerminalFacts, ServiceError> {
    let f =
        facts.ok_or_else(|| ServiceError::InvalidArgument("terminal facts are missing".into()))?;
    // Checked before trimming: trim() would silently drop a trailing U+2028.
    check_text("terminal.machine_id", &f.machine_id, MAX_ID_LEN).map_err(invalid)?;
    let machine_id = f.machine_id.trim().to_owned();
    if machine_id.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "terminal.machine_id is empty".into(),
        ));
    }
    check_hostname(&f.hostname).map_err(invalid)?;
    check_text("terminal.os_name", &f.os_name, MAX_NAME_LEN).map_err(invalid)?;
    check_text("terminal.os_version", &f.os_version, MAX_NAME_LEN).map_err(invalid)?;
    check_text("terminal.agent_version", &f.agent_version, MAX_NAME_LEN).map_err(invalid)?;
    Ok(TerminalFacts {
        machine_id,
        hostname: f.hostname,
        os_name: f.os_name,
        os_version: f.os_version,
        agent_version: f.agent_version,
    })
}

fn invalid(message: String) -> ServiceError {
    ServiceError::InvalidArgument(message)
}

/// A string an agent sent: at most `max` bytes and no character of
/// [`certfleet_model::text::is_forbidden`] (control, bidi, line separator), which could
/// rewrite a line of an alert or an operator's terminal, and which PostgreSQL partly refuses
/// (NUL). The message names the field.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{field} is {} bytes, more than the {max}-byte limit",
            value.len()
        ));
    }
    if let Some(c) = text::first_forbidden(value) {
        return Err(format!(
            "{field} contains {}, which is not allowed",
            text::describe_forbidden(c)
        ));
    }
    Ok(())
}

/// A hostname: 1 to 255 bytes of letters and digits (any script: Windows allows Japanese
/// computer names), `-`, `_` and `.`. Everything a chat message or e-mail could read as markup
/// or a link (`<`, `|`, `*`, `:`, `/`, spaces …) is refused.
pub fn check_hostname(value: &str) -> Result<(), String> {
    const FIELD: &str = "terminal.hostname";
    check_text(FIELD, value, MAX_NAME_LEN)?;
    if value.is_empty() {
        return Err(format!("{FIELD} is empty"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{FIELD} contains U+{:04X}; a hostname holds only letters, digits, '-', '_' and '.'",
            u32::from(c)
        ));
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

/// What a report is checked against besides its own shape.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub selector: &'a Selector,
    pub limits: &'a Limits,
    /// Pinned issuer CAs (`[trust]`): an office certificate none of them signed is refused.
    pub trust: Option<&'a TrustSettings>,
}

/// Notes about refused forgeries kept in one report's scan errors; more become one summary.
const MAX_TRUST_NOTES: usize = 10;

/// Validates a report from `terminal` with no pinned issuer. See [`validate`].
pub fn validate_report(
    req: pb::ReportRequest,
    terminal: &AuthenticatedTerminal,
    selector: &Selector,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<ValidatedReport, ServiceError> {
    let rules = Rules {
        selector,
        limits,
        trust: None,
    };
    validate(req, terminal, &rules, now)
}

/// Validates a report from `terminal`. Whole-report problems are errors; per-certificate
/// problems reject only that certificate.
pub fn validate(
    req: pb::ReportRequest,
    terminal: &AuthenticatedTerminal,
    rules: &Rules<'_>,
    now: DateTime<Utc>,
) -> Result<ValidatedReport, ServiceError> {
    let limits = rules.limits;
    check_text("report_id", &req.report_id, MAX_ID_LEN).map_err(invalid)?;
    let report_id = req.report_id.trim().to_owned();
    if report_id.is_empty() {
        return Err(ServiceError::InvalidArgument("report_id is empty".into()));
    }
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
    let mut trust_notes = Vec::new();
    let mut by_sha: BTreeMap<String, (CertificateRecord, SnapshotHolding)> = BTreeMap::new();
    for (index, cert) in req.certificates.into_iter().enumerate() {
        let index_u32 = u32::try_from(index).unwrap_or(u32::MAX);
        match convert_certificate(cert, rules, &mut trust_notes) {
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

    let mut scan_errors = stored_scan_errors(&req.errors, limits.max_scan_error_bytes);
    let forgeries = trust_notes.len();
    scan_errors.extend(trust_notes.into_iter().take(MAX_TRUST_NOTES));
    if forgeries > MAX_TRUST_NOTES {
        scan_errors.push(ScanErrorRecord {
            source: "collector".into(),
            path: String::new(),
            message: format!(
                "{} more office certificates were refused: no pinned issuer CA signed them",
                forgeries - MAX_TRUST_NOTES
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

/// The scan errors kept with a report: in the agent's order, each path and message truncated,
/// at most [`MAX_SCAN_ERRORS`] of them and `max_bytes` of paths and messages in all, then one
/// note saying how many were dropped. An error whose text holds a forbidden character is kept
/// as a note naming the field instead of its text.
fn stored_scan_errors(errors: &[pb::ScanError], max_bytes: usize) -> Vec<ScanErrorRecord> {
    let mut kept = Vec::new();
    let mut used = 0usize;
    for (index, e) in errors.iter().enumerate() {
        let source = source_name(e.source).to_owned();
        let refused = [("path", &e.path), ("message", &e.message)]
            .into_iter()
            .find_map(|(field, value)| text::first_forbidden(value).map(|c| (field, c)));
        let record = match refused {
            Some((field, c)) => ScanErrorRecord {
                source,
                path: String::new(),
                message: format!(
                    "scan error {index} not stored: its {field} contains {}",
                    text::describe_forbidden(c)
                ),
            },
            None => ScanErrorRecord {
                source,
                path: truncate(&e.path, MAX_PATH_LEN),
                message: truncate(&e.message, MAX_SCAN_ERROR_MESSAGE_LEN),
            },
        };
        let size = record.path.len() + record.message.len();
        if kept.len() == MAX_SCAN_ERRORS || used + size > max_bytes {
            kept.push(ScanErrorRecord {
                source: "collector".into(),
                path: String::new(),
                message: format!(
                    "{} more scan errors were dropped (a report keeps at most {MAX_SCAN_ERRORS} \
                     scan errors and {max_bytes} bytes of them)",
                    errors.len() - index
                ),
            });
            break;
        }
        used += size;
        kept.push(record);
    }
    kept
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

/// One reported certificate as stored, or why it is refused. A refused forgery (an office
/// certificate no pinned CA signed) also leaves a note in `trust_notes` for the report.
fn convert_certificate(
    cert: pb::ReportedCertificate,
    rules: &Rules<'_>,
    trust_notes: &mut Vec<ScanErrorRecord>,
) -> Result<(CertificateRecord, SnapshotHolding), String> {
    if cert.locations.len() > MAX_LOCATIONS_PER_CERT {
        return Err(format!(
            "{} locations, more than the limit of {MAX_LOCATIONS_PER_CERT}",
            cert.locations.len()
        ));
    }
    // The agent cuts friendly names to the shared limit; an older or foreign agent's longer
    // name is cut the same way here rather than costing the certificate. Its characters are
    // checked like every agent string.
    check_text("friendly_name", &cert.friendly_name, usize::MAX)?;
    let friendly_name =
        certfleet_certinfo::limits::truncate_friendly_name(&cert.friendly_name).into_owned();
    let mut locations = Vec::with_capacity(cert.locations.len());
    for (i, loc) in cert.locations.iter().enumerate() {
        // The field is named only when it is wrong: no formatting on the common path.
        for (name, value, max) in [
            ("store", &loc.store, MAX_NAME_LEN),
            ("user", &loc.user, MAX_NAME_LEN),
            ("path", &loc.path, MAX_PATH_LEN),
        ] {
            check_text("", value, max).map_err(|e| format!("locations[{i}].{name}{e}"))?;
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
    // The names come from the DER, which the agent controls as much as its strings: a NUL in a
    // commonName would fail the PostgreSQL insert, a newline would rewrite an alert line.
    check_text("the certificate's subject", &info.subject, usize::MAX)?;
    check_text("the certificate's issuer", &info.issuer, usize::MAX)?;
    for cn in [&info.subject_cn, &info.issuer_cn].into_iter().flatten() {
        check_text("a commonName of the certificate", cn, usize::MAX)?;
    }
    let office_number = rules.selector.office_number(&info);
    if let (Some(office), Some(trust)) = (&office_number, rules.trust)
        && let Err(reason) = verify_issued_by(&cert.der, &trust.issuer_cas)
    {
        let issuer = info.issuer_cn.as_deref().unwrap_or(&info.issuer);
        trust_notes.push(ScanErrorRecord {
            source: "collector".into(),
            path: String::new(),
            message: format!(
                "refused certificate {} for office {office}: it names issuer {issuer:?}, but {reason}",
                info.sha256
            ),
        });
        return Err(format!(
            "office certificate for {office} refused: {reason} (trust.issuer_ca_file)"
        ));
    }
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

    pub(super) fn terminal() -> AuthenticatedTerminal {
        AuthenticatedTerminal {
            id: 1,
            machine_id: "m-1".into(),
            revoked: false,
        }
    }

    /// A certificate for `cn` from a fresh CA named `issuer_cn`.
    pub(super) fn der(cn: &str, issuer_cn: &str) -> Vec<u8> {
        let now = Utc::now();
        certfleet_testsupport::TestCa::new(issuer_cn).office_cert_der(
            cn,
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(365),
        )
    }

    pub(super) fn request(certs: Vec<pb::ReportedCertificate>) -> pb::ReportRequest {
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

    pub(super) fn cert(der: Vec<u8>, path: &str, key: Option<bool>) -> pb::ReportedCertificate {
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

#[cfg(test)]
mod text_tests {
    //! The character rules of agent strings and the scan-error budget.
    use super::tests::{cert, der, request, terminal};
    use super::*;

    fn validate(req: pb::ReportRequest) -> Result<ValidatedReport, ServiceError> {
        validate_report(
            req,
            &terminal(),
            &Selector::default(),
            &Limits::default(),
            Utc::now(),
        )
    }

    fn invalid_message(req: pb::ReportRequest) -> String {
        match validate(req) {
            Err(ServiceError::InvalidArgument(m)) => m,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn hostnames_keep_to_hostname_characters() {
        for bad in [
            "<!channel>",
            "pc|evil",
            "pc-01 renew now",
            "*urgent*",
            "evil.example/renew",
            "pc:01",
            "",
        ] {
            let mut req = request(vec![]);
            req.terminal.as_mut().unwrap().hostname = bad.into();
            let m = invalid_message(req);
            assert!(m.starts_with("terminal.hostname"), "{bad:?}: {m}");
        }
        for good in ["HONBU-PC01", "pc_2.office.local", "事務所ＰＣ1"] {
            let mut req = request(vec![]);
            req.terminal.as_mut().unwrap().hostname = good.into();
            assert!(validate(req).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn control_and_bidi_characters_are_refused_naming_the_field() {
        type Edit = fn(&mut pb::ReportRequest);
        let cases: [(&str, Edit); 6] = [
            ("terminal.hostname", |r| {
                r.terminal.as_mut().unwrap().hostname = "pc\u{0}01".into()
            }),
            ("terminal.os_name", |r| {
                r.terminal.as_mut().unwrap().os_name = "Windows\n<!channel>".into()
            }),
            ("terminal.os_version", |r| {
                r.terminal.as_mut().unwrap().os_version = "10\u{1b}[2J".into()
            }),
            ("terminal.agent_version", |r| {
                r.terminal.as_mut().unwrap().agent_version = "1.0\u{202e}".into()
            }),
            ("terminal.machine_id", |r| {
                r.terminal.as_mut().unwrap().machine_id = "m-1\u{2028}".into()
            }),
            ("report_id", |r| r.report_id = "r-1\u{0}".into()),
        ];
        for (field, edit) in cases {
            let mut req = request(vec![]);
            edit(&mut req);
            let m = invalid_message(req);
            assert!(m.starts_with(field), "{field}: {m}");
            assert!(m.contains("U+"), "{field}: the character is named: {m}");
        }
    }

    #[test]
    fn a_certificate_with_forbidden_text_is_rejected_alone() {
        let good = der("1234567890", "KANAGAWA KOKUHOREN CA");
        let mut named = cert(good.clone(), "a", Some(true));
        named.friendly_name = "renew at\u{0}evil".into();
        let mut pathed = cert(good.clone(), "b", Some(true));
        pathed.locations[0].path = "C:\\certs\\\u{202e}rec.exe".into();
        let nul_cn = der("12345\u{0}67890", "KANAGAWA KOKUHOREN CA");
        let newline_issuer = der("1234567891", "KANAGAWA KOKUHOREN CA\nrenew at evil");
        let req = request(vec![
            named,
            pathed,
            cert(nul_cn, "c", None),
            cert(newline_issuer, "d", None),
            cert(good, "e", Some(true)),
        ]);
        let v = validate(req).unwrap();
        let reasons: Vec<(u32, &str)> = v
            .rejected
            .iter()
            .map(|r| (r.index, r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].1.starts_with("friendly_name contains U+0000"));
        assert!(
            reasons[1]
                .1
                .starts_with("locations[0].path contains U+202E")
        );
        assert!(reasons[2].1.contains("U+0000"), "{}", reasons[2].1);
        assert!(reasons[3].1.contains("U+000A"), "{}", reasons[3].1);
        assert_eq!(v.snapshot.holdings.len(), 1);
        assert_eq!(v.snapshot.holdings[0].locations[0].path, "e");
    }

    #[test]
    fn scan_errors_are_capped_in_bytes_and_forbidden_text_is_not_stored() {
        let mut req = request(vec![]);
        req.errors = (0..200)
            .map(|i| pb::ScanError {
                source: pb::Source::File as i32,
                path: format!("C:\\certs\\{i}.cer"),
                message: "x".repeat(5_000),
            })
            .collect();
        req.errors[0].message = "bad\u{0}nul".into();
        let v = validate(req).unwrap();
        let errors = &v.snapshot.scan_errors;
        let bytes: usize = errors[..errors.len() - 1]
            .iter()
            .map(|e| e.path.len() + e.message.len())
            .sum();
        assert!(bytes <= Limits::default().max_scan_error_bytes, "{bytes}");
        assert!(
            errors[0]
                .message
                .starts_with("scan error 0 not stored: its message contains U+0000"),
            "{:?}",
            errors[0]
        );
        assert!(errors.iter().all(|e| !e.message.contains('\u{0}')));
        let note = errors.last().unwrap();
        assert_eq!(note.source, "collector");
        assert!(
            note.message.starts_with(&format!(
                "{} more scan errors were dropped",
                200 - (errors.len() - 1)
            )),
            "{note:?}"
        );
        // 1 MB of scan errors, as an agent could send within one message, stores 16 KiB.
        let stored = serde_json::to_string(errors).unwrap().len();
        assert!(stored < 20 * 1024, "{stored} bytes stored");
    }
}

#[cfg(test)]
mod trust_tests {
    //! The pinned issuer: a certificate that only claims the federation's name is refused.
    use super::tests::{cert, request, terminal};
    use super::*;
    use certfleet_testsupport::TestCa;

    #[test]
    fn office_certificates_no_pinned_ca_signed_are_refused_and_noted() {
        let real = TestCa::kanagawa();
        // Same issuer name, another key: a forgery whose far expiry would hide the real
        // certificate's (the effective certificate is the latest one).
        let forger = TestCa::kanagawa();
        let other = TestCa::new("SOME OTHER CA");
        let now = Utc::now();
        let genuine = real.office_cert_der(
            "1234567890",
            now - chrono::Duration::days(1000),
            now + chrono::Duration::days(5),
        );
        let forged = forger.office_cert_der(
            "1234567890",
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(3000),
        );
        let unrelated = other.office_cert_der(
            "1234567890",
            now - chrono::Duration::days(1),
            now + chrono::Duration::days(300),
        );
        let trust = TrustSettings {
            issuer_cas: vec![real.ca_cert().der.clone()],
        };
        let (selector, limits) = (Selector::default(), Limits::default());
        let rules = Rules {
            selector: &selector,
            limits: &limits,
            trust: Some(&trust),
        };
        let req = request(vec![
            cert(genuine, "a", Some(true)),
            cert(forged.clone(), "b", Some(true)),
            cert(unrelated, "c", None),
        ]);
        let v = validate(req, &terminal(), &rules, now).unwrap();
        assert_eq!(v.rejected.len(), 1, "{:?}", v.rejected);
        assert_eq!(v.rejected[0].index, 1);
        assert!(
            v.rejected[0].reason.starts_with(
                "office certificate for 1234567890 refused: its signature does not verify"
            ),
            "{}",
            v.rejected[0].reason
        );
        // The genuine office certificate and the non-office one are stored.
        assert_eq!(v.snapshot.certificates.len(), 2);
        let note = v.snapshot.scan_errors.last().unwrap();
        assert_eq!(note.source, "collector");
        assert!(note.message.contains("KANAGAWA KOKUHOREN CA"), "{note:?}");

        // Without a pin the forgery counts: what the option exists for.
        let v = validate_report(
            request(vec![cert(forged, "b", Some(true))]),
            &terminal(),
            &selector,
            &limits,
            now,
        )
        .unwrap();
        assert!(v.rejected.is_empty());
    }
}
