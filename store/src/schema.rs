//! Who may change the schema, and what the other commands require of it (issue 16).
//!
//! Only `serve` and `migrate` apply migrations ([`OpenMode::Migrate`]); every other command
//! opens the database as it is ([`OpenMode::Existing`]) and refuses one that is missing, has no
//! certfleet schema, or lacks a migration this binary knows, with a message saying what to
//! run. A schema *newer* than the binary is accepted by both modes: migrations are expand-only
//! (they add, never drop or rename what a released collector reads), so during a rolling
//! upgrade a collector of the previous release keeps working on the new schema, and one that
//! restarts mid-roll-out starts instead of failing on the migrations it does not know.

use sqlx::migrate::Migrator;

use super::StoreError;

/// How a command opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `serve` and `migrate`: the embedded SQLite file is created when missing and pending
    /// migrations are applied.
    Migrate,
    /// Every other command: the database must exist with this binary's schema; nothing is
    /// created or migrated.
    Existing,
}

/// The binary's migrations for one backend, tolerating applied migrations it does not know
/// (a newer release's; see the module documentation).
pub(crate) fn tolerant(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub version: i64,
    pub checksum: Vec<u8>,
    pub success: bool,
}

/// Checks the applied migrations against the binary's: `Ok` when every migration of the binary
/// is applied with the same text. `applied` is `None` when the database has no migrations
/// table at all.
pub(crate) fn compare(
    binary: &Migrator,
    applied: Option<Vec<Applied>>,
    database: &str,
) -> Result<(), StoreError> {
    let Some(applied) = applied else {
        return Err(StoreError::Schema(format!(
            "{database} has no certfleet schema (an empty or another application's database); \
             this command does not create one: point --config/--database-url at the \
             collector's database, or create the schema with `certfleet-collector migrate`"
        )));
    };
    if let Some(dirty) = applied.iter().find(|m| !m.success) {
        return Err(StoreError::Schema(format!(
            "{database}: migration {:04} failed part-way; restore the backup taken before the \
             upgrade (see docs/OPERATIONS.md, Upgrading)",
            dirty.version
        )));
    }
    let mut missing = Vec::new();
    for m in binary.iter() {
        if m.migration_type.is_down_migration() {
            continue;
        }
        match applied.iter().find(|a| a.version == m.version) {
            Some(a) if a.checksum.as_slice() != &*m.checksum => {
                return Err(StoreError::Schema(format!(
                    "{database}: migration {:04} ({}) was applied with a different text than \
                     this certfleet-collector's; released migrations must never change",
                    m.version, m.description
                )));
            }
            Some(_) => {}
            None => missing.push(format!("{:04} ({})", m.version, m.description)),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Schema(format!(
        "the schema of {database} is older than this certfleet-collector (missing migration{} \
         {}); only `serve` and `migrate` change the schema: run `certfleet-collector migrate` \
         with the same --config (after a backup), or upgrade the collector service first",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(binary: &Migrator, upto: i64) -> Vec<Applied> {
        binary
            .iter()
            .filter(|m| m.version <= upto)
            .map(|m| Applied {
                version: m.version,
                checksum: m.checksum.to_vec(),
                success: true,
            })
            .collect()
    }

    #[test]
    fn outdated_missing_and_changed_schemas_are_named() {
        let binary = sqlx::migrate!("migrations/sqlite");
        let last = binary.iter().map(|m| m.version).max().unwrap();
        assert!(compare(&binary, Some(applied(&binary, last)), "db").is_ok());

        let err = compare(&binary, None, "certfleet.db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no certfleet schema"), "{err}");

        let err = compare(&binary, Some(applied(&binary, 10)), "db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("older than this certfleet-collector"), "{err}");
        assert!(err.contains("0011 (session revocations)"), "{err}");
        assert!(err.contains("certfleet-collector migrate"), "{err}");

        let mut changed = applied(&binary, last);
        changed[0].checksum[0] ^= 1;
        let err = compare(&binary, Some(changed), "db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("migration 0001"), "{err}");

        // A newer release's migration applied: accepted (expand-only migrations).
        let mut newer = applied(&binary, last);
        newer.push(Applied {
            version: last + 1000,
            checksum: vec![1, 2, 3],
            success: true,
        });
        assert!(compare(&binary, Some(newer), "db").is_ok());

        let mut dirty = applied(&binary, last);
        dirty.last_mut().unwrap().success = false;
        let err = compare(&binary, Some(dirty), "db").unwrap_err().to_string();
        assert!(err.contains("failed part-way"), "{err}");
    }
}
