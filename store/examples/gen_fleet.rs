//! Fills a PostgreSQL database with the report benchmark fleet (100,000 terminals, ~300,000
//! office holdings; see `gen_fleet.sql`). Usage:
//! `cargo run --release -p certfleet-store --example gen_fleet -- postgres://…/db`
//! The database should be empty: migrations are applied first, then the data is bulk-inserted
//! in one transaction with `generate_series` (a few seconds, instead of 100,000 gRPC reports).

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: gen_fleet postgres://…/database"))?;
    let started = Instant::now();
    // Opening the store applies the migrations (the same schema the collector uses).
    certfleet_store::open(Some(&url), std::path::Path::new("."), 1).await?;
    let pool = sqlx::PgPool::connect(&url).await?;
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(include_str!("gen_fleet.sql"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await }
    };
    println!(
        "terminals {}, certificates {}, live office holdings {}, registry offices {} ({:.1} s)",
        count("SELECT count(*) FROM terminals").await?,
        count("SELECT count(*) FROM certificates").await?,
        count("SELECT count(*) FROM holdings WHERE removed_at IS NULL").await?,
        count("SELECT count(*) FROM office_registry").await?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
