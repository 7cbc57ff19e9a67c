//! Renewal tracking per (terminal, office) pair (issue 17 §1): the stored entries, the one
//! rule for which change is allowed from which state ([`next_entry`]), and the one write path
//! ([`TrackingStore::change_tracking`], plus the automatic renewal ingest applies) that records
//! every change in `pair_tracking_history` with who, when, before and after (migration 0020).

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, TerminalId, classify};

/// Who certfleet names in the history when it closes an entry by itself.
pub const SYSTEM_ACTOR: &str = "certfleet";

/// How far back an operator may date a request.
pub const MAX_REQUEST_AGE_DAYS: i64 = 365;

/// The longest hold, so a typo (`2207-01-01`) does not silence a pair for good.
pub const MAX_HOLD_DAYS: i64 = 366;

/// The stored state of a tracked pair. *Stuck* and *not started* are derived, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredState {
    /// The operator made the certsrv request.
    Requested,
    /// Requested, and a password reissue by post was requested as well.
    Reissue,
    /// Nothing is to be done until `hold_until`.
    OnHold,
    /// The PC was decommissioned or the office closed: never alerted again.
    Retired,
    /// A snapshot showed a newer effective certificate; the entry is closed.
    Renewed,
}

impl StoredState {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredState::Requested => "requested",
            StoredState::Reissue => "reissue",
            StoredState::OnHold => "on_hold",
            StoredState::Retired => "retired",
            StoredState::Renewed => "renewed",
        }
    }

    pub fn parse(text: &str) -> Result<StoredState, StoreError> {
        Ok(match text {
            "requested" => StoredState::Requested,
            "reissue" => StoredState::Reissue,
            "on_hold" => StoredState::OnHold,
            "retired" => StoredState::Retired,
            "renewed" => StoredState::Renewed,
            other => {
                return Err(crate::decode_error(
                    "pair_tracking.state",
                    format!("unknown state {other:?}"),
                ));
            }
        })
    }

    /// States a snapshot with a newer certificate closes as renewed.
    pub fn awaits_renewal(self) -> bool {
        matches!(
            self,
            StoredState::Requested | StoredState::Reissue | StoredState::OnHold
        )
    }
}

/// The current tracking entry of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEntry {
    pub terminal_id: TerminalId,
    pub office_number: String,
    pub state: StoredState,
    pub requested_on: Option<NaiveDate>,
    pub hold_until: Option<NaiveDate>,
    pub note: String,
    /// The pair's effective `not_after` when the entry was written; a later one is a renewal.
    pub baseline_not_after: DateTime<Utc>,
    pub renewed_at: Option<DateTime<Utc>>,
    pub renewed_not_after: Option<DateTime<Utc>>,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
}

/// What an operator does to a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingAction {
    /// The certsrv request was made on `on`.
    Requested { on: NaiveDate, note: String },
    /// A password reissue was requested on `on` (also counts as the request).
    Reissue { on: NaiveDate, note: String },
    /// Nothing to do until `until` (exclusive of alerts until then), for `reason`.
    Hold { until: NaiveDate, reason: String },
    /// The PC or the office is gone.
    Retire { note: String },
    /// Forget the entry (the pair is "not started" again).
    Clear { note: String },
}

impl TrackingAction {
    /// The action's name as the CLI, API and history say it.
    pub fn name(&self) -> &'static str {
        match self {
            TrackingAction::Requested { .. } => "requested",
            TrackingAction::Reissue { .. } => "reissue",
            TrackingAction::Hold { .. } => "hold",
            TrackingAction::Retire { .. } => "retire",
            TrackingAction::Clear { .. } => "clear",
        }
    }

    fn note(&self) -> &str {
        match self {
            TrackingAction::Requested { note, .. }
            | TrackingAction::Reissue { note, .. }
            | TrackingAction::Retire { note }
            | TrackingAction::Clear { note } => note,
            TrackingAction::Hold { reason, .. } => reason,
        }
    }
}

/// One operator change, as every front end (CLI, API, dashboard) hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingChange {
    pub terminal_id: TerminalId,
    pub office_number: String,
    pub action: TrackingAction,
    /// The operator (dashboard user, `api-token`, the CLI's `--by`).
    pub who: String,
    pub now: DateTime<Utc>,
    /// `now` as a date in the display time zone (dates are checked against it).
    pub today: NaiveDate,
}

