//! certfleet's report engine: builds every report of SPEC §5 from store fetches and the pure
//! rules in [`semantics`], and writes them (JSON, CSV, tables, Prometheus gauges). The CLI,
//! the HTTP API, the metrics, the alerts and the dashboard all call these functions, so a
//! report means the same thing wherever it is read.
#![forbid(unsafe_code)]

pub mod coverage;
pub mod format;
pub mod json;
pub mod metrics;
pub mod params;
pub mod semantics;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use certfleet_model::{
    CertificateRef, ExpiringQuery, ExpiringReport, HoldingView, LocationView, OfficeEntry,
    OfficeOnTerminal, OfficeRow, OfficeTracking, OfficesReport, Overview, PairRow, PairStatus,
    StaleReport, StaleRow, SupersededCert, TerminalDetail, TerminalOfOffice, TerminalRef,
    TerminalRow, TerminalsReport, TimelineBucket, TrackingState, TrackingView,
};
use chrono::{DateTime, Duration, Utc};

use certfleet_config::ReportSettings;
use certfleet_store::reports::{
    PairExpiry, PairFilter, PairHolding, PairReportRow, PairRowFilter, TerminalActivity,
    TerminalFilter, TerminalInfo,
};
use certfleet_store::tracking::{StoredState, TrackingEntry, TrackingFilter};
use certfleet_store::{Store, StoreError, TerminalId};

pub use params::{Report, ReportKind, ReportParams, parse_as_of};

/// Months in the overview timeline.
pub const TIMELINE_MONTHS: usize = 36;

