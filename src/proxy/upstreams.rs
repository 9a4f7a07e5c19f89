//! Where the proxy sends a call: the configured upstreams (an OpenAI-compatible base URL, its
//! key, and the models it serves), read from a TOML file, and the choice of one by model name.
//! Pure: the file's text and the environment lookup come in as arguments.
//!
//! ```toml
//! [[upstreams]]
//! name = "openai"
//! base_url = "https://api.openai.com/v1"
//! api_key_env = "OPENAI_API_KEY"        # or api_key = "sk-…"
//! models = ["gpt-*", "o1*", "text-embedding-3-small"]
//! timeout_secs = 120                    # optional, default 600
//! provider = "openai"                   # optional: whose prices apply (genai-prices' provider id)
//! ```

use crate::validation::FieldError;
use serde::Deserialize;
use std::time::Duration;

/// How long an upstream may take to answer (to the end of a stream) before the call is
/// answered 504 and its reservation released, unless the file says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// One upstream, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    /// Without a trailing `/`; the proxy appends `/chat/completions` and the like.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` in place of the agent's key; none for upstreams that
    /// need none (a local model server).
    pub api_key: Option<String>,
    /// Exact names, or prefixes ending in `*` (`*` alone: every model).
    pub models: Vec<String>,
    pub timeout: Duration,
    /// Whose prices the calls are charged at (`openai`, `anthropic`, `google`, …, as the price
    /// database names providers); without it the model name alone finds the price.
    pub provider: Option<String>,
}

/// The configured upstreams, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstreams(Vec<Upstream>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    upstreams: Vec<RawUpstream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: String,
    base_url: String,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    api_key_env: Option<String>,
    models: Vec<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    provider: Option<String>,
}

impl Upstreams {
    pub fn new(upstreams: Vec<Upstream>) -> Self {
        Self(upstreams)
    }