/// Why a change was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingError {
    #[error("terminal {terminal_id} holds no certificate of office {office_number}")]
    UnknownPair {
        terminal_id: TerminalId,
        office_number: String,
    },
    /// A field of the change is unusable; `field` names it (`date`, `until`, `reason`…).
    #[error("invalid {field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The change makes no sense from the current state.
    #[error("cannot apply {action} to a pair that is {current}: {hint}")]
    InvalidTransition {
        action: &'static str,
        current: &'static str,
        hint: &'static str,
    },
}

/// One row of `pair_tracking_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingHistoryRow {
    pub id: i64,
    pub terminal_id: TerminalId,
    pub office_number: String,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
    pub from_state: Option<StoredState>,
    pub to_state: Option<StoredState>,
    pub note: String,
}

/// Which entries [`TrackingStore::tracking_entries`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingFilter {
    /// Only these terminals (empty: all).
    pub terminal_ids: Vec<TerminalId>,
    /// Only these offices (empty: all).
    pub offices: Vec<String>,
}

/// The entry `change` leaves, from the `current` entry and the pair's effective `not_after`
/// (`None`: the pair holds no live certificate now). `Ok(None)` removes the entry. The one
/// rule for which change makes sense from which state.
pub fn next_entry(
    current: Option<&TrackingEntry>,
    pair_not_after: Option<DateTime<Utc>>,
    change: &TrackingChange,
) -> Result<Option<TrackingEntry>, TrackingError> {
    let state = current.map(|e| e.state);
    let current_name = state.map_or("not tracked", |s| s.as_str());
    let refuse = |hint: &'static str| TrackingError::InvalidTransition {
        action: change.action.name(),
        current: current_name,
        hint,
    };
    let Some(baseline) = pair_not_after.or(current.map(|e| e.baseline_not_after)) else {
        return Err(TrackingError::UnknownPair {
            terminal_id: change.terminal_id,
            office_number: change.office_number.clone(),
        });
    };
    let note = change.action.note().trim();
    if note.chars().count() > 500 {
        return Err(TrackingError::InvalidField {
            field: "note",
            message: "is longer than 500 characters".into(),
        });
    }
    let mut entry = TrackingEntry {
        terminal_id: change.terminal_id,
        office_number: change.office_number.clone(),
        state: StoredState::Requested,
        requested_on: None,
        hold_until: None,
        note: note.to_owned(),
        baseline_not_after: baseline,
        renewed_at: None,
        renewed_not_after: None,
        changed_at: change.now,
        changed_by: change.who.clone(),
    };
    let check_request_date = |on: NaiveDate| {
        if on > change.today {
            Err(TrackingError::InvalidField {
                field: "date",
                message: format!("{on} is in the future (today is {})", change.today),
            })
        } else if on < change.today - Duration::days(MAX_REQUEST_AGE_DAYS) {
            Err(TrackingError::InvalidField {
                field: "date",
                message: format!("{on} is more than {MAX_REQUEST_AGE_DAYS} days ago"),
            })
        } else {
            Ok(())
        }
    };
    match &change.action {
        TrackingAction::Requested { on, .. } => {
            match state {
                Some(StoredState::Requested | StoredState::Reissue) => {
                    return Err(refuse("it is already requested; clear it first to re-date"));
                }
                Some(StoredState::Retired) => {
                    return Err(refuse("clear the retirement first"));
                }
                _ => {}
            }
            check_request_date(*on)?;
            entry.requested_on = Some(*on);
        }
        TrackingAction::Reissue { on, .. } => {
            match state {
                Some(StoredState::Reissue) => {
                    return Err(refuse("a password reissue is already requested"));
                }
                Some(StoredState::Retired) => return Err(refuse("clear the retirement first")),
                _ => {}
            }
            check_request_date(*on)?;
            entry.state = StoredState::Reissue;
            // A reissue on top of a request keeps the request's date: the wait started then.
            entry.requested_on = Some(match current {
                Some(e) if e.state == StoredState::Requested => {
                    e.requested_on.map_or(*on, |d| d.min(*on))
                }
                _ => *on,
            });
        }
        TrackingAction::Hold { until, reason } => {
            if state == Some(StoredState::Retired) {
                return Err(refuse("clear the retirement first"));
            }
            if *until <= change.today {
                return Err(TrackingError::InvalidField {
                    field: "until",
                    message: format!(
                        "{until} is not after today ({}); a hold ends in the future",
                        change.today
                    ),
                });
            }
            if *until > change.today + Duration::days(MAX_HOLD_DAYS) {
                return Err(TrackingError::InvalidField {
                    field: "until",
                    message: format!("{until} is more than {MAX_HOLD_DAYS} days ahead"),
                });
            }
            if reason.trim().is_empty() {
                return Err(TrackingError::InvalidField {
                    field: "reason",
                    message: "a hold needs a reason".into(),
                });
            }
            entry.state = StoredState::OnHold;
            entry.hold_until = Some(*until);
            // A request put on hold keeps its date, for when the hold ends.
            entry.requested_on = current.and_then(|e| e.requested_on);
        }
        TrackingAction::Retire { .. } => {
            if state == Some(StoredState::Retired) {
                return Err(refuse("it is already retired"));
            }
            entry.state = StoredState::Retired;
        }
        TrackingAction::Clear { .. } => {
            if current.is_none() {
                return Err(refuse("there is nothing to clear"));
            }
            return Ok(None);
        }
    }
    Ok(Some(entry))
}

