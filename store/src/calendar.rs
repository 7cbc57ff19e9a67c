//! iCalendar feeds (issue 17 §5): the stored feeds, each with the SHA-256 of its URL token and
//! its scope (the fleet or one office), created, listed and revoked by operators (migration
//! 0021). The token itself is never stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::postgres::PgStore;
use super::sqlite::{SqliteStore, parse_ts, ts};
use super::{StoreError, classify};

/// A feed as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarFeed {
    pub id: i64,
    /// `None`: the whole fleet; else the one office the feed shows.
    pub office_number: Option<String>,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Calendar feeds, implemented by both stores.
#[async_trait]
pub trait CalendarStore: Send + Sync {
    /// Stores a new feed for the token hashing to `token_hash`; returns it.
    async fn create_calendar_feed(
        &self,
        token_hash: &str,
        office_number: Option<&str>,
        label: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<CalendarFeed, StoreError>;

    /// Every feed, revoked ones included, by id.
    async fn calendar_feeds(&self) -> Result<Vec<CalendarFeed>, StoreError>;

    /// Revokes feed `id` (revoking twice keeps the first time); `None` when there is no such
    /// feed.
    async fn revoke_calendar_feed(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<CalendarFeed>, StoreError>;

    /// The live (not revoked) feed whose token hashes to `token_hash`.
    async fn calendar_feed_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<CalendarFeed>, StoreError>;
}

const COLUMNS: &str = "id, office_number, label, created_at, created_by, revoked_at";

fn pg_feed(row: &sqlx::postgres::PgRow) -> Result<CalendarFeed, StoreError> {
    use sqlx::Row;
    Ok(CalendarFeed {
        id: row.try_get("id").map_err(classify)?,
        office_number: row.try_get("office_number").map_err(classify)?,
        label: row.try_get("label").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        created_by: row.try_get("created_by").map_err(classify)?,
        revoked_at: row.try_get("revoked_at").map_err(classify)?,
    })
}

fn lite_feed(row: &sqlx::sqlite::SqliteRow) -> Result<CalendarFeed, StoreError> {
    use sqlx::Row;
    let revoked: Option<String> = row.try_get("revoked_at").map_err(classify)?;
    Ok(CalendarFeed {
        id: row.try_get("id").map_err(classify)?,
        office_number: row.try_get("office_number").map_err(classify)?,
        label: row.try_get("label").map_err(classify)?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at").map_err(classify)?)?,
        created_by: row.try_get("created_by").map_err(classify)?,
        revoked_at: revoked.as_deref().map(parse_ts).transpose()?,
    })
}

#[async_trait]
impl CalendarStore for PgStore {
    async fn create_calendar_feed(
        &self,
        token_hash: &str,
        office_number: Option<&str>,
        label: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<CalendarFeed, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO calendar_feeds (token_hash, office_number, label, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(token_hash)
        .bind(office_number)
        .bind(label)
        .bind(now)
        .bind(who)
        .fetch_one(self.pool())
        .await
        .map_err(classify)?;
        pg_feed(&row)
    }

    async fn calendar_feeds(&self) -> Result<Vec<CalendarFeed>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM calendar_feeds ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter().map(pg_feed).collect()
    }

    async fn revoke_calendar_feed(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<CalendarFeed>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE calendar_feeds SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref().map(pg_feed).transpose()
    }

    async fn calendar_feed_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<CalendarFeed>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_feeds WHERE token_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref().map(pg_feed).transpose()
    }
}

#[async_trait]
impl CalendarStore for SqliteStore {
    async fn create_calendar_feed(
        &self,
        token_hash: &str,
        office_number: Option<&str>,
        label: &str,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<CalendarFeed, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO calendar_feeds (token_hash, office_number, label, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(token_hash)
        .bind(office_number)
        .bind(label)
        .bind(ts(now))
        .bind(who)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        let feed = lite_feed(&row)?;
        tx.commit().await.map_err(classify)?;
        Ok(feed)
    }

    async fn calendar_feeds(&self) -> Result<Vec<CalendarFeed>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM calendar_feeds ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .map_err(classify)?;
        rows.iter().map(lite_feed).collect()
    }

    async fn revoke_calendar_feed(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<CalendarFeed>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE calendar_feeds SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let feed = row.as_ref().map(lite_feed).transpose()?;
        tx.commit().await.map_err(classify)?;
        Ok(feed)
    }

    async fn calendar_feed_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<CalendarFeed>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_feeds WHERE token_hash = ? AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.as_ref().map(lite_feed).transpose()
    }
}
