//! The single usage writer. Every report goes through one task that commits the reports
//! waiting at that moment in one transaction (group commit) and acknowledges each only after
//! its transaction is durable. One writer means SQLite never sees competing write
//! transactions, and a batch costs one fsync however many reports it holds.
//!
//! In local mode the writer is also the only way database state reaches the in-process
//! ledgers: it applies each batch's committed totals after the commit, and loads a tenant's
//! ledger between batches, so a ledger never misses or runs ahead of a commit.

use super::store::{record_batch, NewEvent, Recorded};
use crate::enforce::local::{Ledgers, SharedLedger};
use crate::enforce::{parse_reservation, shared};
use crate::error::AppError;
use crate::server::db::Db;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most reports committed in one transaction.
const MAX_BATCH: usize = 1024;
/// Reports waiting for the writer before `record` applies back-pressure.
const QUEUE_DEPTH: usize = 16_384;

enum Job {
    Report { event: NewEvent, reply: oneshot::Sender<Result<Recorded, AppError>> },
    LoadTenant { tenant_id: String, now: i64, reply: oneshot::Sender<Result<Option<SharedLedger>, AppError>> },
}

/// A handle to the writer task; cloning it is cheap.
#[derive(Clone)]
pub struct UsageWriter {
    jobs: mpsc::Sender<Job>,
}

impl UsageWriter {
    /// Starts the writer; with `ledgers` (local mode) it keeps them in step with commits,
    /// without (shared mode) it settles reservations in the database. It stops once every
    /// handle is dropped and the queue is drained; await the task to know all is committed.
    pub fn spawn(db: Db, ledgers: Option<Arc<Ledgers>>) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(db, ledgers, rx));
        (Self { jobs }, task)
    }

    /// Records one event; returns once it is committed (or known to have been before).
    pub async fn record(&self, event: NewEvent) -> Result<Recorded, AppError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Report { event, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Loads (or reloads) a tenant's ledger, in order with commits. `None`: no such tenant.
    pub async fn load_tenant(&self, tenant_id: &str, now: i64) -> Result<Option<SharedLedger>, AppError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::LoadTenant { tenant_id: tenant_id.to_owned(), now, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, job: Job) -> Result<(), AppError> {
        self.jobs.send(job).await.map_err(|_| stopped())
    }
}

fn stopped() -> AppError {
    AppError::unavailable("The usage writer is shutting down; retry")
}

async fn run(db: Db, ledgers: Option<Arc<Ledgers>>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut reports = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            match job {
                Job::Report { event, reply } => reports.push((event, reply)),
                Job::LoadTenant { tenant_id, now, reply } => {
                    // Commit what came before the load first, so the load sees it.
                    commit(&db, ledgers.as_deref(), &mut reports).await;
                    let loaded = match &ledgers {
                        Some(l) => load(&db, l, &tenant_id, now).await,
                        None => Ok(None),
                    };
                    let _ = reply.send(loaded);
                }
            }
        }
        commit(&db, ledgers.as_deref(), &mut reports).await;
    }
}

async fn load(db: &Db, ledgers: &Ledgers, tenant_id: &str, now: i64) -> Result<Option<SharedLedger>, AppError> {
    let mut conn = db.pool.acquire().await?;
    Ok(ledgers.load(&mut conn, tenant_id, now).await?)
}

type Pending = (NewEvent, oneshot::Sender<Result<Recorded, AppError>>);

/// Commits the pending reports in one transaction. If that fails (a retry-able conflict, or
/// one bad event), each is retried in a transaction of its own, so one cannot fail the others.
async fn commit(db: &Db, ledgers: Option<&Ledgers>, pending: &mut Vec<Pending>) {
    if pending.is_empty() {
        return;
    }
    let events: Vec<NewEvent> = pending.iter().map(|(e, _)| e.clone()).collect();
    match try_commit(db, ledgers, &events).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in pending.drain(..).zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, size = events.len(), "batch commit failed; retrying reports one by one");
            for (event, reply) in pending.drain(..) {
                let result = try_commit(db, ledgers, std::slice::from_ref(&event))
                    .await
                    .map_err(AppError::from)
                    .and_then(|mut o| o.pop().ok_or_else(AppError::internal));
                let _ = reply.send(result);
            }
        }
    }
}

async fn try_commit(db: &Db, ledgers: Option<&Ledgers>, events: &[NewEvent]) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let (outcomes, committed) = record_batch(&mut tx, events).await?;
    if ledgers.is_none() {
        for e in events.iter().filter(|e| e.report.reservation_id.is_some()) {
            shared::settle(&mut tx, &e.tenant_id, e.report.reservation_id.as_deref().unwrap_or_default()).await?;
        }
    }
    tx.commit().await?;
    if let Some(ledgers) = ledgers {
        let settled: Vec<(String, u64)> = events
            .iter()
            .filter_map(|e| Some((e.tenant_id.clone(), parse_reservation(e.report.reservation_id.as_deref()?)?)))
            .collect();
        ledgers.apply(&committed, &settled);
    }
    Ok(outcomes)
}
