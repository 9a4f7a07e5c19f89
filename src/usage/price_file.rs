//! An operator's price file (`tollgate serve --price-file`): per model, it wins over the
//! bundled genai-prices database.
//!
//! One JSON object of model name (or prefix ending in `*`) → prices, in either of two
//! spellings per entry:
//! - LiteLLM's `model_prices_and_context_window.json`: `input_cost_per_token`,
//!   `output_cost_per_token`, `cache_read_input_token_cost`, `cache_creation_input_token_cost`
//!   and `cache_creation_input_token_cost_above_1hr` in USD per token, so a team moving from
//!   LiteLLM keeps its prices;
//! - ours: `input_usd_per_mtok`, `output_usd_per_mtok`, `cache_read_usd_per_mtok`,
//!   `cache_write_5m_usd_per_mtok` and `cache_write_1h_usd_per_mtok` in USD per million tokens.
//!
//! A cache price left out is charged at the input price (1-hour writes at the 5-minute price).
//!
//! Entries priced some other way (per image, per second, LiteLLM's `sample_spec`) are skipped
//! and counted, so loading LiteLLM's whole file works. A negative or non-numeric price is an
//! error naming the model: a wrong price would silently mis-charge every call.

use super::pricing::{ModelPrice, PriceTable};
use serde_json::{Map, Value};

/// A parsed price file: the prices it sets and how many entries it skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFile {
    pub table: PriceTable,
    pub skipped: usize,
}

/// Reads a price file's text.
pub fn parse(text: &str) -> Result<PriceFile, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(models) = root else {
        return Err("expected a JSON object of model name → prices".into());
    };
    let mut entries = Vec::with_capacity(models.len());
    let mut skipped = 0;
    for (model, entry) in &models {
        match entry_price(model, entry)? {
            Some(price) => entries.push((model.clone(), price)),
            None => skipped += 1,
        }
    }
    Ok(PriceFile { table: PriceTable::from_entries(entries), skipped })
}

/// The price of one entry, `None` when it is not priced per token (or is LiteLLM's example).
fn entry_price(model: &str, entry: &Value) -> Result<Option<ModelPrice>, String> {
    let Value::Object(fields) = entry else { return Ok(None) };
    if model == "sample_spec" {
        return Ok(None);
    }
    // USD per token × 1e12 = micro-USD per million tokens; USD per Mtok × 1e6 likewise.
    // Each spelling: input, output, cache read, 5-minute write, 1-hour write, scale.
    let spellings = [
        (
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
            "cache_creation_input_token_cost_above_1hr",
            1e12,
        ),
        (
            "input_usd_per_mtok",
            "output_usd_per_mtok",
            "cache_read_usd_per_mtok",
            "cache_write_5m_usd_per_mtok",
            "cache_write_1h_usd_per_mtok",
            1e6,
        ),
    ];
    for (input_key, output_key, read_key, write_5m_key, write_1h_key, scale) in spellings {
        if !fields.contains_key(input_key) && !fields.contains_key(output_key) {
            continue;
        }
        let optional = |key: &str| fields.contains_key(key).then(|| micros(model, fields, key, scale)).transpose();
        return Ok(Some(ModelPrice {
            input_micros_per_mtok: micros(model, fields, input_key, scale)?,
            output_micros_per_mtok: micros(model, fields, output_key, scale)?,
            cache_read_micros_per_mtok: optional(read_key)?,
            cache_write_5m_micros_per_mtok: optional(write_5m_key)?,
            cache_write_1h_micros_per_mtok: optional(write_1h_key)?,
        }));
    }
    Ok(None)
}

/// One price in micro-USD per million tokens, rounded to the nearest; a missing side is free
/// (embedding models have no output price).
fn micros(model: &str, fields: &Map<String, Value>, key: &str, scale: f64) -> Result<i64, String> {
    let Some(value) = fields.get(key) else { return Ok(0) };
    let usd = value.as_f64().ok_or_else(|| format!("{model}: {key} must be a number, got {value}"))?;
    let scaled = (usd * scale).round();
    if !(0.0..=1e15).contains(&scaled) {
        return Err(format!("{model}: {key} must be between 0 and $1,000 per token, got {usd}"));
    }
    Ok(scaled as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_litellm_entries_and_skips_what_is_not_priced_per_token() {
        let text = r#"{
            "sample_spec": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "chat"},
            "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "litellm_provider": "openai"},
            "claude-sonnet-4-5": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
                "cache_creation_input_token_cost_above_1hr": 6e-06},
            "text-embedding-3-small": {"input_cost_per_token": 2e-08, "litellm_provider": "openai"},
            "dall-e-3": {"input_cost_per_pixel": 4e-08, "mode": "image_generation"},
            "our-model": {"input_usd_per_mtok": 0.25, "output_usd_per_mtok": 1.25}
        }"#;
        let file = parse(text).expect("parses");
        assert_eq!(file.skipped, 2);
        let claude = file.table.price_of("claude-sonnet-4-5").expect("priced");
        assert_eq!(
            (
                claude.cache_read_micros_per_mtok,
                claude.cache_write_5m_micros_per_mtok,
                claude.cache_write_1h_micros_per_mtok
            ),
            (Some(300_000), Some(3_750_000), Some(6_000_000))
        );
        assert_eq!(file.table.price_of("gpt-4o").and_then(|p| p.cache_read_micros_per_mtok), None);
        let price = |m| file.table.price_of(m).map(|p| (p.input_micros_per_mtok, p.output_micros_per_mtok));
        assert_eq!(price("gpt-4o"), Some((2_500_000, 10_000_000)));
        assert_eq!(price("text-embedding-3-small"), Some((20_000, 0)));
        assert_eq!(price("our-model"), Some((250_000, 1_250_000)));
        assert_eq!(price("dall-e-3"), None);
    }

    #[test]
    fn a_bad_price_is_an_error_naming_the_model_and_key() {
        for (text, wanted) in [
            (r#"{"m": {"input_cost_per_token": -1e-6}}"#, "m: input_cost_per_token"),
            (r#"{"m": {"output_usd_per_mtok": "3"}}"#, "m: output_usd_per_mtok must be a number"),
            (r#"[1, 2]"#, "expected a JSON object"),
            (r#"{"m": "#, "not JSON"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(wanted), "{text}: {error}");
        }
    }

    proptest! {
        /// Round trip: any integer price written the way LiteLLM's file writes it (USD per
        /// token, shortest float text) reads back as exactly that price.
        #[test]
        fn litellm_prices_read_back_exactly(input in 0i64..1_000_000_000, output in 0i64..1_000_000_000) {
            let text = serde_json::json!({
                "m": {"input_cost_per_token": input as f64 / 1e12, "output_cost_per_token": output as f64 / 1e12}
            })
            .to_string();
            let price = parse(&text).expect("parses").table.price_of("m").expect("priced");
            prop_assert_eq!((price.input_micros_per_mtok, price.output_micros_per_mtok), (input, output));
        }
    }
}