/// The entry ingest leaves when a snapshot made `new_not_after` the pair's effective expiry:
/// `Some(renewed entry)` when that is later than the entry's baseline and the entry awaits a
/// renewal.
pub fn renewed_entry(
    current: &TrackingEntry,
    new_not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<TrackingEntry> {
    if !current.state.awaits_renewal() || new_not_after <= current.baseline_not_after {
        return None;
    }
    Some(TrackingEntry {
        state: StoredState::Renewed,
        hold_until: None,
        renewed_at: Some(now),
        renewed_not_after: Some(new_not_after),
        changed_at: now,
        changed_by: SYSTEM_ACTOR.to_owned(),
        ..current.clone()
    })
}

/// Tracking reads and writes, implemented by both stores.
#[async_trait]
pub trait TrackingStore: Send + Sync {
    /// Applies one operator change in one transaction: reads the pair's effective `not_after`
    /// and its entry under lock, decides with [`next_entry`], writes the entry and one history
    /// row. `Err(StoreError::Tracking)` when refused; nothing is written then. Returns the entry
    /// after the change (`None` after `clear`).
    async fn change_tracking(
        &self,
        change: &TrackingChange,
    ) -> Result<Option<TrackingEntry>, StoreError>;

    /// Current entries matching `filter`, ordered by terminal id then office.
    async fn tracking_entries(
        &self,
        filter: &TrackingFilter,
    ) -> Result<Vec<TrackingEntry>, StoreError>;

    /// The history of one pair, oldest first.
    async fn tracking_history(
        &self,
        terminal_id: TerminalId,
        office_number: &str,
    ) -> Result<Vec<TrackingHistoryRow>, StoreError>;
}

fn entry_json(entry: Option<&TrackingEntry>) -> Result<Option<String>, StoreError> {
    entry.map(crate::to_json).transpose()
}

fn history_note<'a>(
    before: Option<&'a TrackingEntry>,
    after: Option<&'a TrackingEntry>,
) -> &'a str {
    after.or(before).map_or("", |e| e.note.as_str())
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

pub(crate) mod pg {
    use sqlx::postgres::PgRow;
    use sqlx::{Postgres, Row, Transaction};

    use super::*;

    const ENTRY_COLUMNS: &str = "terminal_id, office_number, state, requested_on, hold_until, \
         note, baseline_not_after, renewed_at, renewed_not_after, changed_at, changed_by";