/// Why a report could not be built. HTTP maps these in one place (the collector's `http`).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A caller-supplied parameter is invalid; `parameter` names it (`within`, `as_of`…).
    #[error("invalid {parameter}: {message}")]
    InvalidParameter {
        parameter: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportError {
    pub fn invalid(parameter: &'static str, message: impl Into<String>) -> Self {
        ReportError::InvalidParameter {
            parameter,
            message: message.into(),
        }
    }
}

/// The effective holding of each (terminal, office) pair among live holdings: the rule
/// applied in Rust, for pages that read one terminal's holdings anyway.
fn effective_holdings(mut holdings: Vec<PairHolding>) -> Vec<PairHolding> {
    holdings.sort_unstable_by(|a, b| {
        (a.terminal_id, &a.office_number).cmp(&(b.terminal_id, &b.office_number))
    });
    let mut effective = Vec::new();
    let mut rest = holdings.into_iter().peekable();
    let mut group: Vec<PairHolding> = Vec::new();
    while let Some(h) = rest.next() {
        let ends = rest
            .peek()
            .is_none_or(|n| n.terminal_id != h.terminal_id || n.office_number != h.office_number);
        group.push(h);
        if ends {
            let idx = semantics::effective_index(&group, |h| semantics::CertKey {
                not_before: h.not_before,
                not_after: h.not_after,
                has_private_key: h.has_private_key,
                sha256: &h.sha256,
            })
            .expect("group is not empty");
            effective.push(group.swap_remove(idx));
            group.clear();
        }
    }
    effective
}

fn terminal_ref(t: &TerminalInfo) -> TerminalRef {
    TerminalRef {
        id: t.id,
        hostname: t.hostname.clone(),
        machine_id: t.machine_id.clone(),
    }
}

fn within_checked(within_days: u32) -> Result<u32, ReportError> {
    if within_days > 3650 {
        return Err(ReportError::invalid("within", "must be at most 3650 days"));
    }
    Ok(within_days)
}

/// `report expiring`: one row per (terminal, office) pair whose effective certificate is
/// expired or expiring (every pair with `include_ok`), most urgent first.
///
/// One store call: `pair_expiry` keeps each pair's effective certificate, superseded holdings
/// and terminal names (migrations 0006 and 0007, checked against
/// [`semantics::effective_index`] by the conformance test), so only the fields that depend on
/// `as_of` are computed here.
#[tracing::instrument(skip(store, s), err)]
pub async fn expiring(
    store: &dyn Store,
    q: &ExpiringQuery,
    s: &ReportSettings,
) -> Result<ExpiringReport, ReportError> {
    let within = within_checked(q.within_days)?;
    let cutoff = q.as_of + Duration::days(i64::from(within));
    let today = semantics::local_date(q.as_of, s.time_zone);
    let mut rows: Vec<PairRow> = Vec::new();
    // Rows are built while the database is still sending (the conversion overlaps the
    // reads); the terminals' activity arrives with the last row and completes them. The
    // tracking entries (a small table: the pairs someone acted on) are read at the same time.
    let row_filter = PairRowFilter {
        // Without include_ok only pairs ending by the cutoff can produce a row; the
        // database finds them through the not_after index.
        not_after_max: (!q.include_ok).then_some(cutoff),
        offices: q.offices.clone(),
        hostnames: q.terminals.clone(),
    };
    let tracking_filter = TrackingFilter {
        terminal_ids: Vec::new(),
        offices: q.offices.clone(),
    };
    let mut each = |p| rows.push(pair_row(p, q.as_of, today, within, s));
    let (activity, tracking) = tokio::join!(
        store.pair_report_rows(&row_filter, &mut each),
        store.tracking_entries(&tracking_filter)
    );
    let activity: HashMap<TerminalId, TerminalActivity> =
        activity?.into_iter().map(|a| (a.id, a)).collect();
    let tracking = tracking_index(tracking?);
    rows.retain_mut(|r| {
        let Some(a) = activity.get(&r.terminal.id) else {
            return false;
        };
        let entry = tracking.get(r.terminal.id, &r.office_number);
        apply_tracking(r, entry, today, s);
        if !state_selected(&q.states, r.tracking.state) {
            return false;
        }
        r.last_report_at = a.last_report_at;
        r.stale = semantics::is_stale(a.last_report_at, q.as_of, s.stale_after_days);
        // At least this pair's office, even if the count raced a concurrent change.
        r.terminal_office_count = a.office_count.max(1);
        true
    });
    Ok(ExpiringReport {
        as_of: q.as_of,
        within_days: within,
        rows: in_urgency_order(rows),
    })
}

/// Tracking entries by (terminal, office), for joining onto report rows.
pub(crate) fn tracking_index(entries: Vec<TrackingEntry>) -> TrackingIndex {
    let mut index = TrackingIndex::default();
    for e in entries {
        index
            .0
            .entry(e.terminal_id)
            .or_default()
            .insert(e.office_number.clone(), e);
    }
    index
}

/// Tracking entries by terminal, then office.
#[derive(Debug, Default)]
pub(crate) struct TrackingIndex(HashMap<TerminalId, HashMap<String, TrackingEntry>>);

impl TrackingIndex {
    pub(crate) fn get(&self, terminal: TerminalId, office: &str) -> Option<&TrackingEntry> {
        self.0.get(&terminal).and_then(|m| m.get(office))
    }
}

/// Whether a row in `state` belongs to a report filtered on `states` (empty: every state but
/// retired, which has its own list).
pub fn state_selected(states: &[TrackingState], state: TrackingState) -> bool {
    if states.is_empty() {
        state != TrackingState::Retired
    } else {
        states.contains(&state)
    }
}

/// Sets a row's tracking view from its entry, and moves `renew_by` earlier for a password
/// reissue.
fn apply_tracking(
    r: &mut PairRow,
    entry: Option<&TrackingEntry>,
    today: chrono::NaiveDate,
    s: &ReportSettings,
) {
    let Some(entry) = entry else {
        return;
    };
    r.tracking = semantics::tracking_view(
        Some(entry),
        r.not_after,
        r.status,
        today,
        s.time_zone,
        &s.tracking,
    );
    let reissue = entry.state == StoredState::Reissue;
    if reissue {
        r.renew_by = semantics::tracked_renew_by(
            r.not_after,
            s.lead_days,
            r.tracking.state,
            reissue,
            &s.tracking,
            s.time_zone,
        );
        r.renew_now = semantics::renew_now_on(r.renew_by, today);
    }
}

/// `rows` sorted by [`semantics::urgency_cmp`]. The indices are sorted, not the rows: a row is
/// a few hundred bytes, and a sort moves each element about log₂ n times (20k rows: 100 MB of
/// copying). Unstable is enough: (terminal, office) is unique, so no two rows compare equal.
fn in_urgency_order(rows: Vec<PairRow>) -> Vec<PairRow> {
    fn key(r: &PairRow) -> (DateTime<Utc>, &str, &str, i64) {
        (
            r.not_after,
            &r.office_number,
            &r.terminal.hostname,
            r.terminal.id,
        )
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_unstable_by(|&a, &b| semantics::urgency_cmp(key(&rows[a]), key(&rows[b])));
    let mut slots: Vec<Option<PairRow>> = rows.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| slots[i].take().expect("every index appears once"))
        .collect()
}

/// A stored pair as a report row: the status and dates at `as_of` (local date `today`). The
/// terminal's activity (`last_report_at`, `stale`, `terminal_office_count`) is filled in by
/// the caller once it has been read.
fn pair_row(
    p: PairReportRow,
    as_of: DateTime<Utc>,
    today: chrono::NaiveDate,
    within_days: u32,
    s: &ReportSettings,
) -> PairRow {
    let tz = s.time_zone;
    let renew_by = semantics::renew_by(p.not_after, s.lead_days, tz);
    PairRow {
        office_name: p.office_name,
        terminal: TerminalRef {
            id: p.terminal_id,
            hostname: p.hostname,
            machine_id: p.machine_id,
        },
        status: semantics::status(p.not_after, as_of, within_days),
        not_after: p.not_after,
        days_left: semantics::days_left_on(p.not_after, today, tz),
        renew_by,
        renew_now: semantics::renew_now_on(renew_by, today),
        first_blocked_billing_month: semantics::first_blocked_billing_month(
            p.not_after,
            s.billing_window_end_day,
            tz,
        ),
        superseded: p
            .superseded
            .into_iter()
            .map(|(sha256, not_after)| SupersededCert { sha256, not_after })
            .collect(),
        terminal_office_count: 0,
        has_private_key: p.has_private_key,
        stale: false,
        last_report_at: None,
        certificate: CertificateRef {
            sha256: p.sha256,
            serial: p.serial,
            subject: p.subject,
            issuer: p.issuer,
        },
        office_number: p.office_number,
        tracking: TrackingView::not_started(),
    }
}

/// The fleet as stored: every non-revoked terminal, the effective expiry of each of its
/// pairs and the registry. Independent of `as_of` and the window, so one load can serve
/// several views (the dashboard reuses one for a few seconds).
#[derive(Debug, Default)]
pub struct FleetData {
    terminals: Vec<TerminalInfo>,
    /// Sorted by terminal id, then office number. One narrow row per pair on purpose: a
    /// 300k-holding fleet has 260k of them in memory at once.
    pairs: Vec<PairExpiry>,
    registry: Vec<OfficeEntry>,
    /// Renewal-tracking entries (issue 17 §1), for the state of each pair.
    tracking: TrackingIndex,
}

impl FleetData {
    /// Loads the effective expiry of every live pair, every terminal and the registry
    /// (only `terminal_ids` when not empty).
    #[tracing::instrument(skip(store), err)]
    pub async fn load(
        store: &dyn Store,
        terminal_ids: Vec<TerminalId>,
    ) -> Result<FleetData, ReportError> {
        // Three independent reads on separate pool connections: the database works on them
        // side by side. (Not one snapshot: a report between them can make a terminal's pairs
        // and its row disagree, which `Fleet::pairs` tolerates by skipping unknown terminals.)
        let terminal_filter = TerminalFilter {
            ids: terminal_ids.clone(),
            ..TerminalFilter::default()
        };
        let tracking_filter = TrackingFilter {
            terminal_ids: terminal_ids.clone(),
            offices: Vec::new(),
        };
        let (pairs, terminals, registry, tracking) = tokio::try_join!(
            store.pair_expiries(&terminal_ids, &[]),
            store.report_terminals(&terminal_filter),
            store.list_offices(),
            store.tracking_entries(&tracking_filter),
        )?;
        let mut data = FleetData::new(terminals, pairs, registry);
        data.tracking = tracking_index(tracking);
        Ok(data)
    }

    /// Keeps the pairs sorted by terminal id then office number, which [`Fleet`] relies on.
    fn new(
        terminals: Vec<TerminalInfo>,
        mut pairs: Vec<PairExpiry>,
        registry: Vec<OfficeEntry>,
    ) -> FleetData {
        let order = |a: &PairExpiry, b: &PairExpiry| {
            (a.terminal_id, &a.office_number).cmp(&(b.terminal_id, &b.office_number))
        };
        // The store sorts already; its collation may order office numbers differently, though.
        if !pairs.is_sorted_by(|a, b| order(a, b).is_le()) {
            pairs.sort_by(order);
        }
        FleetData {
            terminals,
            pairs,
            registry,
            tracking: TrackingIndex::default(),
        }
    }

    /// Non-revoked terminals loaded.
    pub fn terminal_count(&self) -> usize {
        self.terminals.len()
    }
}

/// [`FleetData`] seen at `as_of` with a window: what the fleet-wide reports, the overview
/// and the metrics are computed from. Statuses are derived on the fly from the stored
/// expiries, so building a view is free.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub as_of: DateTime<Utc>,
    pub within_days: u32,
    data: Arc<FleetData>,
}