    /// Parses the upstreams file; `env` looks up `api_key_env` variables. The first problem
    /// is returned, naming its place (`upstreams[1].base_url`).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, FieldError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| FieldError::new("file", e.message()))?;
        let mut upstreams = Vec::with_capacity(raw.upstreams.len());
        for (i, u) in raw.upstreams.into_iter().enumerate() {
            let at = |field: &str| format!("upstreams[{i}].{field}");
            let name = u.name.trim().to_owned();
            if name.is_empty() {
                return Err(FieldError::new(at("name"), "required"));
            }
            let base_url = u.base_url.trim().trim_end_matches('/').to_owned();
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) || base_url.len() < 10 {
                return Err(FieldError::new(at("base_url"), "must be an http:// or https:// URL"));
            }
            let api_key = match (u.api_key, u.api_key_env) {
                (Some(_), Some(_)) => {
                    return Err(FieldError::new(at("api_key"), "give api_key or api_key_env, not both"))
                }
                (Some(key), None) => Some(key),
                (None, Some(var)) => Some(env(&var).filter(|k| !k.is_empty()).ok_or_else(|| {
                    FieldError::new(at("api_key_env"), format!("the environment variable {var} is not set"))
                })?),
                (None, None) => None,
            };
            let models: Vec<String> = u.models.iter().map(|m| m.trim().to_owned()).collect();
            if models.is_empty() {
                return Err(FieldError::new(at("models"), "list at least one model or prefix (\"*\": all)"));
            }
            if let Some(bad) = models.iter().find(|m| m.is_empty() || m[..m.len() - 1].contains('*')) {
                return Err(FieldError::new(at("models"), format!("{bad:?}: a name, or a prefix ending in *")));
            }
            let timeout_secs = u.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
            if timeout_secs == 0 {
                return Err(FieldError::new(at("timeout_secs"), "must be at least 1"));
            }
            let provider = u.provider.map(|p| p.trim().to_owned());
            if provider.as_deref().is_some_and(str::is_empty) {
                return Err(FieldError::new(at("provider"), "must not be empty when given"));
            }
            upstreams.push(Upstream {
                name,
                base_url,
                api_key,
                models,
                timeout: Duration::from_secs(timeout_secs),
                provider,
            });
        }
        Ok(Self(upstreams))
    }

    /// The upstream serving `model`: an exact name wins over any prefix, a longer prefix over
    /// a shorter one, and between equals the first in the file.
    pub fn route(&self, model: &str) -> Option<&Upstream> {
        let mut best: Option<(usize, &Upstream)> = None;
        for upstream in &self.0 {
            for pattern in &upstream.models {
                let score = match pattern.strip_suffix('*') {
                    // Exact names rank above every prefix.
                    None if pattern == model => usize::MAX,
                    Some(prefix) if model.starts_with(prefix) => prefix.len(),
                    _ => continue,
                };
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, upstream));
                }
            }
        }
        best.map(|(_, u)| u)
    }

    pub fn all(&self) -> &[Upstream] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn upstream(name: &str, models: &[&str]) -> Upstream {
        Upstream {
            name: name.into(),
            base_url: format!("http://{name}.test/v1"),
            api_key: None,
            models: models.iter().map(|m| m.to_string()).collect(),
            timeout: Duration::from_secs(1),
            provider: None,
        }
    }

    #[test]
    fn parses_a_file_with_keys_from_the_environment() {
        let text = r#"
            [[upstreams]]
            name = "openai"
            base_url = "https://api.openai.com/v1/"
            api_key_env = "OPENAI_KEY"
            models = ["gpt-*", "text-embedding-3-small"]

            [[upstreams]]
            name = "local"
            base_url = "http://127.0.0.1:8000/v1"
            models = ["*"]
            timeout_secs = 5
        "#;
        let ups = Upstreams::parse(text, |v| (v == "OPENAI_KEY").then(|| "sk-1".to_owned())).expect("valid");
        assert_eq!(ups.all().len(), 2);
        assert_eq!(ups.all()[0].base_url, "https://api.openai.com/v1");
        assert_eq!(ups.all()[0].api_key.as_deref(), Some("sk-1"));
        assert_eq!(ups.all()[0].timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
        assert_eq!((ups.all()[1].api_key.clone(), ups.all()[1].timeout), (None, Duration::from_secs(5)));
    }

    #[test]
    fn problems_name_their_place() {
        let cases = [
            ("[[upstreams]]\nname = \"a\"\nbase_url = \"ftp://x\"\nmodels = [\"*\"]", "upstreams[0].base_url"),
            ("[[upstreams]]\nname = \"a\"\nbase_url = \"http://x.test\"\nmodels = []", "upstreams[0].models"),
            ("[[upstreams]]\nname = \"a\"\nbase_url = \"http://x.test\"\nmodels = [\"g*pt\"]", "upstreams[0].models"),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://x.test\"\nmodels = [\"*\"]\napi_key_env = \"NOPE\"",
                "upstreams[0].api_key_env",
            ),
            (
                "[[upstreams]]\nname = \"a\"\nbase_url = \"http://x.test\"\nmodels = [\"*\"]\ntimeout_secs = 0",
                "upstreams[0].timeout_secs",
            ),
            ("[[upstreams]]\nname = \" \"\nbase_url = \"http://x.test\"\nmodels = [\"*\"]", "upstreams[0].name"),
            ("[[upstreams]]\nname = \"a\"\nbase_url = \"http://x.test\"\nmodels = [\"*\"]\nkey = 1", "file"),
        ];
        for (text, field) in cases {
            let err = Upstreams::parse(text, |_| None).expect_err(text);
            assert_eq!(err.field, field, "{text}: {}", err.message);
        }
    }

    #[test]
    fn exact_names_beat_prefixes_and_longer_prefixes_beat_shorter() {
        let ups = Upstreams::new(vec![
            upstream("catch-all", &["*"]),
            upstream("gpt", &["gpt-*"]),
            upstream("mini", &["gpt-4o-mini*", "special"]),
            upstream("exact", &["gpt-4o"]),
        ]);
        let name = |m: &str| ups.route(m).map(|u| u.name.as_str());
        assert_eq!(name("gpt-4o"), Some("exact"));
        assert_eq!(name("gpt-4o-mini-2024"), Some("mini"));
        assert_eq!(name("gpt-3.5"), Some("gpt"));
        assert_eq!(name("claude"), Some("catch-all"));
        assert_eq!(name("special"), Some("mini"));
        assert_eq!(Upstreams::new(vec![upstream("gpt", &["gpt-*"])]).route("llama"), None);
    }

    proptest! {
        /// Against a model of the rule: the chosen upstream serves the model, and no pattern
        /// of any upstream matching the model ranks above the chosen one's best.
        #[test]
        fn the_route_is_the_best_match(model in "[a-c]{0,4}", patterns in prop::collection::vec(prop::collection::vec("[a-c]{0,3}\\*?", 1..3), 1..4)) {
            let ups = Upstreams::new(patterns.iter().enumerate().map(|(i, p)| {
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                upstream(&format!("u{i}"), &p)
            }).collect());
            // (is exact, prefix length) of a pattern's match, if it matches.
            let rank = |p: &str| -> Option<(bool, usize)> {
                match p.strip_suffix('*') {
                    Some(prefix) => model.starts_with(prefix).then_some((false, prefix.len())),
                    None => (p == model).then_some((true, 0)),
                }
            };
            let best_of = |u: &Upstream| u.models.iter().filter_map(|p| rank(p)).max();
            let overall = ups.all().iter().filter_map(best_of).max();
            match ups.route(&model) {
                None => prop_assert_eq!(overall, None),
                Some(chosen) => {
                    prop_assert_eq!(best_of(chosen), overall);
                    // The first upstream in the file with that rank.
                    let first = ups.all().iter().find(|u| best_of(u) == overall).map(|u| &u.name);
                    prop_assert_eq!(Some(&chosen.name), first);
                }
            }
        }
    }
}