    fn entry_from_row(row: &PgRow) -> Result<TrackingEntry, StoreError> {
        let state: String = row.try_get("state").map_err(classify)?;
        Ok(TrackingEntry {
            terminal_id: row.try_get("terminal_id").map_err(classify)?,
            office_number: row.try_get("office_number").map_err(classify)?,
            state: StoredState::parse(&state)?,
            requested_on: row.try_get("requested_on").map_err(classify)?,
            hold_until: row.try_get("hold_until").map_err(classify)?,
            note: row.try_get("note").map_err(classify)?,
            baseline_not_after: row.try_get("baseline_not_after").map_err(classify)?,
            renewed_at: row.try_get("renewed_at").map_err(classify)?,
            renewed_not_after: row.try_get("renewed_not_after").map_err(classify)?,
            changed_at: row.try_get("changed_at").map_err(classify)?,
            changed_by: row.try_get("changed_by").map_err(classify)?,
        })
    }

    /// The one write of a tracking change: the entry (or its removal) and its history row.
    pub(crate) async fn record_change(
        tx: &mut Transaction<'static, Postgres>,
        terminal_id: TerminalId,
        office_number: &str,
        before: Option<&TrackingEntry>,
        after: Option<&TrackingEntry>,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match after {
            Some(e) => {
                sqlx::query(
                    "INSERT INTO pair_tracking (terminal_id, office_number, state, requested_on, \
                     hold_until, note, baseline_not_after, renewed_at, renewed_not_after, \
                     changed_at, changed_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) \
                     ON CONFLICT (terminal_id, office_number) DO UPDATE SET \
                       state = EXCLUDED.state, requested_on = EXCLUDED.requested_on, \
                       hold_until = EXCLUDED.hold_until, note = EXCLUDED.note, \
                       baseline_not_after = EXCLUDED.baseline_not_after, \
                       renewed_at = EXCLUDED.renewed_at, \
                       renewed_not_after = EXCLUDED.renewed_not_after, \
                       changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by",
                )
                .bind(e.terminal_id)
                .bind(&e.office_number)
                .bind(e.state.as_str())
                .bind(e.requested_on)
                .bind(e.hold_until)
                .bind(&e.note)
                .bind(e.baseline_not_after)
                .bind(e.renewed_at)
                .bind(e.renewed_not_after)
                .bind(e.changed_at)
                .bind(&e.changed_by)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM pair_tracking WHERE terminal_id = $1 AND office_number = $2",
                )
                .bind(terminal_id)
                .bind(office_number)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
        }
        sqlx::query(
            "INSERT INTO pair_tracking_history (terminal_id, office_number, changed_at, \
             changed_by, from_state, to_state, note, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)",
        )
        .bind(terminal_id)
        .bind(office_number)
        .bind(now)
        .bind(who)
        .bind(before.map(|e| e.state.as_str()))
        .bind(after.map(|e| e.state.as_str()))
        .bind(history_note(before, after))
        .bind(entry_json(before)?)
        .bind(entry_json(after)?)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Closes as renewed every entry of `terminal` whose pair now ends later than its baseline
    /// (called by ingest inside its transaction, after the holdings changed).
    pub(crate) async fn renew_tracked_pairs(
        tx: &mut Transaction<'static, Postgres>,
        terminal: TerminalId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {cols}, p.not_after AS pair_not_after FROM pair_tracking t \
             JOIN pair_expiry p USING (terminal_id, office_number) \
             WHERE t.terminal_id = $1 AND t.state IN ('requested', 'reissue', 'on_hold') \
               AND p.not_after > t.baseline_not_after \
             ORDER BY t.office_number FOR UPDATE OF t",
            cols = ENTRY_COLUMNS
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(terminal)
        .fetch_all(&mut **tx)
        .await
        .map_err(classify)?;
        for row in rows {
            let current = entry_from_row(&row)?;
            let new_not_after: DateTime<Utc> = row.try_get("pair_not_after").map_err(classify)?;
            if let Some(renewed) = renewed_entry(&current, new_not_after, now) {
                record_change(
                    tx,
                    terminal,
                    &current.office_number,
                    Some(&current),
                    Some(&renewed),
                    SYSTEM_ACTOR,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    #[async_trait]
    impl TrackingStore for PgStore {
        async fn change_tracking(
            &self,
            change: &TrackingChange,
        ) -> Result<Option<TrackingEntry>, StoreError> {
            let mut tx = self.pool().begin().await.map_err(classify)?;
            // The terminal row lock orders this change against a concurrent ingest of the same
            // terminal (which may close the entry as renewed) and other replicas' changes.
            let live: Option<bool> = sqlx::query_scalar(
                "SELECT revoked_at IS NULL FROM terminals WHERE id = $1 FOR UPDATE",
            )
            .bind(change.terminal_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            let unknown = || {
                StoreError::Tracking(TrackingError::UnknownPair {
                    terminal_id: change.terminal_id,
                    office_number: change.office_number.clone(),
                })
            };
            if live != Some(true) {
                return Err(unknown());
            }
            let pair_not_after: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT not_after FROM pair_expiry WHERE terminal_id = $1 AND office_number = $2",
            )
            .bind(change.terminal_id)
            .bind(&change.office_number)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            let current = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM pair_tracking \
                 WHERE terminal_id = $1 AND office_number = $2"
            ))
            .bind(change.terminal_id)
            .bind(&change.office_number)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .map(|row| entry_from_row(&row))
            .transpose()?;
            let next = next_entry(current.as_ref(), pair_not_after, change)
                .map_err(StoreError::Tracking)?;
            record_change(
                &mut tx,
                change.terminal_id,
                &change.office_number,
                current.as_ref(),
                next.as_ref(),
                &change.who,
                change.now,
            )
            .await?;
            tx.commit().await.map_err(classify)?;
            Ok(next)
        }

        async fn tracking_entries(
            &self,
            filter: &TrackingFilter,
        ) -> Result<Vec<TrackingEntry>, StoreError> {
            let rows = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM pair_tracking \
                 WHERE (cardinality($1::bigint[]) = 0 OR terminal_id = ANY($1::bigint[])) \
                   AND (cardinality($2::text[]) = 0 OR office_number = ANY($2::text[])) \
                 ORDER BY terminal_id, office_number"
            ))
            .bind(&filter.terminal_ids)
            .bind(&filter.offices)
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
            rows.iter().map(entry_from_row).collect()
        }

        async fn tracking_history(
            &self,
            terminal_id: TerminalId,
            office_number: &str,
        ) -> Result<Vec<TrackingHistoryRow>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, terminal_id, office_number, changed_at, changed_by, from_state, \
                 to_state, note FROM pair_tracking_history \
                 WHERE terminal_id = $1 AND office_number = $2 ORDER BY id",
            )
            .bind(terminal_id)
            .bind(office_number)
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    let from: Option<String> = row.try_get("from_state").map_err(classify)?;
                    let to: Option<String> = row.try_get("to_state").map_err(classify)?;
                    Ok(TrackingHistoryRow {
                        id: row.try_get("id").map_err(classify)?,
                        terminal_id: row.try_get("terminal_id").map_err(classify)?,
                        office_number: row.try_get("office_number").map_err(classify)?,
                        changed_at: row.try_get("changed_at").map_err(classify)?,
                        changed_by: row.try_get("changed_by").map_err(classify)?,
                        from_state: from.as_deref().map(StoredState::parse).transpose()?,
                        to_state: to.as_deref().map(StoredState::parse).transpose()?,
                        note: row.try_get("note").map_err(classify)?,
                    })
                })
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQLite

