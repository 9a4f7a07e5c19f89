//! The spend trend: the current period's cumulative spend by day over the last 30 days, and the
//! chart's geometry (points, threshold lines, axis labels) in a fixed view box. Pure, so the
//! server renders the SVG and the browser hydrates the same markup without layout shift.

use super::rules::BudgetConfig;
use crate::format::{format_date, format_usd};
use crate::limits::period::DAY_MS;
use serde::{Deserialize, Serialize};

/// How many days the chart covers at most.
pub const TREND_DAYS: i64 = 30;
/// Fewer days of data than this: "Insufficient data".
pub const MIN_TREND_DAYS: usize = 7;

/// Cumulative spend at the end of each day (UTC), oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpendTrend {
    /// (start of the day in Unix ms, cumulative spend in micro-USD at its end).
    pub days: Vec<(i64, i64)>,
}

/// The first day the chart shows: the later of the period's first day and 29 days before today.
pub fn window_start_day(period_start: i64, now: i64) -> i64 {
    (period_start.div_euclid(DAY_MS)).max(now.div_euclid(DAY_MS) - (TREND_DAYS - 1))
}

impl SpendTrend {
    /// Builds the trend from per-day spend (`(day number, micro-USD)`, day number = ms / DAY_MS)
    /// inside the window, and `before_window`, the period's spend before it. Days run from the
    /// first day with any spend (or the window's start, if spend began earlier) to today, with
    /// quiet days carrying the total forward.
    pub fn build(period_start: i64, now: i64, before_window: i64, daily: &[(i64, i64)]) -> Self {
        let first_window_day = window_start_day(period_start, now);
        let today = now.div_euclid(DAY_MS);
        let first_spend_day = daily.iter().filter(|(_, micros)| *micros != 0).map(|(day, _)| *day).min();
        let start = match (before_window != 0, first_spend_day) {
            (true, _) => first_window_day,
            (false, Some(day)) => day.max(first_window_day),
            (false, None) => return Self::default(),
        };
        let mut total = before_window;
        let mut days = Vec::new();
        for day in start..=today {
            total += daily.iter().filter(|(d, _)| *d == day).map(|(_, m)| m).sum::<i64>();
            days.push((day * DAY_MS, total));
        }
        Self { days }
    }

    /// Whether there is enough history to draw (at least seven days).
    pub fn is_drawable(&self) -> bool {
        self.days.len() >= MIN_TREND_DAYS
    }
}

/// The chart's view box; CSS scales it to the page's width at a fixed aspect ratio.
pub const VIEW_WIDTH: f64 = 640.0;
pub const VIEW_HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Label baselines of neighbouring lines are at least this far apart (11 px text).
pub const LABEL_GAP: f64 = 13.0;
/// A date label's width at most ("2026-12-22" at 11 px), for the first and last ticks.
const DATE_LABEL_WIDTH: f64 = 64.0;

/// A horizontal threshold line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub y: f64,
    /// Where its label's baseline sits: just above the line, moved apart from its neighbours'
    /// so that close thresholds (say 100 % and 105 %) do not print over each other.
    pub label_y: f64,
    pub label: String,
    /// `alert`, `max` or `grace`: the CSS class (dashed yellow, red, dark red).
    pub class: &'static str,
}

/// Everything the SVG needs, in view-box coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartGeometry {
    /// The spend polyline, `x,y x,y …`.
    pub points: String,
    pub lines: Vec<Line>,
    /// (y, label) of the dollar axis.
    pub y_ticks: Vec<(f64, String)>,
    /// (x, label, text-anchor) of the date axis: the first label starts at its day, the last
    /// ends at its day, so neither runs past the view box (the last one was clipped).
    pub x_ticks: Vec<(f64, String, &'static str)>,
    pub plot: (f64, f64, f64, f64),
}

