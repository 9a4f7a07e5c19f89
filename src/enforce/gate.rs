//! The gate: the one place a call is admitted and a report settled, whatever the entry point
//! (the agent API today; the OpenAI-compatible proxy later). It owns the engine and the writer;
//! callers see two operations — [`Gate::admit`] and [`Gate::settle`] — plus authentication,
//! a usage snapshot that already counts reservations, and change notices from the console.

use super::admission::{Admission, Call, Reservation, ReservationId, Settling};
use super::engine::Engine;
use super::key_cache::KeyCache;
use super::ledger::TenantLedger;
use super::local::Ledgers;
use super::shared;
use super::writer::{Urgency, Writer};
use crate::agents::{keys, store as agents, Principal};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppError;
use crate::limits::{EnforcementMode, Policy, TokenLimit};
use crate::tenants::{store as tenants, TenantId};
use crate::usage::batch::{NewEvent, Recorded};
use crate::usage::model::{UsagePage, UsageQuery, UsageSnapshot};
use crate::usage::price_db::Prices;
use crate::usage::report::UsageReport;
use crate::usage::store as usage;
use std::sync::Arc;
use std::time::Duration;

/// How the gate behaves.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// How long an admitted call's reservation lasts if no report settles it.
    pub reservation_ttl_ms: i64,
    /// What calls cost: reports without `cost_usd`, and estimates reserved against budgets.
    pub prices: Arc<Prices>,
    /// The mode of tenants that have not chosen one (`--enforcement-mode`).
    pub default_mode: EnforcementMode,
}

/// A handle to the gate; cloning it is cheap.
#[derive(Clone)]
pub struct Gate(Arc<Inner>);

struct Inner {
    db: Db,
    clock: Clock,
    engine: Engine,
    writer: Writer,
    /// Only a single instance caches keys (see `key_cache`).
    keys: Option<KeyCache>,
    config: GateConfig,
}

/// The gate's background tasks: the writer and the upkeep (expiry, refreshes).
pub struct GateTasks {
    writer: tokio::task::JoinHandle<()>,
    upkeep: tokio::task::JoinHandle<()>,
}

impl GateTasks {
    /// Stops the upkeep and waits until the writer has committed every report it accepted. The
    /// writer stops once the last `Gate` handle is dropped, so drop the router first.
    pub async fn finish(self) {
        self.upkeep.abort();
        let _ = self.upkeep.await;
        let _ = self.writer.await;
    }
}

/// The answer for a key whose agent or tenant is gone.
fn gone() -> AppError {
    AppError::unauthorized("Invalid or revoked API key")
}

impl Gate {
    /// Starts the engine for this database, its writer and its upkeep.
    pub fn start(db: Db, clock: Clock, config: GateConfig) -> (Self, GateTasks) {
        let engine = Engine::for_backend(db.backend);
        let (writer, writer_task) = Writer::spawn(db.clone(), engine.clone());
        let keys = matches!(engine, Engine::Local(_)).then(KeyCache::default);
        let gate = Self(Arc::new(Inner { db, clock, engine, writer, keys, config }));
        let upkeep = tokio::spawn(upkeep(gate.clone()));
        (gate, GateTasks { writer: writer_task, upkeep })
    }

    /// The gate's clock (Unix ms): reports are priced at this instant.
    pub fn now(&self) -> i64 {
        self.0.clock.now_ms()
    }

    /// The prices in force, for validating reports.
    pub fn prices(&self) -> &Prices {
        &self.0.config.prices
    }

    /// The live agent holding this key, or 401.
    pub async fn authenticate(&self, key: &str) -> Result<Principal, AppError> {
        let pool = &self.0.db.pool;
        let found = match &self.0.keys {
            Some(cache) => {
                let digest = keys::digest(key);
                if let Some(principal) = cache.get(&digest) {
                    return Ok(principal);
                }
                let found = agents::find_by_key_hash(pool, &hex::encode(digest)).await?;
                if let Some(principal) = &found {
                    cache.insert(digest, principal.clone());
                }
                found
            }
            None => agents::find_by_key_hash(pool, &keys::hash(key)).await?,
        };
        found.ok_or_else(gone)
    }