pub(crate) mod lite {
    use sqlx::sqlite::SqliteRow;
    use sqlx::{Row, Sqlite, Transaction};

    use super::*;

    const ENTRY_COLUMNS: &str = "t.terminal_id, t.office_number, t.state, t.requested_on, \
         t.hold_until, t.note, t.baseline_not_after, t.renewed_at, t.renewed_not_after, \
         t.changed_at, t.changed_by";

    fn date(text: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
        text.map(|t| {
            NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map_err(|e| crate::decode_error("a tracking date", e))
        })
        .transpose()
    }

    fn opt_ts(text: Option<&str>) -> Result<Option<DateTime<Utc>>, StoreError> {
        text.map(parse_ts).transpose()
    }

    fn entry_from_row(row: &SqliteRow) -> Result<TrackingEntry, StoreError> {
        let state: String = row.try_get("state").map_err(classify)?;
        let get =
            |c: &str| -> Result<Option<String>, StoreError> { row.try_get(c).map_err(classify) };
        Ok(TrackingEntry {
            terminal_id: row.try_get("terminal_id").map_err(classify)?,
            office_number: row.try_get("office_number").map_err(classify)?,
            state: StoredState::parse(&state)?,
            requested_on: date(get("requested_on")?)?,
            hold_until: date(get("hold_until")?)?,
            note: row.try_get("note").map_err(classify)?,
            baseline_not_after: parse_ts(
                &row.try_get::<String, _>("baseline_not_after")
                    .map_err(classify)?,
            )?,
            renewed_at: opt_ts(get("renewed_at")?.as_deref())?,
            renewed_not_after: opt_ts(get("renewed_not_after")?.as_deref())?,
            changed_at: parse_ts(&row.try_get::<String, _>("changed_at").map_err(classify)?)?,
            changed_by: row.try_get("changed_by").map_err(classify)?,
        })
    }

