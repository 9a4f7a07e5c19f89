//! What recording a batch of reports does, decided before anything is written: which events
//! are new and which are replays (of an event recorded before, or of one earlier in the same
//! batch), what each is answered, and what each counter gains. Pure — `store::record_batch`
//! reads the locked counters and the ids seen before, asks [`plan`], then writes the plan.

use super::pricing::CostSource;
use super::report::{micros_to_usd, ReportResult, UsageReport};
use crate::budgets::rules::{AlertKind, BudgetConfig};
use crate::limits::period::rfc3339;
use crate::tenants::TenantId;
use std::collections::HashMap;

/// A tenant's running totals for one budget period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every prompt token, cached ones included.
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Of `input_tokens`: read from a prompt cache, and written to one (5-minute and 1-hour).
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Of `output_tokens`: spent reasoning.
    pub reasoning_tokens: i64,
    pub cost_micros: i64,
    pub event_count: i64,
    /// Events of a model without a price and without a reported cost (recorded at $0).
    pub unpriced_events: i64,
    /// Tokens held by open reservations (shared mode; 0 in local mode, where they are in memory).
    pub reserved_tokens: i64,
    /// Spend held by open reservations, micro-USD (shared mode, as `reserved_tokens`).
    pub reserved_cost_micros: i64,
    /// Calls monitor mode let through that enforce mode would have refused.
    pub would_refuse_count: i64,
}

impl Counters {
    pub fn total_tokens(&self) -> u64 {
        (self.input_tokens + self.output_tokens).max(0) as u64
    }

    fn add(&mut self, report: &UsageReport) {
        self.input_tokens += report.usage.input_tokens;
        self.output_tokens += report.usage.output_tokens;
        self.cache_read_tokens += report.usage.cache_read_tokens;
        self.cache_write_tokens += report.usage.cache_write_tokens();
        self.reasoning_tokens += report.usage.reasoning_tokens;
        self.cost_micros += report.cost_micros;
        self.event_count += 1;
        self.unpriced_events += i64::from(report.cost_source == CostSource::UnknownModel);
    }

    fn minus(self, other: Counters) -> Counters {
        Counters {
            input_tokens: self.input_tokens - other.input_tokens,
            output_tokens: self.output_tokens - other.output_tokens,
            cache_read_tokens: self.cache_read_tokens - other.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens - other.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens - other.reasoning_tokens,
            cost_micros: self.cost_micros - other.cost_micros,
            event_count: self.event_count - other.event_count,
            unpriced_events: self.unpriced_events - other.unpriced_events,
            reserved_tokens: self.reserved_tokens - other.reserved_tokens,
            reserved_cost_micros: self.reserved_cost_micros - other.reserved_cost_micros,
            would_refuse_count: self.would_refuse_count - other.would_refuse_count,
        }
    }
}

/// An event ready to be stored: the report plus what the gate decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub tenant_id: TenantId,
    pub agent_id: i64,
    pub report: UsageReport,
    pub occurred_at: i64,
    /// The budget period the event counts toward, and the tenant's limit at the time: both go
    /// into the stored answer.
    pub period_start: i64,
    pub resets_at: i64,
    pub token_limit: Option<u64>,
    /// The tenant's budget at the time, for the answer's budget figures.
    pub budget: Option<BudgetConfig>,
}

impl NewEvent {
    /// The counter row this event adds to.
    pub fn counter_key(&self) -> CounterKey<'_> {
        CounterKey { tenant_id: self.tenant_id.as_str(), period_start: self.period_start }
    }

    /// The idempotency key: an event id counts once per tenant.
    pub fn event_key(&self) -> EventKey<'_> {
        EventKey { tenant_id: self.tenant_id.as_str(), event_id: self.report.event_id.as_str() }
    }

    /// The answer to this event when the tenant's counter reads `after` once it is counted.
    fn result(&self, after: &Counters) -> ReportResult {
        let used_tokens = after.total_tokens();
        ReportResult {
            event_id: self.report.event_id.clone(),
            tenant_id: self.tenant_id.to_string(),
            cost_usd: micros_to_usd(self.report.cost_micros),
            used_tokens,
            token_limit: self.token_limit,
            remaining_tokens: self.token_limit.map(|l| l.saturating_sub(used_tokens)),
            resets_at: rfc3339(self.resets_at),
            cost_source: self.report.cost_source,
            spend_usd: micros_to_usd(after.cost_micros),
            max_budget_usd: self.budget.map(|b| micros_to_usd(b.max_budget_micros)),
            budget_state: self.budget.map(|b| b.state(after.cost_micros)),
        }
    }
}

