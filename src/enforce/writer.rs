//! The single writer: the gate's commit pipeline. Every report goes through one task that
//! commits the reports waiting at that moment in one transaction (group commit) and
//! acknowledges each only after its transaction is durable. One writer means SQLite never sees
//! competing write transactions, and a batch costs one fsync however many reports it holds.
//!
//! It also settles the reservations the reports name (in the transaction for the shared
//! engine, after it for the local one) and loads tenants into the local ledgers between
//! batches, so a ledger never misses or runs ahead of a commit.

use super::admission::{ReservationId, Settling};
use super::engine::Engine;
use crate::db::Db;
use crate::error::AppError;
use crate::tenants::TenantId;
use crate::usage::batch::{NewEvent, Recorded};
use crate::usage::store::record_batch;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most reports committed in one transaction.
const MAX_BATCH: usize = 1024;
/// Reports waiting for the writer before `record` applies back-pressure.
const QUEUE_DEPTH: usize = 16_384;
/// How long a batch of reports nobody waits for (the proxy settles behind its answer) may
/// wait for more before it commits: at a few hundred calls a second one transaction then
/// holds several reports instead of one, which is most of the writer's cost. A report
/// someone waits for ends the wait at once.
const LINGER: Duration = Duration::from_millis(5);

type Reply<T> = oneshot::Sender<Result<T, AppError>>;

// A report is by far the most common job, so it is kept inline rather than boxed.
#[allow(clippy::large_enum_variant)]
enum Job {
    Report { event: NewEvent, settles: Option<ReservationId>, reply: Reply<Recorded>, urgent: bool },
    LoadTenant { tenant_id: TenantId, now: i64, reply: Reply<bool> },
    WouldRefuse { tenant_id: TenantId, period_start: i64 },
}

impl Job {
    /// Whether nobody is waiting on this job to answer a client.
    fn can_wait(&self) -> bool {
        match self {
            Job::Report { urgent, .. } => !urgent,
            Job::WouldRefuse { .. } => true,
            Job::LoadTenant { .. } => false,
        }
    }
}

/// Whether a report's caller answers its client only once the report is committed (the agent
/// API's report) or already has (the proxy's settlement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Now,
    Behind,
}

/// A handle to the writer task; cloning it is cheap.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer. It stops once every handle is dropped and the queue is drained;
    /// await the task to know all is committed.
    pub fn spawn(db: Db, engine: Engine) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(QUEUE_DEPTH);
        let task = tokio::spawn(run(db, engine, rx));
        (Self { jobs }, task)
    }

    /// Records one event, settling `settles` with it; returns once it is committed (or known
    /// to have been before).
    pub async fn record(
        &self,
        event: NewEvent,
        settles: Option<ReservationId>,
        urgency: Urgency,
    ) -> Result<Recorded, AppError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Report { event, settles, reply, urgent: urgency == Urgency::Now }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Loads (or reloads) a tenant's local ledger, in order with commits; `false`: no such tenant.
    pub async fn load_tenant(&self, tenant_id: &TenantId, now: i64) -> Result<bool, AppError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::LoadTenant { tenant_id: tenant_id.clone(), now, reply }).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Counts a call monitor mode let through that enforce would have refused. Never waits:
    /// when the queue is full the count is dropped (and logged) rather than slowing checks.
    pub fn count_would_refuse(&self, tenant_id: &TenantId, period_start: i64) {
        let job = Job::WouldRefuse { tenant_id: tenant_id.clone(), period_start };
        if self.jobs.try_send(job).is_err() {
            tracing::warn!(tenant_id = %tenant_id, "writer queue full: a monitored refusal was not counted");
        }
    }

    async fn send(&self, job: Job) -> Result<(), AppError> {
        self.jobs.send(job).await.map_err(|_| stopped())
    }
}

fn stopped() -> AppError {
    AppError::unavailable("The usage writer is shutting down; retry")
}

