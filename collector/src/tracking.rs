//! Renewal tracking as operators drive it (issue 17 §1): the one parser that turns a tracking
//! request — the CLI's `track …` arguments, the API's JSON body, the dashboard's form — into a
//! store change, and applies it. Errors name the field that was wrong; nothing is written then.

use certfleet_config::ReportSettings;
use certfleet_reports::semantics;
use certfleet_store::tracking::{TrackingAction, TrackingChange, TrackingEntry, TrackingError};
use certfleet_store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

/// The longest operator name kept in the history.
const MAX_WHO_CHARS: usize = 64;

/// One tracking change as a front end states it, still text.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrackingRequest {
    /// Terminal id, machine id or unique hostname.
    pub terminal: String,
    /// Office number.
    pub office: String,
    /// `requested`, `reissue`, `hold`, `retire` or `clear`.
    pub action: String,
    /// The request's day (`YYYY-MM-DD`, default today) for `requested` and `reissue`.
    #[serde(default)]
    pub date: Option<String>,
    /// The hold's last day (`YYYY-MM-DD`) for `hold`.
    #[serde(default)]
    pub until: Option<String>,
    /// A note; the reason for `hold`.
    #[serde(default)]
    pub note: Option<String>,
}

/// Why a tracking request was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TrackingRequestError {
    /// A field is missing or malformed; `field` names it.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The change makes no sense from the pair's current state.
    #[error("{0}")]
    Conflict(TrackingError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl TrackingRequestError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        TrackingRequestError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The field a bad request names (`None` for conflicts and database failures).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TrackingRequestError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for TrackingRequestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchTerminal(s) => {
                TrackingRequestError::invalid("terminal", format!("no terminal matches {s:?}"))
            }
            StoreError::AmbiguousTerminal(s) => TrackingRequestError::invalid(
                "terminal",
                format!("{s:?} matches more than one terminal; use the numeric id"),
            ),
            StoreError::Tracking(e @ TrackingError::UnknownPair { .. }) => {
                TrackingRequestError::invalid("office", e.to_string())
            }
            StoreError::Tracking(TrackingError::InvalidField { field, message }) => {
                TrackingRequestError::Invalid { field, message }
            }
            StoreError::Tracking(e @ TrackingError::InvalidTransition { .. }) => {
                TrackingRequestError::Conflict(e)
            }
            other => TrackingRequestError::Store(other),
        }
    }
}

fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, TrackingRequestError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        TrackingRequestError::invalid(field, format!("{text:?} is not a date like 2026-12-01"))
    })
}

/// The action of `req` on local date `today`.
pub fn parse_action(
    req: &TrackingRequest,
    today: NaiveDate,
) -> Result<TrackingAction, TrackingRequestError> {
    let note = req.note.clone().unwrap_or_default();
    let date = |req: &TrackingRequest| match req.date.as_deref().map(str::trim) {
        None | Some("") => Ok(today),
        Some(text) => parse_date("date", text),
    };
    Ok(match req.action.trim() {
        "requested" => TrackingAction::Requested {
            on: date(req)?,
            note,
        },
        "reissue" => TrackingAction::Reissue {
            on: date(req)?,
            note,
        },
        "hold" => {
            let until = match req.until.as_deref().map(str::trim) {
                None | Some("") => {
                    return Err(TrackingRequestError::invalid(
                        "until",
                        "a hold needs the day it ends",
                    ));
                }
                Some(text) => parse_date("until", text)?,
            };
            TrackingAction::Hold {
                until,
                reason: note,
            }
        }
        "retire" => TrackingAction::Retire { note },
        "clear" => TrackingAction::Clear { note },
        other => {
            return Err(TrackingRequestError::invalid(
                "action",
                format!("{other:?} is not one of requested, reissue, hold, retire, clear"),
            ));
        }
    })
}

/// Applies `req` for operator `who` at `now`: resolves the terminal, parses the action, and
/// writes it through [`certfleet_store::TrackingStore::change_tracking`] (one transaction,
/// with its history row). The entry after the change, `None` after `clear`.
#[tracing::instrument(skip(store, s), err)]
pub async fn apply(
    store: &dyn Store,
    req: &TrackingRequest,
    who: &str,
    now: DateTime<Utc>,
    s: &ReportSettings,
) -> Result<Option<TrackingEntry>, TrackingRequestError> {
    if req.terminal.trim().is_empty() {
        return Err(TrackingRequestError::invalid("terminal", "is empty"));
    }
    let office = req.office.trim();
    if office.is_empty() {
        return Err(TrackingRequestError::invalid("office", "is empty"));
    }
    let today = semantics::local_date(now, s.time_zone);
    let action = parse_action(req, today)?;
    let terminal = store.find_terminal(&req.terminal).await?;
    let who: String = who.chars().take(MAX_WHO_CHARS).collect();
    let change = TrackingChange {
        terminal_id: terminal.id,
        office_number: office.to_owned(),
        action,
        who,
        now,
        today,
    };
    Ok(store.change_tracking(&change).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str) -> TrackingRequest {
        TrackingRequest {
            terminal: "pc".into(),
            office: "1400000001".into(),
            action: action.into(),
            ..TrackingRequest::default()
        }
    }

    #[test]
    fn actions_parse_with_their_dates_and_name_bad_fields() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(
            parse_action(&req("requested"), today).unwrap(),
            TrackingAction::Requested {
                on: today,
                note: String::new()
            }
        );
        let hold = TrackingRequest {
            until: Some("2026-12-20".into()),
            note: Some("closed".into()),
            ..req("hold")
        };
        assert!(matches!(
            parse_action(&hold, today).unwrap(),
            TrackingAction::Hold { reason, .. } if reason == "closed"
        ));
        assert_eq!(
            parse_action(&req("hold"), today).unwrap_err().field(),
            Some("until")
        );
        assert_eq!(
            parse_action(&req("snooze"), today).unwrap_err().field(),
            Some("action")
        );
        let bad_date = TrackingRequest {
            date: Some("1/12/2026".into()),
            ..req("requested")
        };
        let e = parse_action(&bad_date, today).unwrap_err();
        assert_eq!(e.field(), Some("date"));
        assert!(e.to_string().contains("1/12/2026"), "{e}");
    }
}