    /// Decides whether `agent` may make `call` now, in the tenant's mode; an admitted call
    /// with an estimate holds a reservation until its report settles it (or it expires). A
    /// call monitor mode lets through that enforce would refuse is counted.
    pub async fn admit(&self, agent: &Principal, call: Call) -> Result<Admission, AppError> {
        let now = self.now();
        let (demand, ttl_ms) = (call.demand(&*self.0.config.prices, self.now()), self.0.config.reservation_ttl_ms);
        let (default_mode, user_id) = (self.0.config.default_mode, call.user_id.as_deref());
        let admission = match &self.0.engine {
            Engine::Local(ledgers) => {
                self.with_ledger(ledgers, &agent.tenant_id, now, |ledger| {
                    let reservation = Reservation { id: ReservationId::random(), expires_at: now + ttl_ms };
                    let mode = ledger.policy().mode_or(default_mode);
                    ledger.admit(now, mode, user_id, demand, reservation)
                })
                .await?
            }
            Engine::Shared => {
                let request =
                    shared::Request { tenant_id: &agent.tenant_id, user_id, demand, now, ttl_ms, default_mode };
                shared::admit(&self.0.db, request).await?
            }
        };
        crate::metrics::check(agent.tenant_id.as_str(), &admission.decision);
        if admission.decision.would_refuse.is_some() {
            match &self.0.engine {
                Engine::Local(_) => self.0.writer.count_would_refuse(&agent.tenant_id, admission.period.start),
                Engine::Shared => {
                    let counted =
                        usage::add_would_refuse(&self.0.db.pool, agent.tenant_id.as_str(), admission.period.start, 1)
                            .await;
                    if let Err(e) = counted {
                        tracing::warn!(error = %e, "counting a monitored refusal failed");
                    }
                }
            }
        }
        Ok(admission)
    }

    /// The mode tenants without one of their own are in.
    pub fn default_mode(&self) -> EnforcementMode {
        self.0.config.default_mode
    }

    /// Records a report of `agent`'s and settles the reservation it names. Idempotent: a
    /// repeated `event_id` changes nothing and is answered what the first report was.
    pub async fn settle(&self, agent: &Principal, report: UsageReport) -> Result<Recorded, AppError> {
        self.record(agent, report, Urgency::Now).await
    }

    /// [`Gate::settle`] for a caller that has already answered its client (the proxy): the
    /// writer may hold the report a few milliseconds to commit it with others. The call's
    /// reservation holds until then, so admission stays exact.
    pub async fn settle_behind(&self, agent: &Principal, report: UsageReport) -> Result<Recorded, AppError> {
        self.record(agent, report, Urgency::Behind).await
    }

    async fn record(&self, agent: &Principal, report: UsageReport, urgency: Urgency) -> Result<Recorded, AppError> {
        let now = self.now();
        let policy = self.policy(&agent.tenant_id, now).await?;
        let period = policy.period_at(now);
        // An id that is not one of ours settles nothing; the usage still counts.
        let settles = report.reservation_id.as_deref().and_then(ReservationId::parse);
        let event = NewEvent {
            tenant_id: agent.tenant_id.clone(),
            agent_id: agent.agent_id,
            report,
            occurred_at: now,
            period_start: period.start,
            resets_at: period.resets_at,
            token_limit: policy.token_limit.map(TokenLimit::get),
            budget: policy.budget,
        };
        self.0.writer.record(event, settles, urgency).await
    }

