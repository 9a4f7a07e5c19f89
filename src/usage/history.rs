//! Usage history for the automation API: which events a request asks for and the cursor that
//! pages through them. Pure; the query is `store::history`.
//!
//! Events are listed newest first in the order (`occurred_at`, `event_id`) descending, which
//! is total within a tenant (event ids are unique per tenant). A cursor names the last event
//! of a page, so the next page starts strictly after it and stays right while new events
//! arrive (they sort before the first page, not into the middle).

use crate::overrides::parse_user_id;
use crate::tenants::TenantId;
use crate::usage::report::MAX_ID_CHARS;
use crate::validation::{short_text, FieldError};

/// Events per page unless the request says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most events one page holds.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Where a page starts: just after this event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    pub occurred_at: i64,
    pub event_id: String,
}

impl HistoryCursor {
    /// `<occurred_at>.<event_id as hex>`: opaque to clients, safe in a URL without escaping.
    pub fn encode(&self) -> String {
        let mut out = format!("{}.", self.occurred_at);
        for b in self.event_id.as_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    pub fn decode(text: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("cursor", "is not a cursor this API handed out");
        let (at, hex) = text.split_once('.').ok_or_else(bad)?;
        let occurred_at = at.parse::<i64>().map_err(|_| bad())?;
        if hex.len() % 2 != 0 || hex.len() > 2 * MAX_ID_CHARS * 4 {
            return Err(bad());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let event_id = String::from_utf8(bytes).map_err(|_| bad())?;
        Ok(Self { occurred_at, event_id })
    }
}

/// The parameters of `GET /api/client/usage/history` as they arrive (all text, all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// The tenant (required for system admins; a tenant admin's own tenant by default).
    pub tenant_id: Option<String>,
    /// Only this end user's events.
    pub user_id: Option<String>,
    /// Only this model's events.
    pub model: Option<String>,
    /// Events at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Events before this instant (RFC 3339).
    pub to: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A checked history request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub tenant_id: TenantId,
    pub user_id: Option<String>,
    pub model: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    pub from: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    pub to: Option<i64>,
    pub limit: u32,
    pub after: Option<HistoryCursor>,
}

impl HistoryQuery {
    /// Checks every parameter, naming the first bad one. `tenant` is the tenant to use when the
    /// request names none (a tenant admin's own); without either, `tenant_id` is required.
    pub fn parse(p: HistoryParams, tenant: Option<&str>) -> Result<Self, FieldError> {
        let tenant_id = match p.tenant_id.as_deref().or(tenant) {
            Some(t) => TenantId::parse(t)?,
            None => return Err(FieldError::new("tenant_id", "required")),
        };
        let user_id = p.user_id.map(|u| parse_user_id("user_id", &u)).transpose()?;
        let model = p.model.map(|m| short_text("model", &m, MAX_ID_CHARS)).transpose()?;
        let from = p.from.as_deref().map(|t| instant("from", t)).transpose()?;
        let to = p.to.as_deref().map(|t| instant("to", t)).transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                return Err(FieldError::new("to", "must be after from"));
            }
        }
        let limit = match p.limit.as_deref() {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => return Err(FieldError::new("limit", format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"))),
            },
        };
        let after = p.cursor.as_deref().map(HistoryCursor::decode).transpose()?;
        Ok(Self { tenant_id, user_id, model, from, to, limit, after })
    }
}

/// An RFC 3339 instant in milliseconds since the epoch.
fn instant(field: &str, text: &str) -> Result<i64, FieldError> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> HistoryParams {
        let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string());
        HistoryParams {
            tenant_id: get("tenant_id"),
            user_id: get("user_id"),
            model: get("model"),
            from: get("from"),
            to: get("to"),
            limit: get("limit"),
            cursor: get("cursor"),
        }
    }

    fn field(pairs: &[(&str, &str)], tenant: Option<&str>) -> String {
        HistoryQuery::parse(params(pairs), tenant).expect_err("should fail").field
    }

    #[test]
    fn names_the_bad_parameter() {
        assert_eq!(field(&[], None), "tenant_id");
        assert_eq!(field(&[("tenant_id", "Not An Id")], None), "tenant_id");
        assert_eq!(field(&[("limit", "0")], Some("a")), "limit");
        assert_eq!(field(&[("limit", "1001")], Some("a")), "limit");
        assert_eq!(field(&[("from", "yesterday")], Some("a")), "from");
        assert_eq!(field(&[("from", "2026-11-02T00:00:00Z"), ("to", "2026-11-01T00:00:00Z")], Some("a")), "to");
        assert_eq!(field(&[("cursor", "zz")], Some("a")), "cursor");
        assert_eq!(field(&[("cursor", "12.abc")], Some("a")), "cursor");
        assert_eq!(field(&[("user_id", "")], Some("a")), "user_id");
    }

    #[test]
    fn defaults_to_the_given_tenant_and_a_page_of_100() {
        let q = HistoryQuery::parse(params(&[("from", "2026-11-01T00:00:00+01:00")]), Some("acme")).expect("ok");
        assert_eq!(q.tenant_id.as_str(), "acme");
        assert_eq!(q.limit, DEFAULT_PAGE_SIZE);
        assert_eq!(q.from, Some(1_793_487_600_000));
    }

    proptest! {
        /// Decoding what was encoded gives the same cursor back, for any event id and instant.
        #[test]
        fn cursors_round_trip(occurred_at in any::<i64>(), event_id in "\\PC{0,64}") {
            let cursor = HistoryCursor { occurred_at, event_id };
            let text = cursor.encode();
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            prop_assert_eq!(HistoryCursor::decode(&text), Ok(cursor));
        }
    }
}