/// A pair as the fleet-wide views see it.
#[derive(Debug, Clone, Copy)]
pub struct FleetPair<'a> {
    pub terminal: &'a TerminalInfo,
    pub office_number: &'a str,
    pub not_after: DateTime<Utc>,
    pub status: PairStatus,
}

impl Fleet {
    /// Loads the fleet and views it at `as_of` with a window of `within_days`.
    pub async fn load(
        store: &dyn Store,
        as_of: DateTime<Utc>,
        within_days: u32,
        terminal_ids: Vec<TerminalId>,
    ) -> Result<Fleet, ReportError> {
        let within = within_checked(within_days)?;
        let data = FleetData::load(store, terminal_ids).await?;
        Fleet::view(Arc::new(data), as_of, within)
    }

    /// Views already loaded data at `as_of` with a window of `within_days`.
    pub fn view(
        data: Arc<FleetData>,
        as_of: DateTime<Utc>,
        within_days: u32,
    ) -> Result<Fleet, ReportError> {
        Ok(Fleet {
            as_of,
            within_days: within_checked(within_days)?,
            data,
        })
    }

    fn status(&self, not_after: DateTime<Utc>) -> PairStatus {
        semantics::status(not_after, self.as_of, self.within_days)
    }

    /// The renewal-tracking view of a pair at `as_of`.
    pub fn tracking(&self, p: &FleetPair<'_>, s: &ReportSettings) -> TrackingView {
        let entry = self.data.tracking.get(p.terminal.id, p.office_number);
        if entry.is_none() {
            return TrackingView::not_started();
        }
        semantics::tracking_view(
            entry,
            p.not_after,
            p.status,
            semantics::local_date(self.as_of, s.time_zone),
            s.time_zone,
            &s.tracking,
        )
    }

