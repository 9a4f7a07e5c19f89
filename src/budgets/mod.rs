//! USD budgets: the rules (pure: validation, states and colours, block amount, alerts,
//! projection), the tenant budget page and the server functions behind it.

pub mod rules;
pub mod trend;

pub use rules::{AlertKind, BudgetConfig, BudgetDuration, BudgetForm, BudgetState};
