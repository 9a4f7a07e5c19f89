//! USD budget rules from PRODUCT.md, shared by the browser and the server: what a valid budget
//! configuration is, the four states and their colours, the block amount, and which alerts a
//! spend has reached. Money is integer micro-USD (1e-6 USD) throughout, so sums never drift.

use crate::format::format_usd;
use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

pub const MICROS_PER_USD: i64 = 1_000_000;
/// The largest budget accepted: one billion dollars.
pub const MAX_BUDGET_USD: i64 = 1_000_000_000;
pub const DEFAULT_MAX_BUDGET_USD: i64 = 500;
pub const DEFAULT_ALERT_THRESHOLD_PCT: u32 = 80;
pub const DEFAULT_GRACE_THRESHOLD_PCT: u32 = 110;
pub const ALERT_THRESHOLD_RANGE: (u32, u32) = (50, 100);
pub const GRACE_THRESHOLD_RANGE: (u32, u32) = (100, 150);
/// A projection needs this much of the period behind it: a burn rate from the first minutes
/// says nothing.
pub const PROJECTION_MIN_ELAPSED_MS: i64 = 86_400_000;

/// How long a budget period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BudgetDuration {
    #[default]
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "60d")]
    Days60,
    #[serde(rename = "90d")]
    Days90,
}

impl BudgetDuration {
    pub const ALL: [Self; 3] = [Self::Days30, Self::Days60, Self::Days90];

    /// `30d`, `60d` or `90d`: the form's and the API's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Days30 => "30d",
            Self::Days60 => "60d",
            Self::Days90 => "90d",
        }
    }

    pub fn days(self) -> u32 {
        match self {
            Self::Days30 => 30,
            Self::Days60 => 60,
            Self::Days90 => 90,
        }
    }

    /// The duration whose length is `days`, if it is one of the three.
    pub fn from_days(days: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.days() == days)
    }

    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == text.trim())
            .ok_or_else(|| FieldError::new("budget_duration", "must be 30d, 60d or 90d"))
    }
}

/// A tenant's budget, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetConfig {
    /// Whole cents, as micro-USD.
    pub max_budget_micros: i64,
    pub alert_threshold_pct: u32,
    pub grace_threshold_pct: u32,
    pub budget_duration: BudgetDuration,
}

/// The budget form as typed: every field is text, checked by [`BudgetConfig::parse`] in the
/// browser while typing and again on the server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetForm {
    pub max_budget: String,
    pub alert_threshold: String,
    pub grace_threshold: String,
    pub budget_duration: String,
}

impl BudgetForm {
    /// The form filled with a configuration (or the defaults).
    pub fn of(config: Option<&BudgetConfig>) -> Self {
        match config {
            Some(c) => Self {
                max_budget: usd_text(c.max_budget_micros),
                alert_threshold: c.alert_threshold_pct.to_string(),
                grace_threshold: c.grace_threshold_pct.to_string(),
                budget_duration: c.budget_duration.as_str().to_owned(),
            },
            None => Self {
                max_budget: DEFAULT_MAX_BUDGET_USD.to_string(),
                alert_threshold: DEFAULT_ALERT_THRESHOLD_PCT.to_string(),
                grace_threshold: DEFAULT_GRACE_THRESHOLD_PCT.to_string(),
                budget_duration: BudgetDuration::default().as_str().to_owned(),
            },
        }
    }
}