    /// Pairs by tracking state (every state listed, zeros included), for `/metrics`.
    pub fn tracking_counts(&self, s: &ReportSettings) -> Vec<(TrackingState, u32)> {
        let mut counts: BTreeMap<TrackingState, u32> =
            TrackingState::ALL.into_iter().map(|st| (st, 0)).collect();
        for p in self.pairs() {
            *counts.entry(self.tracking(&p, s).state).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    /// Every evaluated pair whose terminal is known, with its terminal.
    pub fn pairs(&self) -> impl Iterator<Item = FleetPair<'_>> {
        let by_id: HashMap<TerminalId, &TerminalInfo> =
            self.data.terminals.iter().map(|t| (t.id, t)).collect();
        self.data.pairs.iter().filter_map(move |p| {
            by_id.get(&p.terminal_id).map(|t| FleetPair {
                terminal: t,
                office_number: &p.office_number,
                not_after: p.not_after,
                status: self.status(p.not_after),
            })
        })
    }

    pub fn terminals(&self) -> &[TerminalInfo] {
        &self.data.terminals
    }

    /// The pairs of one terminal: a range of the pairs, which are sorted by terminal id (no
    /// per-terminal index to build: at 100k terminals that map alone was ~7 MB).
    fn pairs_of(&self, terminal: TerminalId) -> &[PairExpiry] {
        let pairs = &self.data.pairs;
        let start = pairs.partition_point(|p| p.terminal_id < terminal);
        let end = start + pairs[start..].partition_point(|p| p.terminal_id == terminal);
        &pairs[start..end]
    }

    fn names(&self) -> HashMap<&str, &OfficeEntry> {
        self.data
            .registry
            .iter()
            .map(|e| (e.office_number.as_str(), e))
            .collect()
    }

    /// One [`TerminalRow`] per terminal, ordered by hostname then id.
    pub fn terminal_rows(&self, s: &ReportSettings) -> Vec<TerminalRow> {
        self.terminal_rows_iter(s).collect()
    }

    /// [`Fleet::terminal_rows`], built one at a time as the caller consumes them.
    pub fn terminal_rows_iter<'a>(
        &'a self,
        s: &'a ReportSettings,
    ) -> impl Iterator<Item = TerminalRow> + 'a {
        let names = self.names();
        self.data
            .terminals
            .iter()
            .map(move |t| terminal_row(t, self.pairs_of(t.id), &names, self, s))
    }

    /// One [`OfficeRow`] per office held anywhere or in the registry, by office number.
    pub fn office_rows(&self, s: &ReportSettings) -> Vec<OfficeRow> {
        self.office_rows_iter(s).collect()
    }

    /// [`Fleet::office_rows`], built one at a time as the caller consumes them; only the
    /// grouping (an index per pair) exists up front.
    pub fn office_rows_iter<'a>(
        &'a self,
        s: &'a ReportSettings,
    ) -> impl Iterator<Item = OfficeRow> + 'a {
        let names = self.names();
        self.office_groups()
            .into_iter()
            .map(move |(office, pairs)| self.office_row(office, pairs, &names, s))
    }

    /// Rows `offset..offset + limit` of [`Fleet::office_rows`] (only uncovered offices when
    /// `uncovered_only`) and how many such rows there are; rows outside the window are
    /// counted, not built (a dashboard page shows a few hundred of 30,000).
    pub fn office_rows_page(
        &self,
        s: &ReportSettings,
        uncovered_only: bool,
        offset: usize,
        limit: usize,
    ) -> (Vec<OfficeRow>, usize) {
        let names = self.names();
        let matching = self.office_groups().into_iter().filter(|(office, pairs)| {
            !uncovered_only || is_uncovered(names.contains_key(office), pairs)
        });
        let (page, total) = window(matching, offset, limit);
        let rows = page
            .into_iter()
            .map(|(office, pairs)| self.office_row(office, pairs, &names, s))
            .collect();
        (rows, total)
    }

    /// Rows `offset..offset + limit` of [`Fleet::terminal_rows`] restricted to terminals
    /// holding at least `min_offices` offices, and how many such rows there are.
    pub fn terminal_rows_page(
        &self,
        s: &ReportSettings,
        min_offices: usize,
        offset: usize,
        limit: usize,
    ) -> (Vec<TerminalRow>, usize) {
        let names = self.names();
        let matching = (self.data.terminals.iter())
            .map(|t| (t, self.pairs_of(t.id)))
            .filter(|(_, pairs)| pairs.len() >= min_offices);
        let (page, total) = window(matching, offset, limit);
        let rows = page
            .into_iter()
            .map(|(t, pairs)| terminal_row(t, pairs, &names, self, s))
            .collect();
        (rows, total)
    }

    /// Every office held anywhere or in the registry with its pairs, by office number.
    fn office_groups(&self) -> BTreeMap<&str, Vec<FleetPair<'_>>> {
        let mut offices: BTreeMap<&str, Vec<FleetPair<'_>>> = BTreeMap::new();
        for e in &self.data.registry {
            offices.entry(&e.office_number).or_default();
        }
        for fp in self.pairs() {
            offices.entry(fp.office_number).or_default().push(fp);
        }
        offices
    }

    fn office_row(
        &self,
        office: &str,
        pairs: Vec<FleetPair<'_>>,
        names: &HashMap<&str, &OfficeEntry>,
        s: &ReportSettings,
    ) -> OfficeRow {
        let tz = s.time_zone;
        let entry = names.get(office);
        let uncovered = is_uncovered(entry.is_some(), &pairs);
        let mut terminals: Vec<TerminalOfOffice> = pairs
            .into_iter()
            .map(|fp| TerminalOfOffice {
                terminal: terminal_ref(fp.terminal),
                status: fp.status,
                not_after: fp.not_after,
                days_left: semantics::days_left(fp.not_after, self.as_of, tz),
                stale: semantics::is_stale(
                    fp.terminal.last_report_at,
                    self.as_of,
                    s.stale_after_days,
                ),
            })
            .collect();
        terminals.sort_by(|a, b| {
            (a.not_after, &a.terminal.hostname, a.terminal.id).cmp(&(
                b.not_after,
                &b.terminal.hostname,
                b.terminal.id,
            ))
        });
        OfficeRow {
            office_number: office.to_owned(),
            office_name: entry.map(|e| e.name.clone()),
            site: entry.map(|e| e.site.clone()),
            owner_email: entry.map(|e| e.owner_email.clone()),
            soonest_not_after: terminals.first().map(|t| t.not_after),
            terminals,
            uncovered,
            expected_pcs: entry.and_then(|e| e.expected_pcs),
        }
    }

    /// Fleet-wide counts and the timeline.
    pub fn overview(&self, s: &ReportSettings) -> Overview {
        let tz = s.time_zone;
        let months = semantics::months_from(self.as_of, tz, TIMELINE_MONTHS);
        // Computed once: 260k pairs each asking for today's local date (and formatting a month
        // label to look it up) made the overview a three-digit-millisecond page.
        let today = semantics::local_date(self.as_of, tz);
        let mut timeline: Vec<TimelineBucket> = months
            .iter()
            .map(|m| TimelineBucket {
                month: m.clone(),
                expired: 0,
                expiring: 0,
                ok: 0,
            })
            .collect();
        let (mut expired, mut expiring, mut ok, mut renew_now) = (0u32, 0u32, 0u32, 0u32);
        for fp in self.pairs() {
            let bucket = match fp.status {
                PairStatus::Expired => {
                    expired += 1;
                    Some(0)
                }
                status => {
                    if status == PairStatus::Expiring {
                        expiring += 1;
                    } else {
                        ok += 1;
                    }
                    let rb = semantics::renew_by(fp.not_after, s.lead_days, tz);
                    if semantics::renew_now_on(rb, today) {
                        renew_now += 1;
                    }
                    usize::try_from(semantics::months_between(today, fp.not_after, tz))
                        .ok()
                        .filter(|&i| i < TIMELINE_MONTHS)
                }
            };
            if let Some(b) = bucket {
                let slot = &mut timeline[b];
                match fp.status {
                    PairStatus::Expired => slot.expired += 1,
                    PairStatus::Expiring => slot.expiring += 1,
                    PairStatus::Ok => slot.ok += 1,
                }
            }
        }
        let stale_terminals = self
            .data
            .terminals
            .iter()
            .filter(|t| semantics::is_stale(t.last_report_at, self.as_of, s.stale_after_days))
            .count();
        // Counted directly: building every OfficeRow (with a terminal reference per pair) only
        // to count them costs tens of MB on a 300k-pair fleet.
        let mut offices: HashMap<&str, bool> = self
            .data
            .registry
            .iter()
            .map(|e| (e.office_number.as_str(), false))
            .collect();
        for p in &self.data.pairs {
            let covered = offices.entry(p.office_number.as_str()).or_default();
            *covered |= self.status(p.not_after) != PairStatus::Expired;
        }
        let uncovered = self
            .data
            .registry
            .iter()
            .filter(|e| offices.get(e.office_number.as_str()) == Some(&false))
            .count();
        Overview {
            as_of: self.as_of,
            within_days: self.within_days,
            expired,
            renew_now,
            expiring,
            ok,
            terminals: count_u32(self.data.terminals.len()),
            stale_terminals: count_u32(stale_terminals),
            offices: count_u32(offices.len()),
            uncovered_offices: count_u32(uncovered),
            timeline,
        }
    }
}

