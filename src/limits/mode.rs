//! Enforcement modes, the rollout switch (seed 003: "land behind configuration toggles"):
//! `off` records usage only, `monitor` decides and counts what would have been refused but
//! never refuses, `enforce` refuses. Each tenant may set its own; the rest follow the server's
//! default (`--enforcement-mode`). Pure, shared by the server and the browser.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    /// Record usage only: nothing is decided, nothing is reserved.
    Off,
    /// Decide and count refusals as "would have blocked", but let every call through.
    Monitor,
    /// Refuse calls over a limit (429).
    #[default]
    Enforce,
}

impl EnforcementMode {
    pub const ALL: [Self; 3] = [Self::Off, Self::Monitor, Self::Enforce];

    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Monitor => "monitor",
            Self::Enforce => "enforce",
        }
    }

    /// The console's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Off => "Off (record only)",
            Self::Monitor => "Monitor (never refuse)",
            Self::Enforce => "Enforce",
        }
    }

    /// Parses `off`, `monitor` or `enforce` (exactly; the field named in the error).
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text.trim())
            .ok_or_else(|| FieldError::new(field, "must be one of off, monitor, enforce"))
    }

    /// The console's choice for a tenant: `default` follows the server's mode (`None`).
    pub fn parse_setting(field: &str, text: &str) -> Result<Option<Self>, FieldError> {
        match text.trim() {
            "default" => Ok(None),
            other => Self::parse(field, other)
                .map(Some)
                .map_err(|_| FieldError::new(field, "must be one of default, off, monitor, enforce")),
        }
    }

    /// A stored value; anything unknown is the default (`None`), as the column's CHECK allows none.
    pub fn from_stored(text: Option<&str>) -> Option<Self> {
        text.and_then(|t| Self::parse("enforcement_mode", t).ok())
    }
}

impl fmt::Display for EnforcementMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_and_others_are_refused() {
        for m in EnforcementMode::ALL {
            assert_eq!(EnforcementMode::parse("mode", m.as_str()), Ok(m));
            assert_eq!(EnforcementMode::from_stored(Some(m.as_str())), Some(m));
            assert_eq!(serde_json::to_string(&m).expect("json"), format!("\"{m}\""));
        }
        for bad in ["", "Enforce", "block", "on"] {
            let e = EnforcementMode::parse("mode", bad).expect_err(bad);
            assert_eq!(e.field, "mode");
        }
        assert_eq!(EnforcementMode::from_stored(None), None);
    }

    #[test]
    fn a_setting_is_a_mode_or_the_default() {
        assert_eq!(EnforcementMode::parse_setting("mode", " default "), Ok(None));
        for m in EnforcementMode::ALL {
            assert_eq!(EnforcementMode::parse_setting("mode", m.as_str()), Ok(Some(m)));
        }
        assert_eq!(EnforcementMode::parse_setting("mode", "loud").map_err(|e| e.field), Err("mode".to_owned()));
    }
}
