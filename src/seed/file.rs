//! The seed file, parsed and validated before anything is written. Every error names its
//! place in the file (`tenants[2].budget.max_budget`). A field left out leaves that setting
//! as it is; `"none"` removes it (a limit, a budget, an override) and mode `"default"`
//! returns the tenant to the server's mode.
//!
//! ```toml
//! [[tenants]]
//! id = "acme"
//! display_name = "Acme Corp"      # used only when the tenant is created
//! token_limit = 100000            # or "none"
//! mode = "monitor"                # off | monitor | enforce | default
//! budget = { max_budget = "500", alert_threshold = 80, grace_threshold = 110, budget_duration = "30d" }
//! users = [ { user_id = "u-7", token_limit = 10000 }, { user_id = "u-9", token_limit = "none" } ]
//! ```

use crate::budgets::rules::{BudgetConfig, BudgetForm};
use crate::limits::{EnforcementMode, TokenLimit};
use crate::overrides::parse_user_id;
use crate::tenants::TenantId;
use crate::validation::{short_text, FieldError};
use serde::Deserialize;
use std::collections::HashSet;

/// How the file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFormat {
    Toml,
    Json,
}

impl SeedFormat {
    /// `.json` files are JSON, anything else TOML.
    pub fn of_path(path: &str) -> Self {
        if path.to_ascii_lowercase().ends_with(".json") {
            Self::Json
        } else {
            Self::Toml
        }
    }
}

/// What the file asks for one tenant; `None` fields are left as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSeed {
    pub id: TenantId,
    pub display_name: Option<String>,
    /// `Some(None)`: No Limit.
    pub token_limit: Option<Option<TokenLimit>>,
    /// `Some(None)`: the server's default mode.
    pub mode: Option<Option<EnforcementMode>>,
    /// `Some(None)`: no budget.
    pub budget: Option<Option<BudgetConfig>>,
    /// Each user's override; `None` removes it.
    pub users: Vec<(String, Option<TokenLimit>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tenants: Vec<RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    token_limit: Option<Scalar>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    budget: Option<RawBudget>,
    #[serde(default)]
    users: Vec<RawUser>,
}

/// A budget table, or the text "none".
#[derive(Deserialize)]
#[serde(untagged)]
enum RawBudget {
    None(String),
    Set(RawBudgetFields),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudgetFields {
    max_budget: Scalar,
    #[serde(default)]
    alert_threshold: Option<Scalar>,
    #[serde(default)]
    grace_threshold: Option<Scalar>,
    #[serde(default)]
    budget_duration: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    user_id: String,
    token_limit: Scalar,
}

/// A number or a text, read as the text a person would type (so `100000`, `"100000"` and
/// `"none"` all work, and `1.5` is refused by the same rule as in the console).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Self::Int(n) => n.to_string(),
            Self::Float(x) => x.to_string(),
            Self::Text(t) => t.clone(),
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Self::Text(t) if t.trim().eq_ignore_ascii_case("none"))
    }
}

/// Prefixes a field error with its place in the file.
fn at(place: &str, e: FieldError) -> FieldError {
    FieldError::new(format!("{place}.{}", e.field), e.message)
}

fn limit(place: &str, value: &Scalar) -> Result<Option<TokenLimit>, FieldError> {
    if value.is_none() {
        return Ok(None);
    }
    TokenLimit::parse(&value.text()).map(Some).map_err(|e| FieldError::new(place, e.message))
}