impl ChartGeometry {
    /// Lays out a drawable trend against a budget: the y axis runs from $0 to a little above the
    /// larger of the grace line and the highest spend, so every line is inside the plot.
    pub fn new(trend: &SpendTrend, budget: &BudgetConfig) -> Self {
        let (x0, x1, y0, y1) = (LEFT, VIEW_WIDTH - RIGHT, VIEW_HEIGHT - BOTTOM, TOP);
        let top_spend = trend.days.iter().map(|(_, m)| *m).max().unwrap_or(0);
        let y_max = (budget.block_amount_micros().max(top_spend) as f64 * 1.1).max(1.0);
        let y = |micros: i64| y0 - (micros as f64 / y_max) * (y0 - y1);
        let n = trend.days.len().max(2) - 1;
        let x = |i: usize| x0 + (i as f64 / n as f64) * (x1 - x0);
        let points = trend
            .days
            .iter()
            .enumerate()
            .map(|(i, (_, micros))| format!("{:.1},{:.1}", x(i), y(*micros)))
            .collect::<Vec<_>>()
            .join(" ");
        let alert = budget.max_budget_micros / 100 * i64::from(budget.alert_threshold_pct);
        let line = |micros: i64, label: String, class| Line { y: y(micros), label_y: y(micros) - 4.0, label, class };
        let mut lines = vec![
            line(alert, format!("{}% {}", budget.alert_threshold_pct, format_usd(alert)), "alert"),
            line(budget.max_budget_micros, format!("100% {}", format_usd(budget.max_budget_micros)), "max"),
            line(
                budget.block_amount_micros(),
                format!("{}% {}", budget.grace_threshold_pct, format_usd(budget.block_amount_micros())),
                "grace",
            ),
        ];
        space_labels(&mut lines, y1, y0);
        let y_ticks = (0..=4)
            .map(|k| {
                let micros = (y_max * f64::from(k) / 4.0) as i64;
                (y(micros), format_usd(micros))
            })
            .collect();
        let last = trend.days.len().saturating_sub(1);
        let mut x_indexes = vec![0, last / 2, last];
        x_indexes.dedup();
        let anchor = |i: usize| match i {
            0 => "start",
            i if i == last => "end",
            _ => "middle",
        };
        let x_ticks = x_indexes
            .into_iter()
            .filter_map(|i| trend.days.get(i).map(|(day, _)| (x(i), format_date(*day), anchor(i))))
            .collect();
        Self { points, lines, y_ticks, x_ticks, plot: (x0, y1, x1, y0) }
    }
}

/// Moves the lines' labels apart: top to bottom, each at least `LABEL_GAP` below the one
/// above, then, if the lowest would leave the plot (`top`..`bottom`), back up from the bottom.
/// Three labels need 26 px; the plot is 208 high, so both passes always fit.
fn space_labels(lines: &mut [Line], top: f64, bottom: f64) {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|a, b| lines[*a].label_y.total_cmp(&lines[*b].label_y));
    let mut floor = top + LABEL_GAP;
    for &i in &order {
        lines[i].label_y = lines[i].label_y.max(floor);
        floor = lines[i].label_y + LABEL_GAP;
    }
    let mut ceiling = bottom - 2.0;
    for &i in order.iter().rev() {
        lines[i].label_y = lines[i].label_y.min(ceiling);
        ceiling = lines[i].label_y - LABEL_GAP;
    }
}