/// One counter row: a tenant and a period. Ordered, because rows are locked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterKey<'a> {
    pub tenant_id: &'a str,
    pub period_start: i64,
}

/// One user's counter row: a tenant, a user and a period, ordered as rows are locked (always
/// after the tenants' rows of the same transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserCounterKey<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub period_start: i64,
}

/// A user's committed counter after a batch, for the local ledgers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTotal {
    pub tenant_id: TenantId,
    pub user_id: String,
    pub period_start: i64,
    pub used_tokens: u64,
}

/// What a committed batch leaves in the counters: each tenant's newest period, and the user
/// counters it moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub tenants: HashMap<TenantId, CommittedTotal>,
    pub users: Vec<UserTotal>,
}

/// One event's identity for idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey<'a> {
    pub tenant_id: &'a str,
    pub event_id: &'a str,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `false` when the event id had been recorded before: nothing changed, and `result` is
    /// the answer the first report got.
    pub recorded: bool,
    pub result: ReportResult,
}

/// The committed counter of one tenant's newest period in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedTotal {
    pub period_start: i64,
    pub used_tokens: u64,
    pub spend_micros: u64,
}

/// An event id recorded before this batch, with the answer stored with it (`None` for events
/// recorded before answers were stored).
pub type Seen<'a> = HashMap<EventKey<'a>, Option<ReportResult>>;

/// What to write for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'a> {
    /// Each event's outcome, in the batch's order.
    pub outcomes: Vec<Recorded>,
    /// The events to insert (the new ones), by index into the batch.
    pub fresh: Vec<usize>,
    /// What each counter gains, in lock order; counters that gain nothing are left out.
    pub gains: Vec<(CounterKey<'a>, Counters)>,
    /// Each counter's total once the batch is written.
    pub totals: HashMap<CounterKey<'a>, Counters>,
    /// What each user counter gains from the new events that name a user, in lock order.
    pub user_gains: Vec<(UserCounterKey<'a>, Counters)>,
}

/// The counter rows a batch touches, sorted (the order they are locked in) and distinct.
pub fn counter_keys(events: &[NewEvent]) -> Vec<CounterKey<'_>> {
    let mut keys: Vec<_> = events.iter().map(NewEvent::counter_key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Plans a batch from the counters as locked (`before`, missing rows read as zero) and the ids
/// recorded before. Events are taken in order: a seen id or a repeat within the batch is a
/// replay and changes nothing; a new event adds to its counter and is answered with the
/// counter's total after it.
pub fn plan<'a>(events: &'a [NewEvent], before: &HashMap<CounterKey<'a>, Counters>, seen: &Seen<'a>) -> Plan<'a> {
    let mut totals = before.clone();
    let mut outcomes: Vec<Recorded> = Vec::with_capacity(events.len());
    let mut first_of: HashMap<EventKey<'a>, usize> = HashMap::new();
    let mut fresh = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let key = e.event_key();
        let replay = if let Some(stored) = seen.get(&key) {
            // Events recorded before answers were stored get the tenant's current usage.
            let now = totals.get(&e.counter_key()).copied().unwrap_or_default();
            Some(stored.clone().unwrap_or_else(|| e.result(&now)))
        } else {
            first_of.get(&key).map(|&first| outcomes[first].result.clone())
        };
        if let Some(result) = replay {
            outcomes.push(Recorded { recorded: false, result });
            continue;
        }
        let counter = totals.entry(e.counter_key()).or_default();
        counter.add(&e.report);
        let result = e.result(counter);
        first_of.insert(key, i);
        fresh.push(i);
        outcomes.push(Recorded { recorded: true, result });
    }
    let gains = counter_keys(events)
        .into_iter()
        .filter_map(|k| {
            let from = before.get(&k).copied().unwrap_or_default();
            let to = totals.get(&k).copied().unwrap_or_default();
            (to != from).then(|| (k, to.minus(from)))
        })
        .collect();
    let user_gains = user_gains(events, &fresh);
    Plan { outcomes, fresh, gains, totals, user_gains }
}