/// Items `offset..offset + limit` of `items` and how many there are: the page is built from
/// the (cheap) items of the window only, the rest are just counted.
fn window<T>(items: impl Iterator<Item = T>, offset: usize, limit: usize) -> (Vec<T>, usize) {
    let mut page = Vec::new();
    let mut total = 0;
    for item in items {
        if total >= offset && page.len() < limit {
            page.push(item);
        }
        total += 1;
    }
    (page, total)
}

/// SPEC §5: a registry office is uncovered when no terminal holds a non-expired certificate
/// for it; offices outside the registry never are.
fn is_uncovered(in_registry: bool, pairs: &[FleetPair<'_>]) -> bool {
    in_registry && pairs.iter().all(|p| p.status == PairStatus::Expired)
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn terminal_row(
    t: &TerminalInfo,
    pairs: &[PairExpiry],
    names: &HashMap<&str, &OfficeEntry>,
    fleet: &Fleet,
    s: &ReportSettings,
) -> TerminalRow {
    let tz = s.time_zone;
    let as_of = fleet.as_of;
    let mut offices: Vec<OfficeOnTerminal> = pairs
        .iter()
        .map(|p| OfficeOnTerminal {
            office_number: p.office_number.clone(),
            office_name: names.get(p.office_number.as_str()).map(|e| e.name.clone()),
            status: fleet.status(p.not_after),
            not_after: p.not_after,
            days_left: semantics::days_left(p.not_after, as_of, tz),
        })
        .collect();
    offices.sort_by(|a, b| a.office_number.cmp(&b.office_number));
    TerminalRow {
        terminal: terminal_ref(t),
        os_name: t.os_name.clone(),
        os_version: t.os_version.clone(),
        agent_version: t.agent_version.clone(),
        last_report_at: t.last_report_at,
        stale: semantics::is_stale(t.last_report_at, as_of, s.stale_after_days),
        soonest_not_after: offices.iter().map(|o| o.not_after).min(),
        offices,
    }
}

/// Which fleet-wide report a [`FleetReport`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetView {
    /// [`TerminalsReport`]: every terminal.
    Terminals,
    /// [`TerminalsReport`] of the terminals holding two or more offices.
    MultiOffice,
    /// [`OfficesReport`].
    Offices,
}

/// A fleet-wide report whose rows are built while it is written: at 100k terminals the
/// finished rows alone would take ≈ 60 MB, the fleet they come from a third of that. It
/// serializes exactly like the [`TerminalsReport`] / [`OfficesReport`] it stands for.
#[derive(Debug)]
pub struct FleetReport {
    fleet: Fleet,
    settings: ReportSettings,
    view: FleetView,
}

impl FleetReport {
    /// Loads the fleet for `view`.
    pub async fn load(
        store: &dyn Store,
        view: FleetView,
        as_of: DateTime<Utc>,
        within_days: u32,
        s: &ReportSettings,
    ) -> Result<FleetReport, ReportError> {
        Ok(FleetReport {
            fleet: Fleet::load(store, as_of, within_days, Vec::new()).await?,
            settings: s.clone(),
            view,
        })
    }

    pub fn view(&self) -> FleetView {
        self.view
    }

    pub fn as_of(&self) -> DateTime<Utc> {
        self.fleet.as_of
    }

    /// The rows of a `Terminals` or `MultiOffice` view.
    pub fn terminal_rows(&self) -> impl Iterator<Item = TerminalRow> + '_ {
        let min_offices = if self.view == FleetView::MultiOffice {
            2
        } else {
            0
        };
        self.fleet
            .terminal_rows_iter(&self.settings)
            .filter(move |r| r.offices.len() >= min_offices)
    }

    /// The rows of an `Offices` view.
    pub fn office_rows(&self) -> impl Iterator<Item = OfficeRow> + '_ {
        self.fleet.office_rows_iter(&self.settings)
    }
}