    fn date_text(d: Option<NaiveDate>) -> Option<String> {
        d.map(|d| d.format("%Y-%m-%d").to_string())
    }

    /// The one write of a tracking change: the entry (or its removal) and its history row.
    pub(crate) async fn record_change(
        tx: &mut Transaction<'static, Sqlite>,
        terminal_id: TerminalId,
        office_number: &str,
        before: Option<&TrackingEntry>,
        after: Option<&TrackingEntry>,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match after {
            Some(e) => {
                sqlx::query(
                    "INSERT INTO pair_tracking (terminal_id, office_number, state, requested_on, \
                     hold_until, note, baseline_not_after, renewed_at, renewed_not_after, \
                     changed_at, changed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?) \
                     ON CONFLICT (terminal_id, office_number) DO UPDATE SET \
                       state = excluded.state, requested_on = excluded.requested_on, \
                       hold_until = excluded.hold_until, note = excluded.note, \
                       baseline_not_after = excluded.baseline_not_after, \
                       renewed_at = excluded.renewed_at, \
                       renewed_not_after = excluded.renewed_not_after, \
                       changed_at = excluded.changed_at, changed_by = excluded.changed_by",
                )
                .bind(e.terminal_id)
                .bind(&e.office_number)
                .bind(e.state.as_str())
                .bind(date_text(e.requested_on))
                .bind(date_text(e.hold_until))
                .bind(&e.note)
                .bind(ts(e.baseline_not_after))
                .bind(e.renewed_at.map(ts))
                .bind(e.renewed_not_after.map(ts))
                .bind(ts(e.changed_at))
                .bind(&e.changed_by)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM pair_tracking WHERE terminal_id = ? AND office_number = ?",
                )
                .bind(terminal_id)
                .bind(office_number)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
            }
        }
        sqlx::query(
            "INSERT INTO pair_tracking_history (terminal_id, office_number, changed_at, \
             changed_by, from_state, to_state, note, before, after) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(terminal_id)
        .bind(office_number)
        .bind(ts(now))
        .bind(who)
        .bind(before.map(|e| e.state.as_str()))
        .bind(after.map(|e| e.state.as_str()))
        .bind(history_note(before, after))
        .bind(entry_json(before)?)
        .bind(entry_json(after)?)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Closes as renewed every entry of `terminal` whose pair now ends later than its baseline
    /// (called by ingest inside its write transaction, after the holdings changed).
    pub(crate) async fn renew_tracked_pairs(
        tx: &mut Transaction<'static, Sqlite>,
        terminal: TerminalId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, p.not_after AS pair_not_after FROM pair_tracking t \
             JOIN pair_expiry p ON p.terminal_id = t.terminal_id \
               AND p.office_number = t.office_number \
             WHERE t.terminal_id = ? AND t.state IN ('requested', 'reissue', 'on_hold') \
               AND p.not_after > t.baseline_not_after \
             ORDER BY t.office_number"
        ))
        .bind(terminal)
        .fetch_all(&mut **tx)
        .await
        .map_err(classify)?;
        for row in rows {
            let current = entry_from_row(&row)?;
            let new_not_after = parse_ts(
                &row.try_get::<String, _>("pair_not_after")
                    .map_err(classify)?,
            )?;
            if let Some(renewed) = renewed_entry(&current, new_not_after, now) {
                record_change(
                    tx,
                    terminal,
                    &current.office_number,
                    Some(&current),
                    Some(&renewed),
                    SYSTEM_ACTOR,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    #[async_trait]
    impl TrackingStore for SqliteStore {
        async fn change_tracking(
            &self,
            change: &TrackingChange,
        ) -> Result<Option<TrackingEntry>, StoreError> {
            // BEGIN IMMEDIATE: the write lock orders this change against ingest and others.
            let mut tx = self.begin_write().await?;
            let live: Option<bool> =
                sqlx::query_scalar("SELECT revoked_at IS NULL FROM terminals WHERE id = ?")
                    .bind(change.terminal_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
            if live != Some(true) {
                return Err(StoreError::Tracking(TrackingError::UnknownPair {
                    terminal_id: change.terminal_id,
                    office_number: change.office_number.clone(),
                }));
            }
            let pair_not_after: Option<String> = sqlx::query_scalar(
                "SELECT not_after FROM pair_expiry WHERE terminal_id = ? AND office_number = ?",
            )
            .bind(change.terminal_id)
            .bind(&change.office_number)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            let pair_not_after = pair_not_after.as_deref().map(parse_ts).transpose()?;
            let current = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM pair_tracking t \
                 WHERE t.terminal_id = ? AND t.office_number = ?"
            ))
            .bind(change.terminal_id)
            .bind(&change.office_number)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
            .map(|row| entry_from_row(&row))
            .transpose()?;
            let next = next_entry(current.as_ref(), pair_not_after, change)
                .map_err(StoreError::Tracking)?;
            record_change(
                &mut tx,
                change.terminal_id,
                &change.office_number,
                current.as_ref(),
                next.as_ref(),
                &change.who,
                change.now,
            )
            .await?;
            tx.commit().await.map_err(classify)?;
            Ok(next)
        }

        async fn tracking_entries(
            &self,
            filter: &TrackingFilter,
        ) -> Result<Vec<TrackingEntry>, StoreError> {
            let rows = sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM pair_tracking t \
                 WHERE (json_array_length(?1) = 0 \
                        OR t.terminal_id IN (SELECT value FROM json_each(?1))) \
                   AND (json_array_length(?2) = 0 \
                        OR t.office_number IN (SELECT value FROM json_each(?2))) \
                 ORDER BY t.terminal_id, t.office_number"
            ))
            .bind(crate::to_json(&filter.terminal_ids)?)
            .bind(crate::to_json(&filter.offices)?)
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
            rows.iter().map(entry_from_row).collect()
        }

        async fn tracking_history(
            &self,
            terminal_id: TerminalId,
            office_number: &str,
        ) -> Result<Vec<TrackingHistoryRow>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, terminal_id, office_number, changed_at, changed_by, from_state, \
                 to_state, note FROM pair_tracking_history \
                 WHERE terminal_id = ? AND office_number = ? ORDER BY id",
            )
            .bind(terminal_id)
            .bind(office_number)
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    let from: Option<String> = row.try_get("from_state").map_err(classify)?;
                    let to: Option<String> = row.try_get("to_state").map_err(classify)?;
                    Ok(TrackingHistoryRow {
                        id: row.try_get("id").map_err(classify)?,
                        terminal_id: row.try_get("terminal_id").map_err(classify)?,
                        office_number: row.try_get("office_number").map_err(classify)?,
                        changed_at: parse_ts(
                            &row.try_get::<String, _>("changed_at").map_err(classify)?,
                        )?,
                        changed_by: row.try_get("changed_by").map_err(classify)?,
                        from_state: from.as_deref().map(StoredState::parse).transpose()?,
                        to_state: to.as_deref().map(StoredState::parse).transpose()?,
                        note: row.try_get("note").map_err(classify)?,
                    })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn change(action: TrackingAction) -> TrackingChange {
        TrackingChange {
            terminal_id: 1,
            office_number: "1400000001".into(),
            action,
            who: "alice".into(),
            now: at(2026, 12, 1),
            today: day(2026, 12, 1),
        }
    }