/// The room a date label takes from its anchor point: (left, right) of `x`.
pub fn date_label_span(x: f64, anchor: &str) -> (f64, f64) {
    match anchor {
        "start" => (x, x + DATE_LABEL_WIDTH),
        "end" => (x - DATE_LABEL_WIDTH, x),
        _ => (x - DATE_LABEL_WIDTH / 2.0, x + DATE_LABEL_WIDTH / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budgets::rules::{BudgetForm, MICROS_PER_USD};
    use proptest::prelude::*;

    #[test]
    fn quiet_days_carry_the_total_forward() {
        let now = 10 * DAY_MS + 5;
        let t = SpendTrend::build(0, now, 0, &[(3, 100), (5, 50)]);
        assert_eq!(t.days.first(), Some(&(3 * DAY_MS, 100)));
        assert_eq!(t.days.last(), Some(&(10 * DAY_MS, 150)));
        assert_eq!(t.days.len(), 8);
        assert!(t.is_drawable());
        assert!(!SpendTrend::build(0, now, 0, &[(8, 1)]).is_drawable(), "3 days of data");
        assert_eq!(SpendTrend::build(0, now, 0, &[]), SpendTrend::default());
    }

    #[test]
    fn a_long_period_starts_the_window_with_what_came_before() {
        let now = 80 * DAY_MS;
        let t = SpendTrend::build(0, now, 700, &[(60, 10)]);
        assert_eq!(t.days.len(), 30);
        assert_eq!(t.days[0], (51 * DAY_MS, 700));
        assert_eq!(t.days[29].1, 710);
    }

    #[test]
    fn lines_sit_in_order_inside_the_plot() {
        let budget = BudgetConfig::parse(&BudgetForm::of(None)).expect("defaults");
        let trend = SpendTrend { days: (0..10).map(|d| (d * DAY_MS, d * 30 * MICROS_PER_USD)).collect() };
        let g = ChartGeometry::new(&trend, &budget);
        let ys: Vec<f64> = g.lines.iter().map(|l| l.y).collect();
        assert!(ys[0] > ys[1] && ys[1] > ys[2], "alert below 100 % below grace (SVG y grows down): {ys:?}");
        assert!(ys.iter().all(|y| *y >= g.plot.1 && *y <= g.plot.3));
        assert_eq!(g.lines[2].label, "110% $550.00");
        assert_eq!(g.points.split(' ').count(), 10);
        assert_eq!(g.x_ticks.len(), 3);
    }

    /// Any budget whose thresholds may sit close together, and any spend history.
    fn any_chart() -> impl Strategy<Value = (BudgetConfig, SpendTrend)> {
        (1i64..=1_000_000, 50u32..=100, 100u32..=150, prop::collection::vec(0i64..3_000_000_000, 7..31)).prop_map(
            |(cents, alert, grace, daily)| {
                let budget = BudgetConfig {
                    max_budget_micros: cents * 10_000,
                    alert_threshold_pct: alert,
                    grace_threshold_pct: grace,
                    budget_duration: crate::budgets::BudgetDuration::Days30,
                };
                let mut total = 0;
                let days = daily
                    .into_iter()
                    .enumerate()
                    .map(|(d, m)| {
                        total += m;
                        (d as i64 * DAY_MS, total)
                    })
                    .collect();
                (budget, SpendTrend { days })
            },
        )
    }

    proptest! {
        /// Whatever the thresholds (all three may coincide), the line labels never print over
        /// each other and stay inside the plot; the date labels stay inside the view box and do
        /// not overlap.
        #[test]
        fn labels_stay_apart_and_inside((budget, trend) in any_chart()) {
            let g = ChartGeometry::new(&trend, &budget);
            let (_, top, _, bottom) = g.plot;
            let mut ys: Vec<f64> = g.lines.iter().map(|l| l.label_y).collect();
            ys.sort_by(f64::total_cmp);
            prop_assert!(ys.windows(2).all(|w| w[1] - w[0] >= LABEL_GAP - 1e-9), "{:?}", ys);
            prop_assert!(ys.iter().all(|y| *y >= top && *y <= bottom), "{:?}", ys);
            let spans: Vec<(f64, f64)> = g.x_ticks.iter().map(|(x, _, a)| date_label_span(*x, a)).collect();
            prop_assert!(spans.iter().all(|(l, r)| *l >= 0.0 && *r <= VIEW_WIDTH), "{:?}", spans);
            prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{:?}", spans);
        }

        /// The trend is the running sum of the daily spend (a model: one pass, adding day by
        /// day), never decreases, and ends on today with the whole period's spend.
        #[test]
        fn the_trend_is_the_running_total(period_day in 0i64..100, today_offset in 0i64..120,
                                          before in 0i64..1_000_000, daily in prop::collection::vec((0i64..40, 0i64..1_000_000), 0..60)) {
            let period_start = period_day * DAY_MS;
            let now = period_start + today_offset * DAY_MS + 1234;
            let first = window_start_day(period_start, now);
            let today = now.div_euclid(DAY_MS);
            let daily: Vec<(i64, i64)> = daily.into_iter().map(|(d, m)| (first + d, m)).filter(|(d, _)| *d <= today).collect();
            let t = SpendTrend::build(period_start, now, before, &daily);
            let whole: i64 = before + daily.iter().map(|(_, m)| m).sum::<i64>();
            if let Some(&(last_day, last_total)) = t.days.last() {
                prop_assert_eq!(last_day, today * DAY_MS);
                prop_assert_eq!(last_total, whole);
                prop_assert!(t.days.windows(2).all(|w| w[0].1 <= w[1].1 && w[1].0 - w[0].0 == DAY_MS));
                prop_assert!(t.days.len() as i64 <= TREND_DAYS);
                for &(day, total) in &t.days {
                    let model = before + daily.iter().filter(|(d, _)| *d * DAY_MS <= day).map(|(_, m)| m).sum::<i64>();
                    prop_assert_eq!(total, model);
                }
            } else {
                prop_assert_eq!(whole, 0);
            }
        }
    }
}
