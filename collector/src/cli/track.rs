//! `track …` and `calendar …` subcommands: renewal tracking from the command line (issue 17
//! §1, §5). Kept apart from `cli.rs` so the tracking commands are one module.

use anyhow::{Context, Result};
use certfleet_model::TrackingState;
use certfleet_reports::format::Format;
use certfleet_reports::{ReportKind, ReportParams};
use clap::Subcommand;

use super::{GlobalArgs, emit, list_format, quiet_on_broken_pipe, report_format};
use crate::tracking::{TrackingRequest, TrackingRequestError};

/// Who the history names for a CLI change: `--by`, else the login name.
#[derive(Debug, clap::Args)]
pub struct TrackTarget {
    /// The terminal: id, machine id or unique hostname.
    pub terminal: String,
    /// The office number.
    pub office: String,
    /// Your name for the history (default: $CERTFLEET_OPERATOR, $USER).
    #[arg(long, env = "CERTFLEET_OPERATOR")]
    pub by: Option<String>,
    /// A note kept with the entry and in the history.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TrackCommand {
    /// Mark the pair's certsrv request as made (today, or --date).
    Requested {
        #[command(flatten)]
        target: TrackTarget,
        /// The day of the request (YYYY-MM-DD, default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Mark a password reissue as requested (moves renew-by earlier by
    /// tracking.password_reissue_lead_days).
    Reissue {
        #[command(flatten)]
        target: TrackTarget,
        #[arg(long)]
        date: Option<String>,
    },
    /// Put the pair on hold until a day, with a reason (--note): no alerts until then.
    Hold {
        #[command(flatten)]
        target: TrackTarget,
        /// The day the hold ends (YYYY-MM-DD, after today).
        #[arg(long)]
        until: String,
    },
    /// Retire the pair (PC decommissioned, office closed): never alerted again.
    Retire {
        #[command(flatten)]
        target: TrackTarget,
    },
    /// Forget the pair's entry: it is "not started" again.
    Clear {
        #[command(flatten)]
        target: TrackTarget,
    },
    /// Tracked pairs with their state (every tracked state, or --state).
    List {
        /// Only these states (comma-separated): not_started, requested, reissue, stuck,
        /// on_hold, retired, renewed.
        #[arg(long)]
        state: Option<String>,
        /// Evaluate at this time (RFC 3339, or a date meaning 00:00 in the display time zone).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, default_value = "table", value_parser = report_format())]
        format: Format,
    },
}

/// Runs `track …`.
pub async fn run_track(global: &GlobalArgs, command: TrackCommand) -> Result<()> {
    let settings = global.file_config()?.report_settings()?;
    let store = global.open_store().await?;
    let (target, action, date, until) = match command {
        TrackCommand::List {
            state,
            as_of,
            format,
        } => {
            let states = match state {
                Some(text) => certfleet_reports::params::parse_states(&text)?,
                None => TrackingState::ALL
                    .into_iter()
                    .filter(|s| *s != TrackingState::NotStarted)
                    .collect(),
            };
            let params = ReportParams {
                include_ok: true,
                states,
                as_of,
                ..ReportParams::default()
            };
            let report = certfleet_reports::params::run(
                store.as_ref(),
                ReportKind::Expiring,
                &params,
                chrono::Utc::now(),
                &settings,
            )
            .await?;
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let tz = settings.time_zone;
            let written = match format {
                Format::Json => report
                    .write_json(&mut out)
                    .and_then(|()| out.write_all(b"\n")),
                Format::Csv => certfleet_reports::format::write_csv(&report, tz, &mut out),
                Format::Table => {
                    out.write_all(certfleet_reports::format::to_table(&report, tz).as_bytes())
                }
            };
            return quiet_on_broken_pipe(written.and_then(|()| out.flush()));
        }
        TrackCommand::Requested { target, date } => (target, "requested", date, None),
        TrackCommand::Reissue { target, date } => (target, "reissue", date, None),
        TrackCommand::Hold { target, until } => (target, "hold", None, Some(until)),
        TrackCommand::Retire { target } => (target, "retire", None, None),
        TrackCommand::Clear { target } => (target, "clear", None, None),
    };
    let who = target
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "cli".to_owned());
    let req = TrackingRequest {
        terminal: target.terminal,
        office: target.office,
        action: action.to_owned(),
        date,
        until,
        note: target.note,
    };
    let entry = crate::tracking::apply(store.as_ref(), &req, &who, chrono::Utc::now(), &settings)
        .await
        .map_err(|e| match e {
            TrackingRequestError::Store(e) => anyhow::Error::new(e),
            other => anyhow::anyhow!("{other}"),
        })
        .with_context(|| {
            format!(
                "{action} was not recorded for terminal {:?}, office {:?}",
                req.terminal, req.office
            )
        })?;
    match entry {
        Some(e) => println!(
            "terminal {} office {}: {} (by {})",
            e.terminal_id,
            e.office_number,
            e.state.as_str(),
            e.changed_by
        ),
        None => println!(
            "terminal {:?} office {}: tracking cleared (by {who})",
            req.terminal, req.office
        ),
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Create a feed (fleet-wide, or one office with --office) and print its URL path once:
    /// the token is not stored and cannot be shown again.
    Create {
        /// Only this office's pairs.
        #[arg(long, value_name = "N")]
        office: Option<String>,
        /// What the feed is for (shown by `calendar list`).
        #[arg(long, default_value = "")]
        label: String,
        /// Your name, kept with the feed (default: $CERTFLEET_OPERATOR, $USER).
        #[arg(long, env = "CERTFLEET_OPERATOR")]
        by: Option<String>,
    },
    /// List the feeds (never their tokens).
    List {
        #[arg(long, default_value = "table", value_parser = list_format())]
        format: Format,
    },
    /// Revoke a feed by its id: its URL stops answering at once.
    Revoke { id: i64 },
}

/// Runs `calendar …`.
pub async fn run_calendar(global: &GlobalArgs, command: CalendarCommand) -> Result<()> {
    let store = global.open_store().await?;
    match command {
        CalendarCommand::Create { office, label, by } => {
            if let Some(o) = &office {
                anyhow::ensure!(
                    !o.trim().is_empty()
                        && o.len() <= 64
                        && o.chars().all(|c| c.is_ascii_alphanumeric()),
                    "invalid office: {o:?} is not an office number"
                );
            }
            let who = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "cli".to_owned());
            let (token, hash) = crate::calendar::new_token();
            let feed = store
                .create_calendar_feed(&hash, office.as_deref(), &label, &who, chrono::Utc::now())
                .await?;
            println!(
                "calendar feed {} ({}) created; subscribe to this URL on the collector's HTTP address \
                 (shown once, keep it like a password):",
                feed.id,
                feed.office_number.as_deref().unwrap_or("fleet-wide")
            );
            println!("{}", crate::calendar::feed_path(&token));
            Ok(())
        }
        CalendarCommand::List { format } => {
            let feeds = store.calendar_feeds().await?;
            let mut text = String::new();
            use std::fmt::Write as _;
            match format {
                Format::Json => writeln!(text, "{}", certfleet_reports::json::to_string(&feeds))?,
                Format::Table | Format::Csv => {
                    writeln!(
                        text,
                        "{:>4}  {:<12} {:<17} {:<12} {:<8} LABEL",
                        "ID", "SCOPE", "CREATED", "BY", "STATE"
                    )?;
                    for f in feeds {
                        writeln!(
                            text,
                            "{:>4}  {:<12} {:<17} {:<12} {:<8} {}",
                            f.id,
                            f.office_number.as_deref().unwrap_or("fleet"),
                            f.created_at.format("%Y-%m-%d %H:%M"),
                            f.created_by,
                            if f.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            },
                            f.label
                        )?;
                    }
                }
            }
            emit(&text)
        }
        CalendarCommand::Revoke { id } => {
            match store.revoke_calendar_feed(id, chrono::Utc::now()).await? {
                Some(f) => println!("calendar feed {} revoked", f.id),
                None => anyhow::bail!("no calendar feed {id}"),
            }
            Ok(())
        }
    }
}