/// `500000000` micros → `"500"`, `500500000` → `"500.50"`: a money amount as a form shows it.
pub fn usd_text(micros: i64) -> String {
    let cents = micros / 10_000;
    if cents % 100 == 0 {
        (cents / 100).to_string()
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

/// Parses an amount of dollars with at most two decimals (`500`, `500.5`, `0.01`), greater
/// than zero and at most a billion, into micro-USD.
pub fn parse_usd(field: &str, input: &str) -> Result<i64, FieldError> {
    let text = input.trim().trim_start_matches('$');
    let err = |m: &str| Err(FieldError::new(field, m));
    if text.is_empty() {
        return err("required");
    }
    if text.starts_with('-') {
        return err("must be greater than $0");
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return err("must be an amount in dollars, like 500 or 250.50");
    }
    if fraction.len() > 2 {
        return err("must be in whole cents (at most two decimals)");
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 10 {
        return err("must be at most $1,000,000,000");
    }
    let dollars: i64 =
        if whole.is_empty() { 0 } else { whole.parse().map_err(|_| FieldError::new(field, "too large"))? };
    let cents: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
    let micros = dollars * MICROS_PER_USD + cents * 10_000;
    if micros <= 0 {
        return err("must be greater than $0");
    }
    if micros > MAX_BUDGET_USD * MICROS_PER_USD {
        return err("must be at most $1,000,000,000");
    }
    Ok(micros)
}

/// A whole percentage within `range`, for the threshold sliders.
fn parse_pct(field: &str, input: &str, (low, high): (u32, u32)) -> Result<u32, FieldError> {
    let message = format!("must be a whole percentage from {low} to {high}");
    let value: u32 = input.trim().trim_end_matches('%').parse().map_err(|_| FieldError::new(field, &message))?;
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(field, message))
    }
}

impl BudgetConfig {
    /// The budget as stored in a tenant's row (`None` without one). Stored values were
    /// validated when saved; anything out of range reads as no budget rather than a guess.
    pub fn from_stored(
        max_budget_micros: Option<i64>,
        alert_pct: i64,
        grace_pct: i64,
        period_days: i64,
    ) -> Option<Self> {
        let max_budget_micros = max_budget_micros.filter(|m| *m > 0)?;
        let alert_threshold_pct = u32::try_from(alert_pct).ok().filter(|p| (50..=100).contains(p))?;
        let grace_threshold_pct = u32::try_from(grace_pct).ok().filter(|p| (100..=150).contains(p))?;
        let budget_duration = u32::try_from(period_days).ok().and_then(BudgetDuration::from_days).unwrap_or_default();
        Some(Self { max_budget_micros, alert_threshold_pct, grace_threshold_pct, budget_duration })
    }

    /// Validates the whole form; every invalid field gets its own error.
    pub fn parse(form: &BudgetForm) -> Result<Self, Vec<FieldError>> {
        let max = parse_usd("max_budget", &form.max_budget);
        let alert = parse_pct("alert_threshold", &form.alert_threshold, ALERT_THRESHOLD_RANGE);
        let grace = parse_pct("grace_threshold", &form.grace_threshold, GRACE_THRESHOLD_RANGE);
        let duration = BudgetDuration::parse(&form.budget_duration);
        match (max, alert, grace, duration) {
            (Ok(max_budget_micros), Ok(alert_threshold_pct), Ok(grace_threshold_pct), Ok(budget_duration)) => {
                Ok(Self { max_budget_micros, alert_threshold_pct, grace_threshold_pct, budget_duration })
            }
            (max, alert, grace, duration) => {
                let mut errors = Vec::new();
                errors.extend(max.err());
                errors.extend(alert.err());
                errors.extend(grace.err());
                errors.extend(duration.err());
                Err(errors)
            }
        }
    }

    /// The spend at which calls are refused: max budget × grace threshold. Exact: a budget is
    /// whole cents (10 000 micros), so the product is a multiple of 100.
    pub fn block_amount_micros(&self) -> i64 {
        self.max_budget_micros / 100 * i64::from(self.grace_threshold_pct)
    }

    /// The state of a spend (micro-USD) against this budget.
    pub fn state(&self, spend_micros: i64) -> BudgetState {
        // pct >= t  <=>  spend × 100 >= max × t, in integers so no float rounds across a line.
        let reached = |pct: u32| i128::from(spend_micros) * 100 >= i128::from(self.max_budget_micros) * i128::from(pct);
        if reached(self.grace_threshold_pct) {
            BudgetState::Blocked
        } else if reached(100) {
            BudgetState::Grace
        } else if reached(self.alert_threshold_pct) {
            BudgetState::Alert
        } else {
            BudgetState::Ok
        }
    }

    /// Spend as a percentage of the max budget, as the JSON API reports it.
    pub fn percent_used(&self, spend_micros: i64) -> f64 {
        spend_micros as f64 / self.max_budget_micros as f64 * 100.0
    }

    /// "Will block at $550.00 (110% of $500.00)".
    pub fn block_text(&self) -> String {
        format!(
            "Will block at {} ({}% of {})",
            format_usd(self.block_amount_micros()),
            self.grace_threshold_pct,
            format_usd(self.max_budget_micros)
        )
    }

    /// The alerts a spend has reached in a period `period_ms` long of which `elapsed_ms` have
    /// passed. Each fires once per period; which have fired is the store's business.
    pub fn alerts_reached(&self, spend_micros: i64, elapsed_ms: i64, period_ms: i64) -> Vec<AlertKind> {
        let state = self.state(spend_micros);
        let mut reached = Vec::new();
        if state >= BudgetState::Alert {
            reached.push(AlertKind::Threshold);
        }
        if state >= BudgetState::Grace {
            reached.push(AlertKind::Exceeded);
        }
        if state >= BudgetState::Blocked {
            reached.push(AlertKind::Blocked);
        }
        if state < BudgetState::Grace && self.projects_over(spend_micros, elapsed_ms, period_ms) {
            reached.push(AlertKind::Projected);
        }
        reached
    }

    /// Whether, at the burn rate so far (`spend` over `elapsed`), spend reaches the max budget
    /// before the period's end: spend × period >= max × elapsed. Only once a day has passed.
    pub fn projects_over(&self, spend_micros: i64, elapsed_ms: i64, period_ms: i64) -> bool {
        elapsed_ms >= PROJECTION_MIN_ELAPSED_MS
            && elapsed_ms < period_ms
            && spend_micros > 0
            && i128::from(spend_micros) * i128::from(period_ms)
                >= i128::from(self.max_budget_micros) * i128::from(elapsed_ms)
    }
}

/// Whether a tenant admin may save `config` (`None`: remove the budget) under the ceiling a
/// system admin set on the block amount (`None`: no ceiling). The block amount is what is
/// enforced, so the ceiling bounds it, not the max budget alone: a higher grace threshold
/// cannot lift spend past it either. System admins are not held to it.
pub fn check_ceiling(config: Option<&BudgetConfig>, ceiling_micros: Option<i64>) -> Result<(), FieldError> {
    let Some(ceiling) = ceiling_micros else { return Ok(()) };
    match config {
        None => Err(FieldError::new(
            "max_budget",
            format!("cannot be removed: your system admin set a ceiling of {}", format_usd(ceiling)),
        )),
        Some(c) if c.block_amount_micros() > ceiling => Err(FieldError::new(
            "max_budget",
            format!(
                "would block at {}, above the ceiling of {} your system admin set",
                format_usd(c.block_amount_micros()),
                format_usd(ceiling)
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Where a tenant's spend stands against its budget.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetState {
    /// Below the alert threshold: green.
    Ok,
    /// From the alert threshold to below 100 %: yellow.
    Alert,
    /// From 100 % to below the grace threshold: red, "Grace Period: Active".
    Grace,
    /// At or above the grace threshold: dark red, calls refused.
    Blocked,
}

impl BudgetState {
    /// The API's `budget_state` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Alert => "alert",
            Self::Grace => "grace",
            Self::Blocked => "blocked",
        }
    }

    /// The CSS class the console colours this state with.
    pub fn css_class(self) -> &'static str {
        match self {
            Self::Ok => "budget-ok",
            Self::Alert => "budget-alert",
            Self::Grace => "budget-grace",
            Self::Blocked => "budget-blocked",
        }
    }

    /// The grace indicator: "Grace Period: Active" or "Blocked"; nothing before 100 %.
    pub fn indicator(self) -> Option<&'static str> {
        match self {
            Self::Grace => Some("Grace Period: Active"),
            Self::Blocked => Some("Blocked"),
            _ => None,
        }
    }
}

/// The four budget alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The alert threshold crossed.
    Threshold,
    /// 100 % of the max budget reached.
    Exceeded,
    /// The grace threshold reached: calls are refused.
    Blocked,
    /// At the period's burn rate, spend reaches the max budget before the reset.
    Projected,
}