/// The reports of one transaction, in arrival order.
#[derive(Default)]
struct Batch {
    events: Vec<NewEvent>,
    settles: Vec<Option<ReservationId>>,
    replies: Vec<Reply<Recorded>>,
    /// Monitored refusals to count, by tenant and period.
    would_refuse: HashMap<(TenantId, i64), i64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.would_refuse.is_empty()
    }

    /// The reservations the events at `range` settle.
    fn settling(&self, range: std::ops::Range<usize>) -> Vec<Settling> {
        range
            .filter_map(|i| {
                let reservation = self.settles[i]?;
                Some(Settling { tenant_id: self.events[i].tenant_id.clone(), reservation })
            })
            .collect()
    }
}

/// Waits for the next jobs (at most `max`); while every job gathered can wait, keeps
/// gathering for up to `linger`. Answers how many jobs `jobs` holds (0: the queue closed).
async fn gather(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, max: usize, linger: Duration) -> usize {
    if rx.recv_many(jobs, max).await == 0 {
        return 0;
    }
    let deadline = tokio::time::Instant::now() + linger;
    while jobs.len() < max && jobs.iter().all(Job::can_wait) {
        let room = max - jobs.len();
        if !matches!(tokio::time::timeout_at(deadline, rx.recv_many(jobs, room)).await, Ok(n) if n > 0) {
            break;
        }
    }
    jobs.len()
}

async fn run(db: Db, engine: Engine, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while gather(&mut rx, &mut jobs, MAX_BATCH, LINGER).await > 0 {
        let mut batch = Batch::default();
        for job in jobs.drain(..) {
            match job {
                Job::Report { event, settles, reply, .. } => {
                    batch.events.push(event);
                    batch.settles.push(settles);
                    batch.replies.push(reply);
                }
                Job::WouldRefuse { tenant_id, period_start } => {
                    *batch.would_refuse.entry((tenant_id, period_start)).or_default() += 1;
                }
                Job::LoadTenant { tenant_id, now, reply } => {
                    // Commit what came before the load first, so the load sees it.
                    commit(&db, &engine, std::mem::take(&mut batch)).await;
                    let _ = reply.send(load(&db, &engine, &tenant_id, now).await);
                }
            }
        }
        commit(&db, &engine, batch).await;
    }
}

async fn load(db: &Db, engine: &Engine, tenant_id: &TenantId, now: i64) -> Result<bool, AppError> {
    match engine {
        Engine::Local(ledgers) => {
            let mut conn = db.pool.acquire().await?;
            ledgers.load(&mut conn, tenant_id, now).await
        }
        Engine::Shared => Ok(false),
    }
}

/// Commits a batch in one transaction. If that fails (a retry-able conflict, or one bad
/// event), each report is retried in a transaction of its own, so one cannot fail the others.
async fn commit(db: &Db, engine: &Engine, batch: Batch) {
    if batch.is_empty() {
        return;
    }
    if !batch.would_refuse.is_empty() {
        if let Err(e) = count_would_refuse(db, &batch.would_refuse).await {
            tracing::warn!(error = %e, "counting monitored refusals failed");
        }
    }
    if batch.events.is_empty() {
        return;
    }
    let all = 0..batch.events.len();
    let started = std::time::Instant::now();
    match try_commit(db, engine, &batch.events, &batch.settling(all)).await {
        Ok(outcomes) => {
            let recorded = outcomes.iter().filter(|o| o.recorded).count();
            crate::metrics::reports_committed(recorded, outcomes.len() - recorded, started.elapsed());
            for (reply, outcome) in batch.replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, size = batch.events.len(), "batch commit failed; retrying reports one by one");
            let settling: Vec<Vec<Settling>> = (0..batch.events.len()).map(|i| batch.settling(i..i + 1)).collect();
            for (i, reply) in batch.replies.into_iter().enumerate() {
                let result = try_commit(db, engine, std::slice::from_ref(&batch.events[i]), &settling[i])
                    .await
                    .map_err(AppError::from)
                    .and_then(|mut o| o.pop().ok_or_else(AppError::internal));
                if result.is_err() {
                    crate::metrics::reports_failed(1);
                }
                let _ = reply.send(result);
            }
        }
    }
}

