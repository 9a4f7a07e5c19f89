//! What a proxied call is expected to use, reserved before it is forwarded: the prompt's
//! tokens counted with OpenAI's own tokenizer for OpenAI-family models (`tiktoken-rs`, whose
//! BPE files are inside the crate) and with a documented heuristic for others, plus the output
//! the request allows (`max_completion_tokens` / `max_tokens`, else a configured default),
//! times the number of choices. Pure: a request body in, token counts out.

use serde_json::Value;
use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

/// The OpenAI endpoints the proxy admits calls to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
}

impl Endpoint {
    /// The path under an upstream's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/chat/completions",
            Self::Completions => "/completions",
            Self::Embeddings => "/embeddings",
        }
    }
}

/// OpenAI's documented overheads for chat messages: every message is framed by 3 tokens, a
/// `name` costs 1 more, and the reply is primed with 3.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_NAME: u64 = 1;
const REPLY_PRIMING_TOKENS: u64 = 3;
/// An image part of a message, at most: a 1024×1024 image in high detail (85 + 4 × 170).
const TOKENS_PER_IMAGE: u64 = 765;
/// The legacy completions API's own default for `max_tokens`.
const COMPLETIONS_DEFAULT_MAX_TOKENS: u64 = 16;
/// The heuristic for models without a known tokenizer: about 4 characters a token (OpenAI's
/// rule of thumb for English), rounded up.
const CHARS_PER_TOKEN: u64 = 4;
/// The longest run of non-space (or of space) characters the tokenizer sees whole. BPE merging
/// costs the square of a piece's length (a 160 KB "word" took 13 s), so longer runs are cut
/// here and their parts counted one by one: time linear in the text, a count within a token
/// per cut of the whole word's (real words and numbers are far shorter, and keep their exact
/// counts).
const MAX_RUN_CHARS: usize = 64;
/// The characters of one request the tokenizer counts; the rest is counted by the heuristic.
/// Prompts this long exceed every model's context anyway, and counting them exactly would let
/// one request buy seconds of CPU.
pub const TOKENIZED_CHARS_PER_REQUEST: usize = 1 << 20;

/// How the prompt was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Tokenizer(Tokenizer),
    Heuristic,
}

/// A call's expected tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub counting: Counting,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Builds the tokenizers of current OpenAI models (o200k for GPT-4o and later, cl100k for
/// GPT-4 and 3.5) ahead of use: each takes a few hundred milliseconds to build, which the
/// first proxied call would otherwise wait for.
pub fn warm_up() {
    let _ = (tiktoken_rs::o200k_base_singleton(), tiktoken_rs::cl100k_base_singleton());
}

/// Counts text with one tokenizer (within a budget of characters), or by the heuristic.
struct Counter {
    bpe: Option<(Tokenizer, &'static CoreBPE)>,
    /// Characters the tokenizer may still count for this request.
    budget: std::cell::Cell<usize>,
}

impl Counter {
    fn for_model(model: &str) -> Self {
        let bpe = get_tokenizer(model).map(|t| {
            let bpe = match t {
                Tokenizer::O200kBase => tiktoken_rs::o200k_base_singleton(),
                Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
                Tokenizer::P50kBase => tiktoken_rs::p50k_base_singleton(),
                Tokenizer::R50kBase | Tokenizer::Gpt2 => tiktoken_rs::r50k_base_singleton(),
                Tokenizer::P50kEdit => tiktoken_rs::p50k_edit_singleton(),
            };
            (t, bpe)
        });
        Self { bpe, budget: std::cell::Cell::new(TOKENIZED_CHARS_PER_REQUEST) }
    }

    fn text(&self, text: &str) -> u64 {
        let Some((_, bpe)) = self.bpe else { return heuristic_tokens(text) };
        // Within the budget the tokenizer counts; what is past it, the heuristic.
        let (counted, rest) = split_at_chars(text, self.budget.get());
        self.budget.set(self.budget.get() - counted.chars().count().min(self.budget.get()));
        let tokens: usize = short_runs(counted).map(|part| bpe.encode_ordinary(part).len()).sum();
        tokens as u64 + heuristic_tokens(rest)
    }

    fn counting(&self) -> Counting {
        self.bpe.map_or(Counting::Heuristic, |(t, _)| Counting::Tokenizer(t))
    }
}

/// `text` split after its first `n` characters.
fn split_at_chars(text: &str, n: usize) -> (&str, &str) {
    match text.char_indices().nth(n) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    }
}

/// `text` in parts in which no run of non-space characters, nor of space characters, is longer
/// than `MAX_RUN_CHARS`: cut inside such runs only, so ordinary text is one part and keeps its
/// exact count. Every tokenizer piece lies within one run (plus a character before it and line
/// breaks after it), so no piece of a part is longer than about twice the limit.
fn short_runs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut run, mut space) = (0usize, None);
        let mut cut = rest.len();
        for (at, c) in rest.char_indices() {
            let is_space = c.is_whitespace();
            if space == Some(is_space) {
                run += 1;
            } else {
                (run, space) = (1, Some(is_space));
            }
            if run > MAX_RUN_CHARS {
                cut = at;
                break;
            }
        }
        let (part, tail) = rest.split_at(cut);
        rest = tail;
        Some(part)
    })
}