impl AlertKind {
    pub const ALL: [Self; 4] = [Self::Threshold, Self::Exceeded, Self::Blocked, Self::Projected];

    /// The stored `alert_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Threshold => "threshold",
            Self::Exceeded => "exceeded",
            Self::Blocked => "blocked",
            Self::Projected => "projected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// "80% Threshold", "100% Budget Exceeded", "Blocked", "Projected Limit".
    pub fn label(self, alert_threshold_pct: u32) -> String {
        match self {
            Self::Threshold => format!("{alert_threshold_pct}% Threshold"),
            Self::Exceeded => "100% Budget Exceeded".to_owned(),
            Self::Blocked => "Blocked".to_owned(),
            Self::Projected => "Projected Limit".to_owned(),
        }
    }

    /// The colour of the alert's row: the state it stands for.
    pub fn state(self) -> BudgetState {
        match self {
            Self::Threshold | Self::Projected => BudgetState::Alert,
            Self::Exceeded => BudgetState::Grace,
            Self::Blocked => BudgetState::Blocked,
        }
    }
}

/// A percentage of the budget for display, with one decimal, rounded down so "100.0%" never
/// shows below the max budget.
pub fn format_budget_pct(spend_micros: i64, max_budget_micros: i64) -> String {
    let tenths = i128::from(spend_micros.max(0)) * 1000 / i128::from(max_budget_micros.max(1));
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(max_usd: i64, alert: u32, grace: u32) -> BudgetConfig {
        BudgetConfig {
            max_budget_micros: max_usd * MICROS_PER_USD,
            alert_threshold_pct: alert,
            grace_threshold_pct: grace,
            budget_duration: BudgetDuration::Days30,
        }
    }

    fn form(max: &str, alert: &str, grace: &str, duration: &str) -> BudgetForm {
        BudgetForm {
            max_budget: max.into(),
            alert_threshold: alert.into(),
            grace_threshold: grace.into(),
            budget_duration: duration.into(),
        }
    }

    #[test]
    fn the_seed_example() {
        let c = config(500, 80, 110);
        assert_eq!(c.block_amount_micros(), 550 * MICROS_PER_USD);
        assert_eq!(c.block_text(), "Will block at $550.00 (110% of $500.00)");
        let usd = |d: i64| d * MICROS_PER_USD;
        assert_eq!(c.state(usd(399)), BudgetState::Ok);
        assert_eq!(c.state(usd(400)), BudgetState::Alert);
        assert_eq!(c.state(usd(500) - 1), BudgetState::Alert);
        assert_eq!(c.state(usd(500)), BudgetState::Grace);
        assert_eq!(c.state(usd(550) - 1), BudgetState::Grace);
        assert_eq!(c.state(usd(550)), BudgetState::Blocked);
        assert_eq!(BudgetState::Grace.indicator(), Some("Grace Period: Active"));
        assert_eq!(AlertKind::Threshold.label(80), "80% Threshold");
        assert_eq!(format_budget_pct(usd(550), usd(500)), "110.0%");
    }

    #[test]
    fn validation_names_each_field_and_says_why() {
        assert_eq!(BudgetConfig::parse(&form("500", "80", "110", "30d")), Ok(config(500, 80, 110)),);
        assert_eq!(
            BudgetConfig::parse(&form("$250.5", "50", "150", "90d")).map(|c| c.max_budget_micros),
            Ok(250_500_000)
        );
        for (max, why) in [
            ("0", "greater than $0"),
            ("0.00", "greater than $0"),
            ("-5", "greater than $0"),
            ("", "required"),
            ("abc", "amount in dollars"),
            ("1e3", "amount in dollars"),
            ("10.005", "whole cents"),
            ("1000000000.01", "at most"),
            ("99999999999999", "at most"),
        ] {
            let errors = BudgetConfig::parse(&form(max, "80", "110", "30d")).expect_err(max);
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "max_budget");
            assert!(errors[0].message.contains(why), "{max}: {}", errors[0].message);
        }
        let errors = BudgetConfig::parse(&form("5", "49", "151", "45d")).expect_err("three bad fields");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["alert_threshold", "grace_threshold", "budget_duration"]);
        assert!(errors[0].message.contains("50 to 100"));
        assert!(errors[1].message.contains("100 to 150"));
    }

    #[test]
    fn forms_round_trip_configurations() {
        for c in [config(500, 80, 110), config(1, 50, 150)] {
            assert_eq!(BudgetConfig::parse(&BudgetForm::of(Some(&c))), Ok(c));
        }
        assert_eq!(BudgetConfig::parse(&BudgetForm::of(None)), Ok(config(500, 80, 110)));
        assert_eq!(usd_text(250_500_000), "250.50");
    }

    /// Any budget config: whole cents up to a billion dollars, thresholds in range.
    fn any_config() -> impl Strategy<Value = BudgetConfig> {
        (1i64..=100_000_000_000, 50u32..=100, 100u32..=150, 0usize..3).prop_map(|(cents, alert, grace, d)| {
            BudgetConfig {
                max_budget_micros: cents * 10_000,
                alert_threshold_pct: alert,
                grace_threshold_pct: grace,
                budget_duration: BudgetDuration::ALL[d],
            }
        })
    }

    proptest! {
        /// The state of every spend against exact rational arithmetic: pct = spend / max × 100
        /// compared with each threshold as fractions (cross-multiplied), not the function's
        /// own integer expression.
        #[test]
        fn state_matches_the_exact_percentage(c in any_config(), spend in 0i64..200_000_000_000_000) {
            let pct_at_least = |t: u32| (spend as u128) * 100 >= (c.max_budget_micros as u128) * (t as u128);
            let expected = if pct_at_least(c.grace_threshold_pct) { BudgetState::Blocked }
                else if pct_at_least(100) { BudgetState::Grace }
                else if pct_at_least(c.alert_threshold_pct) { BudgetState::Alert }
                else { BudgetState::Ok };
            prop_assert_eq!(c.state(spend), expected);
            // Blocked is exactly "spend >= block amount": the rule that refuses calls.
            prop_assert_eq!(c.state(spend) == BudgetState::Blocked, spend >= c.block_amount_micros());
        }

        /// The block amount is max × grace / 100 exactly (a rational that is an integer).
        #[test]
        fn block_amount_is_exact(c in any_config()) {
            let exact = (c.max_budget_micros as i128) * (c.grace_threshold_pct as i128);
            prop_assert_eq!(exact % 100, 0);
            prop_assert_eq!(c.block_amount_micros() as i128, exact / 100);
        }

        /// Under a ceiling, a tenant admin's save is accepted exactly when its block amount,
        /// max × grace / 100 as an exact rational, is at most the ceiling; no budget at all is
        /// refused, and without a ceiling everything is accepted.
        #[test]
        fn the_ceiling_bounds_the_block_amount(c in any_config(), ceiling_cents in 1i64..=150_000_000_000) {
            let ceiling = ceiling_cents * 10_000;
            let within = (c.max_budget_micros as i128) * (c.grace_threshold_pct as i128) <= (ceiling as i128) * 100;
            let verdict = check_ceiling(Some(&c), Some(ceiling));
            prop_assert_eq!(verdict.is_ok(), within);
            if let Err(e) = verdict {
                prop_assert_eq!(e.field.as_str(), "max_budget");
                prop_assert!(e.message.contains(&format_usd(ceiling)), "{}", e.message);
            }
            prop_assert!(check_ceiling(None, Some(ceiling)).is_err());
            prop_assert!(check_ceiling(Some(&c), None).is_ok() && check_ceiling(None, None).is_ok());
        }

        /// States only go up as spend grows, and every state is reachable in order.
        #[test]
        fn states_are_monotone_in_spend(c in any_config(), a in 0i64..200_000_000_000_000, b in 0i64..200_000_000_000_000) {
            let (low, high) = (a.min(b), a.max(b));
            prop_assert!(c.state(low) <= c.state(high));
        }

        /// Every amount in whole cents round-trips through the form's text.
        #[test]
        fn amounts_round_trip(cents in 1i64..=100_000_000_000) {
            let micros = cents * 10_000;
            prop_assert_eq!(parse_usd("max_budget", &usd_text(micros)), Ok(micros));
        }

        /// Only the ranges' percentages are accepted, with a message naming the range.
        #[test]
        fn thresholds_outside_their_range_are_refused(alert in 0u32..300, grace in 0u32..300) {
            let result = BudgetConfig::parse(&form("100", &alert.to_string(), &grace.to_string(), "60d"));
            let alert_ok = (50..=100).contains(&alert);
            let grace_ok = (100..=150).contains(&grace);
            prop_assert_eq!(result.is_ok(), alert_ok && grace_ok);
            if let Err(errors) = result {
                prop_assert_eq!(errors.iter().any(|e| e.field == "alert_threshold"), !alert_ok);
                prop_assert_eq!(errors.iter().any(|e| e.field == "grace_threshold"), !grace_ok);
            }
        }

        /// The projection against the burn-rate model: spend per millisecond so far, times the
        /// whole period, compared with the max budget as exact fractions.
        #[test]
        fn projection_is_the_burn_rate_model(c in any_config(), spend in 0i64..2_000_000_000_000,
                                             elapsed in 0i64..90 * 86_400_000, extra in 1i64..90 * 86_400_000) {
            let period = elapsed + extra;
            // projected = spend / elapsed × period  >=  max   (elapsed > 0)
            let model = elapsed >= PROJECTION_MIN_ELAPSED_MS && spend > 0
                && (spend as u128) * (period as u128) >= (c.max_budget_micros as u128) * (elapsed as u128);
            prop_assert_eq!(c.projects_over(spend, elapsed, period), model);
        }

        /// Alerts reached are exactly the levels at or below the state, plus a projection only
        /// while the budget is not yet exceeded.
        #[test]
        fn alerts_follow_the_state(c in any_config(), spend in 0i64..200_000_000_000_000, elapsed in 0i64..30 * 86_400_000) {
            let period = 30 * 86_400_000;
            let reached = c.alerts_reached(spend, elapsed, period);
            let state = c.state(spend);
            prop_assert_eq!(reached.contains(&AlertKind::Threshold), state >= BudgetState::Alert);
            prop_assert_eq!(reached.contains(&AlertKind::Exceeded), state >= BudgetState::Grace);
            prop_assert_eq!(reached.contains(&AlertKind::Blocked), state == BudgetState::Blocked);
            if reached.contains(&AlertKind::Projected) { prop_assert!(state < BudgetState::Grace); }
        }

        /// The displayed percentage never reads 100 below the max budget, never under 100 at it.
        #[test]
        fn displayed_budget_pct_is_rounded_down(spend in 0i64..1i64 << 50, max in 1i64..1i64 << 50) {
            let text = format_budget_pct(spend, max);
            let shown: f64 = text.trim_end_matches('%').parse().expect("number");
            prop_assert_eq!(shown >= 100.0, spend >= max);
        }
    }
}