/// Adds the batch's monitored refusals to their counters, in one transaction in lock order.
async fn count_would_refuse(db: &Db, counts: &HashMap<(TenantId, i64), i64>) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<_> = counts.iter().collect();
    sorted.sort();
    let mut tx = db.pool.begin().await?;
    for ((tenant_id, period_start), n) in sorted {
        crate::usage::store::add_would_refuse(&mut *tx, tenant_id.as_str(), *period_start, *n).await?;
    }
    tx.commit().await
}

async fn try_commit(
    db: &Db,
    engine: &Engine,
    events: &[NewEvent],
    settling: &[Settling],
) -> Result<Vec<Recorded>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let (outcomes, committed) = record_batch(&mut tx, events).await?;
    engine.settle_before_commit(&mut tx, settling).await?;
    tx.commit().await?;
    engine.after_commit(&committed, settling);
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn background() -> Job {
        Job::WouldRefuse { tenant_id: TenantId::parse("t").unwrap(), period_start: 0 }
    }

    fn urgent() -> Job {
        let (reply, _) = oneshot::channel();
        Job::LoadTenant { tenant_id: TenantId::parse("t").unwrap(), now: 0, reply }
    }

    /// Sends `job` a moment from now, while `gather` is waiting; keeps the queue open.
    fn send_later(tx: mpsc::Sender<Job>, job: Job) -> tokio::task::JoinHandle<mpsc::Sender<Job>> {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(job).await.unwrap();
            tx
        })
    }

    // The linger is an hour, so only a full batch or an urgent job can end these waits; the
    // outer timeout fails the test instead of hanging it.
    const HOUR: Duration = Duration::from_secs(3600);
    const FAIL_AFTER: Duration = Duration::from_secs(20);

    #[tokio::test]
    async fn jobs_nobody_waits_for_wait_for_company() {
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(background()).await.unwrap();
        let later = send_later(tx, background());
        let mut jobs = Vec::new();
        let n = tokio::time::timeout(FAIL_AFTER, gather(&mut rx, &mut jobs, 2, HOUR)).await.unwrap();
        assert_eq!(n, 2, "the first job waited for the second");
        drop(later.await);
    }

    #[tokio::test]
    async fn a_job_someone_waits_for_ends_the_wait() {
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(background()).await.unwrap();
        let later = send_later(tx, urgent());
        let mut jobs = Vec::new();
        let n = tokio::time::timeout(FAIL_AFTER, gather(&mut rx, &mut jobs, 100, HOUR)).await.unwrap();
        assert_eq!(n, 2);
        assert!(!jobs[1].can_wait());
        drop(later.await);

        // An urgent job first does not wait at all.
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(urgent()).await.unwrap();
        let mut jobs = Vec::new();
        assert_eq!(tokio::time::timeout(FAIL_AFTER, gather(&mut rx, &mut jobs, 100, HOUR)).await.unwrap(), 1);
        drop(tx);
    }

    #[tokio::test]
    async fn the_wait_ends_at_the_linger_and_a_closed_queue_at_once() {
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(background()).await.unwrap();
        let mut jobs = Vec::new();
        let lone = gather(&mut rx, &mut jobs, 100, Duration::from_millis(10));
        assert_eq!(tokio::time::timeout(FAIL_AFTER, lone).await.unwrap(), 1);
        drop(tx);
        let mut none = Vec::new();
        assert_eq!(tokio::time::timeout(FAIL_AFTER, gather(&mut rx, &mut none, 100, HOUR)).await.unwrap(), 0);
    }
}
