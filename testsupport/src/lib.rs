//! Test-only helpers for certfleet, shared by every crate's tests, the end-to-end harness and
//! the benchmarks: a throwaway PostgreSQL cluster ([`pg`]), test certificate authorities
//! ([`ca`]), golden-file comparison ([`golden`]) and the [`both_backends!`] macro that runs one
//! async test on SQLite and on PostgreSQL.
#![forbid(unsafe_code)]

pub mod ca;
pub mod golden;
pub mod pg;

pub use ca::TestCa;
pub use golden::{assert_golden, pretty_json};
pub use pg::{DATABASE_URL_ENV, DEFAULT_PG_BIN, PG_BIN_ENV, PgCluster};

/// Turns async test functions taking a fixture into one `#[tokio::test]` per storage backend:
/// `both_backends!(sqlite: sqlite_fixture, postgres: postgres_fixture; a, b)` makes
/// `sqlite::a`, `sqlite::b`, `postgres::a` and `postgres::b`, each calling `a(fixture).await`
/// with a fixture from the named async constructor in the calling module. Both backends must
/// give identical answers, so every behaviour is written once and checked twice.
#[macro_export]
macro_rules! both_backends {
    (sqlite: $sqlite:ident, postgres: $postgres:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::$sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::$postgres().await).await
                }
            )*
        }
    };
}
