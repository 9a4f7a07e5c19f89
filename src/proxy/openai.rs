//! The OpenAI wire format as the proxy needs it: the error body SDKs understand, the edit
//! that asks a stream for its usage, and reading `usage` from an answer or a stream chunk.
//! Pure: JSON in, JSON out.

use crate::usage::tokens::TokenUsage;
use serde::Serialize;
use serde_json::Value;

/// `{"error": {...}}`, as OpenAI answers errors (the SDKs raise from it by status and `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OpenAiError)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OpenAiErrorDetail)]
pub struct ErrorDetail {
    pub message: String,
    /// `insufficient_quota` (a budget), `rate_limit_exceeded` (a token limit),
    /// `invalid_request_error`, `authentication_error`, `server_error`, `timeout`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(kind: &'static str, code: Option<&str>, param: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind,
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }
}

/// The usage of a JSON answer or stream chunk, when it carries one. Chat and completions:
/// `prompt_tokens` (cached included) + `completion_tokens`, with
/// `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens` as
/// parts of them; embeddings: `prompt_tokens` only. A part larger than its whole is clamped to
/// it: the whole is what is billed.
pub fn usage_of(answer: &Value) -> Option<TokenUsage> {
    let usage = answer.get("usage")?.as_object()?;
    let input_tokens = count(usage.get("prompt_tokens")?)?;
    let output_tokens = match usage.get("completion_tokens") {
        Some(n) => count(n)?,
        None => 0,
    };
    let detail = |details: &str, key: &str| usage.get(details).and_then(|d| d.get(key)).and_then(count).unwrap_or(0);
    Some(TokenUsage {
        input_tokens,
        output_tokens,
        cache_read_tokens: detail("prompt_tokens_details", "cached_tokens").min(input_tokens),
        reasoning_tokens: detail("completion_tokens_details", "reasoning_tokens").min(output_tokens),
        ..TokenUsage::default()
    })
}

/// A token count as the ledger keeps it (non-negative, within `i64`).
pub(super) fn count(n: &Value) -> Option<i64> {
    n.as_u64().and_then(|n| i64::try_from(n).ok())
}

/// Whether a chunk's text may carry a usage object (`"usage"` followed by `{`), so only those
/// chunks are parsed: with `include_usage` every other chunk carries `"usage":null`.
pub fn may_carry_usage(data: &str) -> bool {
    data.match_indices("\"usage\"").any(|(at, key)| {
        let rest = data[at + key.len()..].trim_start();
        rest.strip_prefix(':').is_some_and(|v| v.trim_start().starts_with('{'))
    })
}

/// Asks a streamed call to end with a usage chunk (`stream_options.include_usage`); answers
/// whether the client had asked for it itself (then the chunk is theirs to see).
pub fn request_stream_usage(body: &mut Value) -> bool {
    let Some(object) = body.as_object_mut() else { return false };
    let options = object.entry("stream_options").or_insert_with(|| Value::Object(Default::default()));
    if !options.is_object() {
        *options = Value::Object(Default::default());
    }
    let asked = options.get("include_usage").and_then(Value::as_bool) == Some(true);
    if let Some(options) = options.as_object_mut() {
        options.insert("include_usage".into(), Value::Bool(true));
    }
    asked
}

/// Whether a stream chunk is the usage chunk `include_usage` adds: a usage object and no
/// choices (the client is not shown it unless it asked).
pub fn is_usage_only_chunk(chunk: &Value) -> bool {
    usage_of(chunk).is_some() && chunk.get("choices").and_then(Value::as_array).is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_is_read_from_answers_and_chunks() {
        let chat = json!({"usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}});
        assert_eq!(usage_of(&chat), Some(TokenUsage::plain(12, 30)));
        let embedding = json!({"usage": {"prompt_tokens": 8, "total_tokens": 8}});
        assert_eq!(usage_of(&embedding), Some(TokenUsage::plain(8, 0)));
        let detailed = json!({"usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0}}});
        assert_eq!(
            usage_of(&detailed),
            Some(TokenUsage { cache_read_tokens: 1920, reasoning_tokens: 192, ..TokenUsage::plain(2006, 300) })
        );
        assert_eq!(usage_of(&json!({"usage": null})), None);
        assert_eq!(usage_of(&json!({"usage": {"prompt_tokens": -1}})), None);
        assert_eq!(usage_of(&json!({"choices": []})), None);
    }

    #[test]
    fn stream_usage_is_requested_and_the_clients_wish_remembered() {
        let mut body = json!({"model": "m", "stream": true});
        assert!(!request_stream_usage(&mut body));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        let mut body = json!({"stream_options": {"include_usage": true, "other": 1}});
        assert!(request_stream_usage(&mut body));
        assert_eq!(body["stream_options"], json!({"include_usage": true, "other": 1}));
        let mut body = json!({"stream_options": {"include_usage": false}});
        assert!(!request_stream_usage(&mut body));
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn only_chunks_with_a_usage_object_are_parsed() {
        assert!(may_carry_usage(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#));
        assert!(may_carry_usage(r#"{"choices":[], "usage" : { "prompt_tokens": 1}}"#));
        assert!(!may_carry_usage(r#"{"choices":[{"delta":{"content":"usage"}}],"usage":null}"#));
        assert!(!may_carry_usage(r#"{"choices":[{"delta":{"content":"\"usage\" is"}}]}"#));
        // Every chunk the parser would read usage from is one this lets through.
        for chunk in [
            json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
            json!({"a": 1, "usage": {"prompt_tokens": 0}}),
        ] {
            assert_eq!(may_carry_usage(&chunk.to_string()), usage_of(&chunk).is_some());
            assert!(may_carry_usage(&serde_json::to_string_pretty(&chunk).expect("json")));
        }
    }

    #[test]
    fn only_the_usage_chunk_is_usage_only() {
        assert!(is_usage_only_chunk(&json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}})));
        assert!(!is_usage_only_chunk(&json!({"choices": [{"delta": {}}], "usage": null})));
        assert!(!is_usage_only_chunk(
            &json!({"choices": [{"delta": {}}], "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
        ));
    }

    #[test]
    fn errors_have_openais_shape() {
        let body = ErrorBody::new("insufficient_quota", Some("budget_exceeded"), None, "Tenant acme is over budget");
        assert_eq!(
            serde_json::to_value(body).expect("json"),
            json!({"error": {"message": "Tenant acme is over budget", "type": "insufficient_quota", "param": null, "code": "budget_exceeded"}})
        );
    }
}
