//! The built-in model price table, used when an agent reports tokens without a cost.
//! Prices are USD per million tokens, held as micro-USD so that costs are exact integers.
//! A model that is not in the table costs 0 unless the agent reports `cost_usd`.

/// (model name prefix, input price, output price) in micro-USD per million tokens.
/// The longest matching prefix wins, so dated model names (`gpt-4o-2024-08-06`) are priced.
const PRICES: &[(&str, i64, i64)] = &[
    ("gpt-4o-mini", 150_000, 600_000),
    ("gpt-4o", 2_500_000, 10_000_000),
    ("gpt-4.1-mini", 400_000, 1_600_000),
    ("gpt-4.1", 2_000_000, 8_000_000),
    ("o3-mini", 1_100_000, 4_400_000),
    ("claude-3-5-haiku", 800_000, 4_000_000),
    ("claude-3-5-sonnet", 3_000_000, 15_000_000),
    ("claude-sonnet-4", 3_000_000, 15_000_000),
    ("claude-opus-4", 15_000_000, 75_000_000),
    ("anthropic.claude-3-haiku", 250_000, 1_250_000),
    ("anthropic.claude-3-5-sonnet", 3_000_000, 15_000_000),
];

/// Price per million tokens (input, output) in micro-USD, if the model is known.
pub fn price_of(model: &str) -> Option<(i64, i64)> {
    PRICES
        .iter()
        .filter(|(prefix, _, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, input, output)| (input, output))
}

/// The cost of a call in micro-USD, rounded to the nearest micro-USD.
pub fn cost_micros(model: &str, input_tokens: i64, output_tokens: i64) -> i64 {
    let Some((input_price, output_price)) = price_of(model) else {
        return 0;
    };
    let numerator =
        i128::from(input_tokens) * i128::from(input_price) + i128::from(output_tokens) * i128::from(output_price);
    ((numerator + 500_000) / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_known_models_by_longest_prefix() {
        assert_eq!(price_of("gpt-4o-mini-2024-07-18"), Some((150_000, 600_000)));
        assert_eq!(price_of("gpt-4o-2024-08-06"), Some((2_500_000, 10_000_000)));
        assert_eq!(price_of("unknown"), None);
        // 1M input + 1M output tokens of gpt-4o = $12.50.
        assert_eq!(cost_micros("gpt-4o", 1_000_000, 1_000_000), 12_500_000);
        assert_eq!(cost_micros("unknown", 1_000_000, 1_000_000), 0);
    }
}
