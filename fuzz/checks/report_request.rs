//! The body of the `report_request` fuzz target, shared with the stable corpus-replay test: one
//! decoded `ReportRequest` through the collector's validation, with the invariants it promises.
//!
//! The caller decodes the bytes exactly as tonic's prost codec does (`Message::decode` of the
//! whole gRPC message body); this module only validates, so it needs no `prost` itself.

use certfleet_certinfo::Selector;
use certfleet_collector::error::ServiceError;
use certfleet_collector::ingest::{
    MAX_ID_LEN, MAX_LOCATIONS_PER_CERT, MAX_NAME_LEN, MAX_PATH_LEN, MAX_SCAN_ERRORS,
    digest_holdings, validate_facts, validate_report,
};
use certfleet_config::Limits;
use certfleet_proto::v1 as pb;
use certfleet_store::AuthenticatedTerminal;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// A fixed "now" so that a crash found by the fuzzer reproduces on any later day.
const NOW_SECONDS: i64 = 1_790_000_000;

/// Longest rejection reason the collector may send back: reasons go into the gRPC response, so
/// one that echoed hostile input would let an agent amplify its message.
const MAX_REASON_LEN: usize = 1024;

/// Validates `req` twice, as the terminal it names and as another terminal, and checks that
/// everything accepted is within the documented limits. Panics on any broken invariant.
pub fn check(req: pb::ReportRequest) {
    let now = DateTime::<Utc>::from_timestamp(NOW_SECONDS, 0).unwrap();
    let limits = Limits::default();
    let selector = Selector::default();

    // Enroll validates the same facts message on its own; it must agree with Report below.
    let facts = validate_facts(req.terminal.clone());
    if let Ok(f) = &facts {
        assert!(!f.machine_id.is_empty() && f.machine_id.len() <= MAX_ID_LEN);
        assert_eq!(f.machine_id, f.machine_id.trim());
        for s in [&f.hostname, &f.os_name, &f.os_version, &f.agent_version] {
            assert!(s.len() <= MAX_NAME_LEN);
        }
    }

    // A node key of some other terminal: nothing may be accepted under a foreign machine id.
    let other = AuthenticatedTerminal {
        id: 2,
        machine_id: "fuzz-other-terminal".into(),
        revoked: false,
    };
    if let Ok(v) = validate_report(req.clone(), &other, &selector, &limits, now) {
        assert_eq!(v.snapshot.facts.machine_id, other.machine_id);
    }

    // The terminal the request names, so the fuzzer reaches the certificate checks.
    let own = AuthenticatedTerminal {
        id: 1,
        machine_id: req
            .terminal
            .as_ref()
            .map(|t| t.machine_id.trim().to_owned())
            .unwrap_or_default(),
        revoked: false,
    };
    let sent = req.certificates.len();
    let sent_locations: usize = req.certificates.iter().map(|c| c.locations.len()).sum();
    match validate_report(req, &own, &selector, &limits, now) {
        Ok(v) => {
            let Ok(facts) = facts else {
                panic!("Report accepted facts that Enroll refuses");
            };
            assert_eq!(v.snapshot.facts, facts);
            check_accepted(&v, sent, sent_locations, &limits, now);
        }
        Err(ServiceError::InvalidArgument(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("validation of the terminal's own report failed with {other:?}"),
    }
}

fn check_accepted(
    v: &certfleet_collector::ingest::ValidatedReport,
    sent: usize,
    sent_locations: usize,
    limits: &Limits,
    now: DateTime<Utc>,
) {
    let s = &v.snapshot;
    assert!(!s.report_id.is_empty() && s.report_id.len() <= MAX_ID_LEN);
    assert_eq!(s.report_id, s.report_id.trim());
    assert!(s.scanned_at <= now, "a future scan time was not clamped");
    assert_eq!(s.received_at, now);
    assert!(sent <= limits.max_certificates_per_report);

    // Every sent certificate is either accepted (possibly merged with a duplicate) or named.
    assert_eq!(s.certificates.len(), s.holdings.len());
    assert!(s.certificates.len() + v.rejected.len() <= sent);
    if s.certificates.is_empty() {
        assert_eq!(v.rejected.len(), sent);
    }
    assert_eq!(s.rejected_count as usize, v.rejected.len());
    for pair in v.rejected.windows(2) {
        assert!(pair[0].index < pair[1].index, "rejections out of order");
    }
    for r in &v.rejected {
        assert!((r.index as usize) < sent);
        assert!(
            !r.reason.is_empty() && r.reason.len() <= MAX_REASON_LEN,
            "{:?}",
            r.reason
        );
    }

    // Certificates are keyed by the SHA-256 of the DER the collector re-parsed.
    let mut total_locations = 0;
    for (cert, holding) in s.certificates.iter().zip(&s.holdings) {
        assert_eq!(cert.sha256, hex::encode(Sha256::digest(&cert.der)));
        assert_eq!(cert.sha256, holding.sha256);
        assert!(holding.friendly_name.len() <= MAX_NAME_LEN * 2);
        total_locations += holding.locations.len();
        // Duplicates merge their locations, but never past the per-certificate limit.
        assert!(holding.locations.len() <= MAX_LOCATIONS_PER_CERT);
        for pair in holding.locations.windows(2) {
            assert!(pair[0] < pair[1], "locations not sorted and deduplicated");
        }
        for l in &holding.locations {
            assert!(
                [
                    "profile_file",
                    "registry",
                    "cryptoapi",
                    "file",
                    "unspecified"
                ]
                .contains(&l.source.as_str())
            );
            assert!(l.path.len() <= MAX_PATH_LEN);
            assert!(l.store.len() <= MAX_NAME_LEN && l.user.len() <= MAX_NAME_LEN);
        }
    }
    // A holding may merge the locations of duplicates, but never more than were sent, and no
    // certificate alone brought more than the per-certificate limit.
    assert!(total_locations <= sent_locations);
    assert!(total_locations <= sent * MAX_LOCATIONS_PER_CERT);
    for pair in s.holdings.windows(2) {
        assert!(
            pair[0].sha256 < pair[1].sha256,
            "duplicate certificates were not merged"
        );
    }

    // Scan errors are diagnostics: bounded in number and size, plus one note when dropped.
    assert!(s.scan_errors.len() <= MAX_SCAN_ERRORS + 1);
    for e in &s.scan_errors {
        assert!(e.path.len() <= MAX_PATH_LEN && e.message.len() <= 1024);
    }

    // The digest is what decides "unchanged snapshot"; it must be the canonical one.
    assert_eq!(s.holdings_digest, digest_holdings(&s.holdings));
    assert_eq!(s.holdings_digest.len(), 64);
}