/// The heuristic count of a text: characters / 4, rounded up.
pub fn heuristic_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(CHARS_PER_TOKEN)
}

/// The estimate of a request to `endpoint` for `model`; `default_max_output` is the output
/// reserved for a chat call that sets no maximum.
pub fn estimate(endpoint: Endpoint, model: &str, body: &Value, default_max_output: u64) -> Estimate {
    let counter = Counter::for_model(model);
    let choices = body.get("n").and_then(Value::as_u64).unwrap_or(1).max(1);
    let max_output = |default: u64| {
        ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_u64))
            .unwrap_or(default)
    };
    let (input_tokens, output_tokens) = match endpoint {
        Endpoint::ChatCompletions => {
            let messages = body.get("messages").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            let mut input = REPLY_PRIMING_TOKENS;
            for message in messages {
                input += TOKENS_PER_MESSAGE + message_tokens(&counter, message);
            }
            // Tool and function definitions are sent to the model as text.
            for key in ["tools", "functions", "response_format"] {
                if let Some(defs) = body.get(key) {
                    input += counter.text(&defs.to_string());
                }
            }
            (input, max_output(default_max_output).saturating_mul(choices))
        }
        Endpoint::Completions => {
            let input = body.get("prompt").map_or(0, |p| input_tokens(&counter, p));
            let best_of = body.get("best_of").and_then(Value::as_u64).unwrap_or(1).max(choices);
            (input, max_output(COMPLETIONS_DEFAULT_MAX_TOKENS).saturating_mul(best_of))
        }
        Endpoint::Embeddings => (body.get("input").map_or(0, |i| input_tokens(&counter, i)), 0),
    };
    Estimate { input_tokens, output_tokens, counting: counter.counting() }
}

/// One chat message: its role, name, content (text, or parts of text and images) and any tool
/// calls it carries.
fn message_tokens(counter: &Counter, message: &Value) -> u64 {
    let mut tokens = 0;
    if let Some(role) = message.get("role").and_then(Value::as_str) {
        tokens += counter.text(role);
    }
    if let Some(name) = message.get("name").and_then(Value::as_str) {
        tokens += TOKENS_PER_NAME + counter.text(name);
    }
    match message.get("content") {
        Some(Value::String(text)) => tokens += counter.text(text),
        Some(Value::Array(parts)) => {
            for part in parts {
                tokens += match part.get("type").and_then(Value::as_str) {
                    Some("text") => part.get("text").and_then(Value::as_str).map_or(0, |t| counter.text(t)),
                    Some("image_url") | Some("input_image") => TOKENS_PER_IMAGE,
                    // Audio, files and parts yet to come: counted as their JSON, a ceiling.
                    _ => counter.text(&part.to_string()),
                };
            }
        }
        _ => {}
    }
    if let Some(calls) = message.get("tool_calls").or_else(|| message.get("function_call")) {
        tokens += counter.text(&calls.to_string());
    }
    tokens
}

