//! The single usage writer. Every report goes through one task that commits the reports
//! waiting at that moment in one transaction (group commit) and acknowledges each only after
//! its transaction is durable. One writer means SQLite never sees competing write
//! transactions, and a batch costs one fsync however many reports it holds.

use super::store::{record_event, NewEvent, Recorded};
use crate::error::AppError;
use crate::server::db::Db;
use tokio::sync::{mpsc, oneshot};

/// The most reports committed in one transaction.
const MAX_BATCH: usize = 512;
/// Reports waiting for the writer before `record` applies back-pressure.
const QUEUE_DEPTH: usize = 8192;

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Recorded, AppError>>,
}

/// A handle to the writer task; cloning it is cheap.
#[derive(Clone)]
pub struct UsageWriter {
    jobs: mpsc::Sender<Job>,
}

impl UsageWriter {
    /// Starts the writer. It stops once every handle is dropped and the queue is drained;
    /// await the returned task to know that every accepted report has been committed.
    pub fn spawn(db: Db) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(db, rx));
        (Self { jobs }, task)
    }

    /// Records one event; returns once it is committed (or known to have been before).
    pub async fn record(&self, event: NewEvent) -> Result<Recorded, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { event, reply })
            .await
            .map_err(|_| AppError::unavailable("The usage writer is shutting down; retry the report"))?;
        answer
            .await
            .map_err(|_| AppError::unavailable("The usage writer stopped before committing; retry the report"))?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&db, &mut batch).await;
    }
}

/// Commits the batch in one transaction. If that fails, each job is retried in a
/// transaction of its own, so one bad event cannot fail the reports batched with it.
async fn commit_batch(db: &Db, batch: &mut Vec<Job>) {
    match try_batch(db, batch).await {
        Ok(results) => {
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.len(), "batch commit failed; retrying reports one by one");
            for job in batch.drain(..) {
                let result =
                    try_batch(db, std::slice::from_ref(&job)).await.map(|mut r| r.remove(0)).map_err(AppError::from);
                let _ = job.reply.send(result);
            }
        }
    }
}

async fn try_batch(db: &Db, jobs: &[Job]) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(record_event(&mut tx, &job.event).await?);
    }
    tx.commit().await?;
    Ok(results)
}
