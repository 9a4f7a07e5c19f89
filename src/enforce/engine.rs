//! The two admission engines, chosen by the database, and the one thing the writer must know
//! about them: where reservations live, so a commit can settle them.
//! - **local** (SQLite, one instance): ledgers in memory; a check touches no database.
//! - **shared** (PostgreSQL, any number of instances): counters and reservations in the
//!   database, decided under the counter row's lock.

use super::admission::Settling;
use super::local::Ledgers;
use super::shared;
use crate::db::Backend;
use crate::usage::batch::Committed;
use sqlx::AnyConnection;
use std::sync::Arc;

#[derive(Clone)]
pub enum Engine {
    Local(Arc<Ledgers>),
    Shared,
}

impl Engine {
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::Local(Arc::default()),
            Backend::Postgres => Self::Shared,
        }
    }

    /// Inside the writer's transaction: shared reservations are rows, settled with the usage.
    pub async fn settle_before_commit(
        &self,
        conn: &mut AnyConnection,
        settled: &[Settling],
    ) -> Result<(), sqlx::Error> {
        if let Self::Shared = self {
            for s in settled {
                shared::settle(conn, s).await?;
            }
        }
        Ok(())
    }

    /// After the writer's commit: local ledgers take the new totals and drop what was settled.
    pub fn after_commit(&self, committed: &Committed, settled: &[Settling]) {
        if let Self::Local(ledgers) = self {
            ledgers.apply(committed, settled);
        }
    }
}