/// Parses and validates a seed file; the first error found is returned, naming its place.
pub fn parse_seed(text: &str, format: SeedFormat) -> Result<Vec<TenantSeed>, FieldError> {
    let raw: RawFile = match format {
        SeedFormat::Json => serde_json::from_str(text).map_err(|e| FieldError::new("file", e.to_string()))?,
        SeedFormat::Toml => toml::from_str(text).map_err(|e| FieldError::new("file", e.to_string()))?,
    };
    let mut seen = HashSet::new();
    let mut seeds = Vec::with_capacity(raw.tenants.len());
    for (i, t) in raw.tenants.into_iter().enumerate() {
        let place = format!("tenants[{i}]");
        let id = TenantId::parse(&t.id).map_err(|e| FieldError::new(format!("{place}.id"), e.message))?;
        if !seen.insert(id.clone()) {
            return Err(FieldError::new(format!("{place}.id"), format!("{id} is listed twice")));
        }
        let display_name =
            t.display_name.map(|n| short_text("display_name", &n, 100)).transpose().map_err(|e| at(&place, e))?;
        let token_limit = t.token_limit.map(|l| limit(&format!("{place}.token_limit"), &l)).transpose()?;
        let mode = t
            .mode
            .map(|m| match m.trim() {
                "default" => Ok(None),
                other => EnforcementMode::parse("mode", other).map(Some),
            })
            .transpose()
            .map_err(|e| at(&place, e))?;
        let budget = t.budget.map(|b| budget(&format!("{place}.budget"), b)).transpose()?;
        let mut users = Vec::with_capacity(t.users.len());
        let mut user_ids = HashSet::new();
        for (j, u) in t.users.into_iter().enumerate() {
            let place = format!("{place}.users[{j}]");
            let user_id = parse_user_id("user_id", &u.user_id).map_err(|e| at(&place, e))?;
            if !user_ids.insert(user_id.clone()) {
                return Err(FieldError::new(format!("{place}.user_id"), format!("{user_id} is listed twice")));
            }
            users.push((user_id, limit(&format!("{place}.token_limit"), &u.token_limit)?));
        }
        seeds.push(TenantSeed { id, display_name, token_limit, mode, budget, users });
    }
    Ok(seeds)
}

