-- Cache and reasoning tokens (issue 19). They are parts of input_tokens and output_tokens,
-- never added to them: token limits keep counting input_tokens + output_tokens. Older rows
-- hold 0, which is what their reports meant.
ALTER TABLE usage_events ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN cache_write_5m_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
-- Which source priced the event: reported, price_file, genai_prices, unknown_model (NULL:
-- recorded before this column; its stored answer says).
ALTER TABLE usage_events ADD COLUMN cost_source TEXT;

ALTER TABLE usage_counters ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
-- 5-minute and 1-hour writes together.
ALTER TABLE usage_counters ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_counters ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