/// What the new events add to each user's counter (events without a user add to none).
fn user_gains<'a>(events: &'a [NewEvent], fresh: &[usize]) -> Vec<(UserCounterKey<'a>, Counters)> {
    let mut gains: HashMap<UserCounterKey<'a>, Counters> = HashMap::new();
    for &i in fresh {
        let e = &events[i];
        let Some(user_id) = e.report.user_id.as_deref() else { continue };
        let key = UserCounterKey { tenant_id: e.tenant_id.as_str(), user_id, period_start: e.period_start };
        gains.entry(key).or_default().add(&e.report);
    }
    let mut gains: Vec<_> = gains.into_iter().collect();
    gains.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    gains
}

/// A budget alert a batch has reached: the store inserts it unless this tenant's period
/// already has one of its kind (each kind fires at most once per tenant per period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachedAlert<'a> {
    pub key: CounterKey<'a>,
    pub kind: AlertKind,
    pub budget: BudgetConfig,
    /// The spend after the batch, micro-USD.
    pub spend_micros: i64,
    /// The newest event's time in the batch.
    pub at: i64,
}

impl<'a> Plan<'a> {
    /// The alerts reached by the counters this batch moved, judged by each tenant's budget as
    /// its newest event carried it and the spend after the batch.
    pub fn alerts(&self, events: &'a [NewEvent]) -> Vec<ReachedAlert<'a>> {
        let mut newest: HashMap<CounterKey<'a>, &NewEvent> = HashMap::new();
        for &i in &self.fresh {
            let e = &events[i];
            let slot = newest.entry(e.counter_key()).or_insert(e);
            if e.occurred_at >= slot.occurred_at {
                *slot = e;
            }
        }
        let mut reached = Vec::new();
        for (key, _) in &self.gains {
            let Some(e) = newest.get(key) else { continue };
            let Some(budget) = e.budget else { continue };
            let spend = self.totals.get(key).map_or(0, |c| c.cost_micros);
            let elapsed = e.occurred_at - key.period_start;
            let period = e.resets_at - key.period_start;
            for kind in budget.alerts_reached(spend, elapsed, period) {
                reached.push(ReachedAlert { key: *key, kind, budget, spend_micros: spend, at: e.occurred_at });
            }
        }
        reached
    }
}

impl Plan<'_> {
    /// Each tenant's newest period's total after the batch: what the local ledgers take.
    pub fn committed_totals(&self) -> HashMap<TenantId, CommittedTotal> {
        let mut committed: HashMap<TenantId, CommittedTotal> = HashMap::new();
        for (key, counters) in &self.totals {
            let Ok(tenant_id) = TenantId::parse(key.tenant_id) else { continue };
            let total = CommittedTotal {
                period_start: key.period_start,
                used_tokens: counters.total_tokens(),
                spend_micros: counters.cost_micros.max(0) as u64,
            };
            committed
                .entry(tenant_id)
                .and_modify(|newest| {
                    if total.period_start >= newest.period_start {
                        *newest = total;
                    }
                })
                .or_insert(total);
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn event(tenant: &str, id: &str, period_start: i64, input: i64, output: i64) -> NewEvent {
        NewEvent {
            tenant_id: TenantId::parse(tenant).expect("valid id"),
            agent_id: 1,
            report: UsageReport {
                event_id: id.into(),
                model: "m".into(),
                usage: crate::usage::tokens::TokenUsage::plain(input, output),
                user_id: None,
                cost_micros: input + 2 * output,
                cost_source: CostSource::GenaiPrices,
                reservation_id: None,
            },
            occurred_at: period_start,
            period_start,
            resets_at: period_start + 1_000,
            token_limit: Some(1_000),
            budget: None,
        }
    }

    #[test]
    fn new_events_count_and_replays_do_not() {
        let events = vec![event("a", "1", 0, 10, 5), event("a", "1", 0, 10, 5), event("a", "2", 0, 1, 1)];
        let p = plan(&events, &HashMap::new(), &HashMap::new());
        assert_eq!(p.outcomes.iter().map(|o| o.recorded).collect::<Vec<_>>(), [true, false, true]);
        assert_eq!(p.outcomes[1].result, p.outcomes[0].result, "a repeat in the batch answers like the first");
        assert_eq!(p.outcomes[2].result.used_tokens, 17);
        assert_eq!(p.fresh, [0, 2]);
        let key = CounterKey { tenant_id: "a", period_start: 0 };
        let gain =
            Counters { input_tokens: 11, output_tokens: 6, cost_micros: 23, event_count: 2, ..Counters::default() };
        assert_eq!(p.gains, [(key, gain)]);
    }

    #[test]
    fn an_id_seen_before_gets_its_stored_answer() {
        let events = vec![event("a", "old", 0, 10, 5)];
        let stored = events[0].result(&Counters { input_tokens: 999, ..Counters::default() });
        let seen: Seen = HashMap::from([(events[0].event_key(), Some(stored.clone()))]);
        let p = plan(&events, &HashMap::new(), &seen);
        assert_eq!(p.outcomes, [Recorded { recorded: false, result: stored }]);
        assert!(p.fresh.is_empty() && p.gains.is_empty());
    }

    #[test]
    fn a_batch_reaches_the_alerts_of_its_spend() {
        let budget = BudgetConfig::parse(&crate::budgets::rules::BudgetForm::of(None)).expect("defaults");
        let mut events = vec![event("a", "1", 0, 0, 0), event("a", "2", 0, 0, 0), event("b", "1", 0, 0, 0)];
        for e in &mut events {
            e.budget = Some(budget);
        }
        events[0].report.cost_micros = 300_000_000; // $300 of $500: ok
        events[1].report.cost_micros = 110_000_000; // $410: 82 %, past the alert threshold
        events[2].report.cost_micros = 600_000_000; // b: $600, 120 %: blocked
        let p = plan(&events, &HashMap::new(), &HashMap::new());
        let mut kinds: Vec<(&str, AlertKind)> = p.alerts(&events).iter().map(|a| (a.key.tenant_id, a.kind)).collect();
        kinds.sort();
        use AlertKind::*;
        assert_eq!(kinds, [("a", Threshold), ("b", Threshold), ("b", Exceeded), ("b", Blocked)]);
        let replay = plan(&events[..1], &HashMap::new(), &HashMap::from([(events[0].event_key(), None)]));
        assert!(replay.alerts(&events[..1]).is_empty(), "a replay moves nothing, so reaches nothing");
    }

    #[test]
    fn committed_totals_take_each_tenants_newest_period() {
        let events = vec![event("a", "1", 0, 1, 0), event("a", "2", 1_000, 2, 0), event("b", "1", 0, 3, 0)];
        let totals = plan(&events, &HashMap::new(), &HashMap::new()).committed_totals();
        let a = TenantId::parse("a").expect("id");
        assert_eq!(totals[&a], CommittedTotal { period_start: 1_000, used_tokens: 2, spend_micros: 2 });
        assert_eq!(totals.len(), 2);
    }

    /// A batch: events over three tenants, two periods and a handful of ids (so repeats are
    /// common), counters that already hold something, and ids recorded before.
    /// Events, counters already held (tenant, period, tokens), ids recorded before.
    type Batch = (Vec<NewEvent>, Vec<(usize, i64, i64)>, Vec<usize>);

    fn batch() -> impl Strategy<Value = Batch> {
        let one =
            (0usize..3, 0usize..6, 0i64..2, 0i64..1_000, 0i64..1_000, 0usize..3).prop_map(|(t, id, p, i, o, u)| {
                let mut e = event(["a", "b", "c"][t], &format!("e{id}"), p * 1_000, i, o);
                e.report.user_id = (u > 0).then(|| format!("user{u}"));
                e
            });
        (
            prop::collection::vec(one, 0..40),
            prop::collection::vec((0usize..40, 0i64..10_000, 0i64..10_000), 0..5),
            prop::collection::vec(0usize..40, 0..5),
        )
    }

    proptest! {
        /// The plan against a model that records events one at a time with a set of seen ids:
        /// same outcomes, the counters end where the model's do, and the gains are exactly
        /// what the new events add.
        #[test]
        fn a_batch_does_what_recording_its_events_one_by_one_does((events, prior, seen_at) in batch()) {
            let mut before: HashMap<CounterKey, Counters> = HashMap::new();
            for (i, input, output) in prior {
                if let Some(e) = events.get(i) {
                    before.insert(e.counter_key(), Counters { input_tokens: input, output_tokens: output, ..Counters::default() });
                }
            }
            let stored = Counters { input_tokens: 7, ..Counters::default() };
            let seen: Seen = seen_at.iter().filter_map(|&i| events.get(i)).map(|e| (e.event_key(), Some(e.result(&stored)))).collect();

            let p = plan(&events, &before, &seen);

            // The model: one event at a time.
            let mut ids: HashSet<(String, String)> = seen.keys().map(|k| (k.tenant_id.to_owned(), k.event_id.to_owned())).collect();
            let mut model: HashMap<(String, i64), (i64, i64, i64)> = before.iter()
                .map(|(k, c)| ((k.tenant_id.to_owned(), k.period_start), (c.input_tokens, c.output_tokens, c.event_count)))
                .collect();
            let mut users: HashMap<(String, String, i64), (i64, i64)> = HashMap::new();
            for (i, e) in events.iter().enumerate() {
                let new = ids.insert((e.tenant_id.to_string(), e.report.event_id.clone()));
                if let (true, Some(user)) = (new, &e.report.user_id) {
                    let u = users.entry((e.tenant_id.to_string(), user.clone(), e.period_start)).or_default();
                    *u = (u.0 + e.report.total_tokens(), u.1 + 1);
                }
                prop_assert_eq!(p.outcomes[i].recorded, new, "event {}", i);
                prop_assert_eq!(p.fresh.contains(&i), new);
                if new {
                    let c = model.entry((e.tenant_id.to_string(), e.period_start)).or_default();
                    *c = (c.0 + e.report.usage.input_tokens, c.1 + e.report.usage.output_tokens, c.2 + 1);
                    prop_assert_eq!(p.outcomes[i].result.used_tokens, (c.0 + c.1) as u64);
                }
            }
            for ((tenant, period), (input, output, count)) in &model {
                let key = CounterKey { tenant_id: tenant, period_start: *period };
                let total = p.totals.get(&key).copied().unwrap_or_default();
                prop_assert_eq!((total.input_tokens, total.output_tokens, total.event_count), (*input, *output, *count));
                let gained = p.gains.iter().find(|(k, _)| *k == key).map(|(_, g)| *g).unwrap_or_default();
                let from = before.get(&key).copied().unwrap_or_default();
                prop_assert_eq!(gained.input_tokens, input - from.input_tokens);
                prop_assert_eq!(gained.event_count, count - from.event_count);
            }
            // Each user counter gains exactly what the user's new events add, in lock order.
            let planned: HashMap<(String, String, i64), (i64, i64)> = p.user_gains.iter()
                .map(|(k, c)| ((k.tenant_id.to_owned(), k.user_id.to_owned(), k.period_start), (c.input_tokens + c.output_tokens, c.event_count)))
                .collect();
            prop_assert_eq!(planned, users);
            prop_assert!(p.user_gains.windows(2).all(|w| w[0].0 < w[1].0));
            // Gains come in lock order, each counter once, none empty.
            prop_assert!(p.gains.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(p.gains.iter().all(|(_, g)| *g != Counters::default()));
        }

        /// Replays are answered exactly what the first report of their id was.
        #[test]
        fn a_replay_in_the_batch_repeats_the_first_answer((events, _, _) in batch()) {
            let p = plan(&events, &HashMap::new(), &HashMap::new());
            let mut first: HashMap<EventKey, &ReportResult> = HashMap::new();
            for (e, o) in events.iter().zip(&p.outcomes) {
                match first.get(&e.event_key()) {
                    Some(r) => prop_assert_eq!(&o.result, *r),
                    None => { first.insert(e.event_key(), &o.result); }
                }
            }
        }
    }
}