fn budget(place: &str, raw: RawBudget) -> Result<Option<BudgetConfig>, FieldError> {
    let fields = match raw {
        RawBudget::None(text) if text.trim().eq_ignore_ascii_case("none") => return Ok(None),
        RawBudget::None(_) => return Err(FieldError::new(place, "must be a budget table or \"none\"")),
        RawBudget::Set(fields) => fields,
    };
    let defaults = BudgetForm::of(None);
    let form = BudgetForm {
        max_budget: fields.max_budget.text(),
        alert_threshold: fields.alert_threshold.map_or(defaults.alert_threshold, |s| s.text()),
        grace_threshold: fields.grace_threshold.map_or(defaults.grace_threshold, |s| s.text()),
        budget_duration: fields.budget_duration.unwrap_or(defaults.budget_duration),
    };
    BudgetConfig::parse(&form).map(Some).map_err(|errors| {
        let first = errors.into_iter().next().unwrap_or_else(|| FieldError::new("budget", "invalid"));
        at(place, first)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"
        [[tenants]]
        id = "acme"
        display_name = "Acme Corp"
        token_limit = 100000
        mode = "monitor"
        budget = { max_budget = "500", alert_threshold = 75, budget_duration = "60d" }
        users = [ { user_id = "u-7", token_limit = 10000 }, { user_id = "u-9", token_limit = "none" } ]

        [[tenants]]
        id = "globex"
        token_limit = "none"
        mode = "default"
        budget = "none"
    "#;

    #[test]
    fn the_documented_example_parses() {
        let seeds = parse_seed(EXAMPLE, SeedFormat::Toml).expect("valid");
        assert_eq!(seeds.len(), 2);
        let acme = &seeds[0];
        assert_eq!(acme.token_limit, Some(TokenLimit::new(100_000).ok()));
        assert_eq!(acme.mode, Some(Some(EnforcementMode::Monitor)));
        let b = acme.budget.flatten().expect("budget");
        assert_eq!((b.max_budget_micros, b.alert_threshold_pct, b.grace_threshold_pct), (500_000_000, 75, 110));
        assert_eq!(acme.users, [("u-7".to_owned(), TokenLimit::new(10_000).ok()), ("u-9".to_owned(), None)]);
        let globex = &seeds[1];
        assert_eq!((globex.token_limit, globex.mode, globex.budget), (Some(None), Some(None), Some(None)));
        assert!(globex.users.is_empty() && globex.display_name.is_none());
        assert_eq!(SeedFormat::of_path("x.JSON"), SeedFormat::Json);
        assert_eq!(SeedFormat::of_path("limits.toml"), SeedFormat::Toml);
    }

    #[test]
    fn errors_name_their_place() {
        let cases = [
            (r#"tenants = [{ id = "Bad Id" }]"#, "tenants[0].id"),
            (r#"tenants = [{ id = "a" }, { id = "a" }]"#, "tenants[1].id"),
            (r#"tenants = [{ id = "a", token_limit = 0 }]"#, "tenants[0].token_limit"),
            (r#"tenants = [{ id = "a", token_limit = 2.5 }]"#, "tenants[0].token_limit"),
            (r#"tenants = [{ id = "a", mode = "block" }]"#, "tenants[0].mode"),
            (r#"tenants = [{ id = "a", budget = { max_budget = "0" } }]"#, "tenants[0].budget.max_budget"),
            (
                r#"tenants = [{ id = "a", budget = { max_budget = "5", grace_threshold = 200 } }]"#,
                "tenants[0].budget.grace_threshold",
            ),
            (r#"tenants = [{ id = "a", budget = "some" }]"#, "tenants[0].budget"),
            (r#"tenants = [{ id = "a", users = [{ user_id = "", token_limit = 5 }] }]"#, "tenants[0].users[0].user_id"),
            (
                r#"tenants = [{ id = "a", users = [{ user_id = "u", token_limit = -5 }] }]"#,
                "tenants[0].users[0].token_limit",
            ),
            (r#"tenants = [{ id = "a", token_limt = 5 }]"#, "file"),
            ("not toml at all [", "file"),
        ];
        for (text, field) in cases {
            let e = parse_seed(text, SeedFormat::Toml).expect_err(text);
            assert_eq!(e.field, field, "{text}: {e}");
        }
        assert_eq!(parse_seed("{\"tenants\": 3}", SeedFormat::Json).expect_err("json").field, "file");
    }

    proptest! {
        /// A file written from typed values (as JSON and as TOML) reads back as those values.
        #[test]
        fn seeds_round_trip_through_both_formats(
            tenants in prop::collection::vec((0u32..1_000_000, prop::option::of(1u64..=1 << 53), 0usize..4,
                                              prop::collection::vec((0u32..50, prop::option::of(1u64..1 << 40)), 0..4)), 0..8)
        ) {
            let mut json_tenants = Vec::new();
            let mut expected = Vec::new();
            let mut ids = HashSet::new();
            for (n, limit, mode, users) in tenants {
                if !ids.insert(n) { continue; }
                let mode_text = ["off", "monitor", "enforce", "default"][mode];
                let mut user_seen = HashSet::new();
                let users: Vec<_> = users.into_iter().filter(|(u, _)| user_seen.insert(*u)).collect();
                json_tenants.push(serde_json::json!({
                    "id": format!("t{n}"),
                    "token_limit": limit.map_or(serde_json::json!("none"), |l| serde_json::json!(l)),
                    "mode": mode_text,
                    "users": users.iter().map(|(u, l)| serde_json::json!({
                        "user_id": format!("user {u}"),
                        "token_limit": l.map_or(serde_json::json!("none"), |l| serde_json::json!(l)),
                    })).collect::<Vec<_>>(),
                }));
                expected.push(TenantSeed {
                    id: TenantId::parse(&format!("t{n}")).expect("id"),
                    display_name: None,
                    token_limit: Some(limit.map(|l| TokenLimit::new(l).expect("limit"))),
                    mode: Some(EnforcementMode::parse("mode", mode_text).ok()),
                    budget: None,
                    users: users.iter().map(|(u, l)| (format!("user {u}"), l.map(|l| TokenLimit::new(l).expect("limit")))).collect(),
                });
            }
            let file = serde_json::json!({ "tenants": json_tenants });
            prop_assert_eq!(&parse_seed(&file.to_string(), SeedFormat::Json).expect("json"), &expected);
            let toml_text = toml::to_string(&file).expect("toml");
            prop_assert_eq!(&parse_seed(&toml_text, SeedFormat::Toml).expect("toml"), &expected);
        }
    }
}