    /// Gives back an admitted call's reservation without recording usage: the call was not
    /// made, or failed upstream and is not charged. Releasing one twice, or one already
    /// settled or expired, changes nothing.
    pub async fn release(&self, tenant_id: &TenantId, reservation: ReservationId) -> Result<(), AppError> {
        let settling = Settling { tenant_id: tenant_id.clone(), reservation };
        match &self.0.engine {
            Engine::Local(ledgers) => {
                ledgers.with(tenant_id, |l| l.settle(reservation))?;
            }
            Engine::Shared => {
                let mut tx = self.0.db.pool.begin().await?;
                shared::settle(&mut tx, &settling).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// One tenant's usage in its current period, reservations included; `None`: no such tenant.
    pub async fn usage_snapshot(&self, tenant_id: &TenantId) -> Result<Option<UsageSnapshot>, AppError> {
        let now = self.now();
        let pool = &self.0.db.pool;
        let Some(tenant) = tenants::get(pool, tenant_id).await? else { return Ok(None) };
        let policy = tenant.policy();
        let period = policy.period_at(now);
        let counters = usage::period_counters(pool, tenant_id, period.start).await?;
        let (reserved_tokens, reserved_micros) = match &self.0.engine {
            Engine::Local(ledgers) => ledgers
                .with(tenant_id, |l| {
                    let u = l.usage_at(now);
                    (u.reserved_tokens, u.reserved_micros)
                })?
                .unwrap_or((0, 0)),
            Engine::Shared => (counters.reserved_tokens.max(0) as u64, counters.reserved_cost_micros.max(0) as u64),
        };
        Ok(Some(UsageSnapshot {
            tenant_id: tenant_id.clone(),
            display_name: tenant.display_name,
            policy,
            period,
            counters,
            reserved_tokens,
            reserved_micros,
            now,
        }))
    }

    /// One page of the usage table, reservations included; only `scope`'s row when given.
    pub async fn usage_page(&self, query: &UsageQuery, scope: Option<&TenantId>) -> Result<UsagePage, AppError> {
        let now = self.now();
        let mut page = usage::list_usage(&self.0.db.pool, query, scope, self.default_mode(), now).await?;
        if let Engine::Local(ledgers) = &self.0.engine {
            // Local reservations live in memory, not in the counter rows the query read.
            for row in &mut page.rows {
                let Ok(id) = TenantId::parse(&row.tenant_id) else { continue };
                let reserved = ledgers.with(&id, |l| l.usage_at(now).reserved_tokens)?;
                row.reserved_tokens = reserved.unwrap_or(0) as i64;
            }
        }
        Ok(page)
    }

    /// A tenant's policy changed in this process: checks see it from the next call on.
    pub async fn tenant_changed(&self, tenant_id: &TenantId) -> Result<(), AppError> {
        if let Engine::Local(ledgers) = &self.0.engine {
            if ledgers.is_loaded(tenant_id) {
                self.0.writer.load_tenant(tenant_id, self.now()).await?;
            }
        }
        Ok(())
    }

    /// An agent's key was revoked in this process: its next call is refused.
    pub fn agent_revoked(&self, agent_id: i64) {
        if let Some(cache) = &self.0.keys {
            cache.evict_agent(agent_id);
        }
    }

    /// The tenant's policy now (from its ledger in local mode, else from the database).
    async fn policy(&self, tenant_id: &TenantId, now: i64) -> Result<Policy, AppError> {
        match &self.0.engine {
            Engine::Local(ledgers) => self.with_ledger(ledgers, tenant_id, now, |l| l.policy()).await,
            Engine::Shared => {
                let tenant = tenants::get(&self.0.db.pool, tenant_id).await?.ok_or_else(gone)?;
                Ok(tenant.policy())
            }
        }
    }

    /// Runs `f` on the tenant's local ledger, first loading it through the writer (in order
    /// with commits) when this process has not seen the tenant yet.
    async fn with_ledger<T>(
        &self,
        ledgers: &Ledgers,
        tenant_id: &TenantId,
        now: i64,
        f: impl Fn(&mut TenantLedger) -> T,
    ) -> Result<T, AppError> {
        if let Some(value) = ledgers.with(tenant_id, &f)? {
            return Ok(value);
        }
        if !self.0.writer.load_tenant(tenant_id, now).await? {
            return Err(gone());
        }
        ledgers.with(tenant_id, &f)?.ok_or_else(gone)
    }
}

/// The tenants' usage ratios for `/metrics`: the highest get a series each (capped), and the
/// number at or over their limit.
async fn export_tenant_usage(gate: &Gate, now: i64) {
    match usage::token_usage_ratios(&gate.0.db.pool, now).await {
        Ok(mut ratios) => {
            ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
            let over = ratios.iter().filter(|(_, r)| *r >= 1.0).count() as u64;
            crate::metrics::tenant_usage(&ratios, over);
        }
        Err(e) => tracing::warn!(error = %e, "reading tenant usage for metrics failed"),
    }
}

/// Background upkeep, every second: release expired reservations; in local mode also, every
/// five seconds, re-read policies and forget cached keys, so that changes made by another
/// process (the CLI) take effect.
async fn upkeep(gate: Gate) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for n in 1u64.. {
        tick.tick().await;
        let now = gate.now();
        if n.is_multiple_of(5) {
            crate::metrics::upkeep();
        }
        if n.is_multiple_of(15) {
            export_tenant_usage(&gate, now).await;
        }
        match &gate.0.engine {
            Engine::Local(ledgers) => {
                crate::metrics::reservations_open(ledgers.sweep(now));
                if n.is_multiple_of(5) {
                    if let Some(cache) = &gate.0.keys {
                        cache.clear();
                    }
                    match ledgers.refresh_policies(&gate.0.db.pool).await {
                        Ok(reload) => {
                            for tenant_id in reload {
                                if let Err(e) = gate.0.writer.load_tenant(&tenant_id, now).await {
                                    tracing::warn!(error = %e, "reloading a tenant's overrides failed");
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "refreshing tenant policies failed"),
                    }
                }
            }
            Engine::Shared => match shared::sweep(&gate.0.db, now).await {
                Ok(open) => crate::metrics::reservations_open(open),
                Err(e) => tracing::warn!(error = %e, "releasing expired reservations failed"),
            },
        }
    }
}