/// Serializes the rows of an iterator as a JSON array while they are produced.
struct SerializeRows<I>(std::cell::RefCell<Option<I>>);

impl<I> serde::Serialize for SerializeRows<I>
where
    I: Iterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rows = self.0.borrow_mut().take();
        serializer.collect_seq(rows.into_iter().flatten())
    }
}

impl serde::Serialize for FleetReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        // Field for field what `#[derive(Serialize)]` writes for the model reports.
        let name = match self.view {
            FleetView::Offices => "OfficesReport",
            _ => "TerminalsReport",
        };
        let mut st = serializer.serialize_struct(name, 3)?;
        st.serialize_field("as_of", &self.fleet.as_of)?;
        st.serialize_field("within_days", &self.fleet.within_days)?;
        match self.view {
            FleetView::Offices => st.serialize_field(
                "rows",
                &SerializeRows(std::cell::RefCell::new(Some(self.office_rows()))),
            )?,
            _ => st.serialize_field(
                "rows",
                &SerializeRows(std::cell::RefCell::new(Some(self.terminal_rows()))),
            )?,
        }
        st.end()
    }
}

/// `report terminals`: every non-revoked terminal with its offices and soonest expiry.
#[tracing::instrument(skip(store, s), err)]
pub async fn terminals(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<TerminalsReport, ReportError> {
    let fleet = Fleet::load(store, as_of, within_days, Vec::new()).await?;
    Ok(TerminalsReport {
        as_of,
        within_days: fleet.within_days,
        rows: fleet.terminal_rows(s),
    })
}

/// `report multi-office`: terminals holding certificates of two or more offices.
#[tracing::instrument(skip(store, s), err)]
pub async fn multi_office(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<TerminalsReport, ReportError> {
    let mut report = terminals(store, as_of, within_days, s).await?;
    report.rows.retain(|r| r.offices.len() >= 2);
    Ok(report)
}

/// `report offices`: every office (held anywhere or in the registry) with its terminals.
#[tracing::instrument(skip(store, s), err)]
pub async fn offices(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<OfficesReport, ReportError> {
    let fleet = Fleet::load(store, as_of, within_days, Vec::new()).await?;
    Ok(OfficesReport {
        as_of,
        within_days: fleet.within_days,
        rows: fleet.office_rows(s),
    })
}

/// One office's row without loading the whole fleet (dashboard office page).
#[tracing::instrument(skip(store, s), err)]
pub async fn office(
    store: &dyn Store,
    office_number: &str,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<Option<OfficeRow>, ReportError> {
    let within = within_checked(within_days)?;
    let pairs = store
        .pair_expiries(&[], &[office_number.to_owned()])
        .await?;
    let mut ids: Vec<TerminalId> = pairs.iter().map(|p| p.terminal_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let terminals = if ids.is_empty() {
        Vec::new()
    } else {
        store
            .report_terminals(&TerminalFilter {
                ids,
                ..TerminalFilter::default()
            })
            .await?
    };
    let registry: Vec<OfficeEntry> = store
        .list_offices()
        .await?
        .into_iter()
        .filter(|e| e.office_number == office_number)
        .collect();
    let data = FleetData::new(terminals, pairs, registry);
    let fleet = Fleet::view(Arc::new(data), as_of, within)?;
    Ok(fleet
        .office_rows(s)
        .into_iter()
        .find(|r| r.office_number == office_number))
}

/// Fleet-wide counts and the 36-month timeline (dashboard overview, Prometheus gauges).
#[tracing::instrument(skip(store, s), err)]
pub async fn overview(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<Overview, ReportError> {
    let fleet = Fleet::load(store, as_of, within_days, Vec::new()).await?;
    Ok(fleet.overview(s))
}

/// `report stale --older-than DAYS`: terminals that never reported or not for that long.
#[tracing::instrument(skip(store, s), err)]
pub async fn stale(
    store: &dyn Store,
    as_of: DateTime<Utc>,
    older_than_days: u32,
    s: &ReportSettings,
) -> Result<StaleReport, ReportError> {
    if older_than_days > 36500 {
        return Err(ReportError::invalid(
            "older_than",
            "must be at most 36500 days",
        ));
    }
    let terminals = store
        .report_terminals(&TerminalFilter {
            not_reported_since: Some(semantics::stale_cutoff(as_of, older_than_days)),
            ..TerminalFilter::default()
        })
        .await?;
    let mut rows: Vec<StaleRow> = terminals
        .iter()
        .map(|t| StaleRow {
            terminal: terminal_ref(t),
            last_report_at: t.last_report_at,
            days_since_report: t
                .last_report_at
                .map(|last| semantics::days_left(as_of, last, s.time_zone)),
            office_count: t.office_count,
        })
        .collect();
    // Never reported first, then the longest silent.
    rows.sort_by(|a, b| {
        (a.last_report_at, &a.terminal.hostname, a.terminal.id).cmp(&(
            b.last_report_at,
            &b.terminal.hostname,
            b.terminal.id,
        ))
    });
    Ok(StaleReport {
        as_of,
        older_than_days,
        rows,
    })
}

/// The terminal page: the terminal's row and every live certificate it holds, office
/// certificates marked effective or superseded. `None` for an unknown or revoked terminal.
#[tracing::instrument(skip(store, s), err)]
pub async fn terminal_detail(
    store: &dyn Store,
    id: TerminalId,
    as_of: DateTime<Utc>,
    within_days: u32,
    s: &ReportSettings,
) -> Result<Option<TerminalDetail>, ReportError> {
    let within = within_checked(within_days)?;
    let holdings = store
        .office_holdings(&PairFilter {
            terminal_ids: vec![id],
            ..PairFilter::default()
        })
        .await?;
    let terminals = store
        .report_terminals(&TerminalFilter {
            ids: vec![id],
            ..TerminalFilter::default()
        })
        .await?;
    let Some(terminal) = terminals.into_iter().next() else {
        return Ok(None);
    };
    let evaluated = effective_holdings(holdings);
    let effective: std::collections::HashSet<&str> =
        evaluated.iter().map(|h| h.sha256.as_str()).collect();
    let pairs = evaluated
        .iter()
        .map(|h| PairExpiry {
            terminal_id: h.terminal_id,
            office_number: h.office_number.clone(),
            not_after: h.not_after,
        })
        .collect();
    let data = FleetData::new(vec![terminal], pairs, store.list_offices().await?);
    let fleet = Fleet::view(Arc::new(data), as_of, within)?;
    let row = fleet
        .terminal_rows(s)
        .into_iter()
        .next()
        .expect("one terminal");
    let mut views = Vec::new();
    for h in store.holdings(id).await? {
        if h.removed_at.is_some() {
            continue;
        }
        let Some(cert) = store.certificate(&h.sha256).await? else {
            continue;
        };
        views.push(HoldingView {
            effective: cert.office_number.is_some() && effective.contains(cert.sha256.as_str()),
            certificate: CertificateRef {
                sha256: cert.sha256,
                serial: cert.serial,
                subject: cert.subject,
                issuer: cert.issuer,
            },
            office_number: cert.office_number,
            not_before: cert.not_before,
            not_after: cert.not_after,
            has_private_key: h.has_private_key,
            friendly_name: h.friendly_name,
            locations: h
                .locations
                .into_iter()
                .map(|l| LocationView {
                    source: l.source,
                    store: l.store,
                    user: l.user,
                    path: l.path,
                })
                .collect(),
            first_seen: h.first_seen,
            last_seen: h.last_seen,
        });
    }
    views.sort_by(|a, b| {
        (
            &a.office_number,
            std::cmp::Reverse(a.not_after),
            &a.certificate.sha256,
        )
            .cmp(&(
                &b.office_number,
                std::cmp::Reverse(b.not_after),
                &b.certificate.sha256,
            ))
    });
    let entries = tracking_index(
        store
            .tracking_entries(&TrackingFilter {
                terminal_ids: vec![id],
                offices: Vec::new(),
            })
            .await?,
    );
    let today = semantics::local_date(as_of, s.time_zone);
    let tracking = row
        .offices
        .iter()
        .map(|o| OfficeTracking {
            office_number: o.office_number.clone(),
            tracking: semantics::tracking_view(
                entries.get(id, &o.office_number),
                o.not_after,
                o.status,
                today,
                s.time_zone,
                &s.tracking,
            ),
        })
        .collect();
    Ok(Some(TerminalDetail {
        row,
        holdings: views,
        tracking,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_in_urgency_order() {
        use certfleet_model::{CertificateRef, PairStatus};
        let t0: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
        let row = |days: i64, office: &str, hostname: &str, id: i64| PairRow {
            office_number: office.into(),
            office_name: None,
            terminal: TerminalRef {
                id,
                hostname: hostname.into(),
                machine_id: String::new(),
            },
            status: PairStatus::Expiring,
            not_after: t0 + Duration::days(days),
            days_left: days,
            renew_by: t0.date_naive(),
            renew_now: false,
            first_blocked_billing_month: String::new(),
            superseded: Vec::new(),
            terminal_office_count: 1,
            has_private_key: None,
            stale: false,
            last_report_at: None,
            certificate: CertificateRef {
                sha256: String::new(),
                serial: String::new(),
                subject: String::new(),
                issuer: String::new(),
            },
            tracking: TrackingView::not_started(),
        };
        let expected = vec![
            row(-3, "2", "b", 9),
            row(1, "1", "a", 5),
            row(1, "1", "a", 7),
            row(1, "1", "b", 1),
            row(1, "2", "a", 1),
            row(2, "0", "z", 0),
        ];
        let mut shuffled = expected.clone();
        shuffled.reverse();
        shuffled.swap(1, 4);
        assert_eq!(in_urgency_order(shuffled), expected);
    }
}