    fn requested(on: NaiveDate) -> TrackingAction {
        TrackingAction::Requested {
            on,
            note: "certsrv".into(),
        }
    }

    #[test]
    fn a_request_records_date_who_and_baseline() {
        let e = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(requested(day(2026, 11, 30))),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.state, StoredState::Requested);
        assert_eq!(e.requested_on, Some(day(2026, 11, 30)));
        assert_eq!(e.baseline_not_after, at(2027, 1, 9));
        assert_eq!(e.changed_by, "alice");
        assert_eq!(e.note, "certsrv");
    }

    #[test]
    fn bad_input_names_what_is_wrong() {
        let unknown = next_entry(None, None, &change(requested(day(2026, 12, 1)))).unwrap_err();
        assert!(matches!(unknown, TrackingError::UnknownPair { .. }));
        let future = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(requested(day(2026, 12, 2))),
        )
        .unwrap_err();
        assert!(
            matches!(future, TrackingError::InvalidField { field: "date", .. }),
            "{future}"
        );
        let past_hold = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(TrackingAction::Hold {
                until: day(2026, 11, 1),
                reason: "closed for winter".into(),
            }),
        )
        .unwrap_err();
        assert!(matches!(
            past_hold,
            TrackingError::InvalidField { field: "until", .. }
        ));
        let no_reason = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(TrackingAction::Hold {
                until: day(2026, 12, 20),
                reason: " ".into(),
            }),
        )
        .unwrap_err();
        assert!(matches!(
            no_reason,
            TrackingError::InvalidField {
                field: "reason",
                ..
            }
        ));
        let clear = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(TrackingAction::Clear {
                note: String::new(),
            }),
        )
        .unwrap_err();
        assert_eq!(
            clear.to_string(),
            "cannot apply clear to a pair that is not tracked: there is nothing to clear"
        );
    }

    #[test]
    fn transitions_that_make_no_sense_are_refused() {
        let base = Some(at(2027, 1, 9));
        let req = next_entry(None, base, &change(requested(day(2026, 12, 1))))
            .unwrap()
            .unwrap();
        let again = next_entry(Some(&req), base, &change(requested(day(2026, 12, 1)))).unwrap_err();
        assert!(matches!(
            again,
            TrackingError::InvalidTransition {
                current: "requested",
                ..
            }
        ));
        // A reissue on top of the request keeps the request's date.
        let reissue = next_entry(
            Some(&req),
            base,
            &change(TrackingAction::Reissue {
                on: day(2026, 12, 1),
                note: String::new(),
            }),
        )
        .unwrap()
        .unwrap();
        assert_eq!(reissue.state, StoredState::Reissue);
        assert_eq!(reissue.requested_on, Some(day(2026, 12, 1)));
        let retired = next_entry(
            Some(&reissue),
            base,
            &change(TrackingAction::Retire {
                note: "PC scrapped".into(),
            }),
        )
        .unwrap()
        .unwrap();
        assert_eq!(retired.state, StoredState::Retired);
        for action in [
            requested(day(2026, 12, 1)),
            TrackingAction::Retire {
                note: String::new(),
            },
        ] {
            let e = next_entry(Some(&retired), base, &change(action)).unwrap_err();
            assert!(matches!(
                e,
                TrackingError::InvalidTransition {
                    current: "retired",
                    ..
                }
            ));
        }
        let cleared = next_entry(
            Some(&retired),
            base,
            &change(TrackingAction::Clear {
                note: String::new(),
            }),
        )
        .unwrap();
        assert_eq!(cleared, None);
    }

    #[test]
    fn only_a_later_certificate_renews_and_only_open_entries() {
        let req = next_entry(
            None,
            Some(at(2027, 1, 9)),
            &change(requested(day(2026, 12, 1))),
        )
        .unwrap()
        .unwrap();
        assert_eq!(renewed_entry(&req, at(2027, 1, 9), at(2026, 12, 3)), None);
        let r = renewed_entry(&req, at(2028, 1, 9), at(2026, 12, 3)).unwrap();
        assert_eq!(r.state, StoredState::Renewed);
        assert_eq!(r.renewed_at, Some(at(2026, 12, 3)));
        assert_eq!(r.renewed_not_after, Some(at(2028, 1, 9)));
        assert_eq!(r.requested_on, Some(day(2026, 12, 1)));
        assert_eq!(r.changed_by, SYSTEM_ACTOR);
        let retired = TrackingEntry {
            state: StoredState::Retired,
            ..req
        };
        assert_eq!(
            renewed_entry(&retired, at(2028, 1, 9), at(2026, 12, 3)),
            None
        );
    }
}