/// `prompt` or `input`: a text, texts, token ids, or lists of token ids.
fn input_tokens(counter: &Counter, input: &Value) -> u64 {
    match input {
        Value::String(text) => counter.text(text),
        Value::Array(items) if items.iter().all(Value::is_number) => items.len() as u64,
        Value::Array(items) => items.iter().map(|i| input_tokens(counter, i)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn chat_counts_follow_openais_documented_example() {
        // The OpenAI cookbook's example conversation: 129 prompt tokens for gpt-4o / gpt-4
        // models (its "How to count tokens with tiktoken", the API's own prompt_tokens).
        let body = json!({"model": "gpt-4o", "max_tokens": 100, "messages": [
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
        ]});
        let e = estimate(Endpoint::ChatCompletions, "gpt-4o", &body, 4096);
        assert_eq!((e.input_tokens, e.output_tokens), (124, 100));
        assert_eq!(e.counting, Counting::Tokenizer(Tokenizer::O200kBase));
        let e = estimate(Endpoint::ChatCompletions, "gpt-4-0613", &body, 4096);
        assert_eq!(e.input_tokens, 129);
    }

    #[test]
    fn output_is_the_requested_maximum_times_the_choices() {
        let body = json!({"messages": [], "max_completion_tokens": 50, "max_tokens": 999, "n": 3});
        assert_eq!(estimate(Endpoint::ChatCompletions, "gpt-4o", &body, 4096).output_tokens, 150);
        let body = json!({"messages": []});
        assert_eq!(estimate(Endpoint::ChatCompletions, "gpt-4o", &body, 4096).output_tokens, 4096);
        let body = json!({"prompt": "hi"});
        assert_eq!(estimate(Endpoint::Completions, "gpt-3.5-turbo-instruct", &body, 4096).output_tokens, 16);
        let body = json!({"prompt": "hi", "max_tokens": 10, "best_of": 4, "n": 2});
        assert_eq!(estimate(Endpoint::Completions, "gpt-3.5-turbo-instruct", &body, 4096).output_tokens, 40);
    }

    #[test]
    fn embeddings_count_every_input_form() {
        let e = |input: Value| estimate(Endpoint::Embeddings, "text-embedding-3-small", &json!({"input": input}), 9);
        assert_eq!(e(json!("hello world")).input_tokens, 2);
        assert_eq!(e(json!(["hello world", "hello"])).input_tokens, 3);
        assert_eq!(e(json!([1, 2, 3])).input_tokens, 3);
        assert_eq!(e(json!([[1, 2], [3]])).input_tokens, 3);
        assert_eq!(e(json!("hello world")).output_tokens, 0);
    }

    #[test]
    fn unknown_models_use_the_heuristic() {
        let body = json!({"messages": [{"role": "user", "content": "abcdefghi"}], "max_tokens": 1});
        let e = estimate(Endpoint::ChatCompletions, "llama-3-70b", &body, 4096);
        // 3 priming + 3 framing + "user" (1) + 9 characters (3).
        assert_eq!((e.input_tokens, e.counting), (10, Counting::Heuristic));
        assert_eq!(heuristic_tokens(""), 0);
        assert_eq!(heuristic_tokens("é"), 1);
    }

    #[test]
    fn images_and_tools_count() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "max_tokens": 1});
        let e = estimate(Endpoint::ChatCompletions, "gpt-4o", &body, 4096);
        assert!(e.input_tokens > TOKENS_PER_IMAGE + 10, "{e:?}");
    }

    #[test]
    fn a_huge_word_is_counted_in_runs_and_long_prompts_within_a_budget() {
        // 4 MB of one "word": whole, BPE would merge for hours (this test would not end); cut
        // into runs it is counted.
        let word = "ab".repeat(2 << 20);
        let body = json!({"messages": [{"role": "user", "content": word}], "max_tokens": 1});
        let e = estimate(Endpoint::ChatCompletions, "gpt-4o", &body, 4096);
        let counted = e.input_tokens - 3 - 3 - 1; // priming, framing, "user"
                                                  // Counted by the tokenizer up to the budget (at least one token per 64-character run,
                                                  // at most one per character), the rest by the heuristic.
        let heuristic = (word.len() - TOKENIZED_CHARS_PER_REQUEST).div_ceil(4) as u64;
        let runs = TOKENIZED_CHARS_PER_REQUEST.div_ceil(MAX_RUN_CHARS) as u64;
        assert!(counted >= runs + heuristic && counted <= TOKENIZED_CHARS_PER_REQUEST as u64 + heuristic, "{counted}");
        // Ordinary text is one run per word: counted exactly as the tokenizer counts it whole.
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(200);
        assert_eq!(short_runs(&text).count(), 1);
        let body = json!({"input": text});
        let e = estimate(Endpoint::Embeddings, "text-embedding-3-small", &body, 0);
        assert_eq!(e.input_tokens, tiktoken_rs::cl100k_base_singleton().encode_ordinary(&text).len() as u64);
    }

    proptest! {
        /// Cutting runs loses nothing and leaves no run longer than the limit; text without a
        /// long run is not cut at all (so it keeps its exact count).
        #[test]
        fn runs_are_cut_only_where_they_are_long(pieces in prop::collection::vec(("[a-z]{0,150}", "[ \n\t]{0,150}"), 0..8)) {
            let text: String = pieces.iter().map(|(word, space)| format!("{word}{space}")).collect();
            let parts: Vec<&str> = short_runs(&text).collect();
            prop_assert_eq!(parts.concat(), text.clone());
            let longest_run = |s: &str| {
                let (mut longest, mut run, mut last) = (0, 0, None);
                for c in s.chars() {
                    let space = c.is_whitespace();
                    run = if last == Some(space) { run + 1 } else { 1 };
                    last = Some(space);
                    longest = longest.max(run);
                }
                longest
            };
            prop_assert!(parts.iter().all(|p| longest_run(p) <= MAX_RUN_CHARS), "{:?}", parts);
            if longest_run(&text) <= MAX_RUN_CHARS {
                prop_assert!(parts.len() <= 1);
            }
        }

        /// The count of a conversation is the sum of its messages' counts plus the priming:
        /// checked by splitting it at every point (an independent decomposition, not the formula).
        #[test]
        fn chat_counts_add_up_over_messages(texts in prop::collection::vec(".{0,40}", 0..6), split in 0usize..6) {
            let messages: Vec<Value> = texts.iter().map(|t| json!({"role": "user", "content": t})).collect();
            let split = split.min(messages.len());
            let count = |ms: &[Value]| estimate(Endpoint::ChatCompletions, "gpt-4o", &json!({"messages": ms, "max_tokens": 0}), 0).input_tokens;
            let (a, b) = messages.split_at(split);
            prop_assert_eq!(count(&messages) + REPLY_PRIMING_TOKENS, count(a) + count(b));
        }

        /// Counting never panics and a longer text never counts fewer tokens with the heuristic.
        #[test]
        fn the_heuristic_is_monotone(a in ".{0,50}", b in ".{0,50}") {
            let joined = a.clone() + &b;
            prop_assert!(heuristic_tokens(&joined) >= heuristic_tokens(&a));
        }
    }
}
