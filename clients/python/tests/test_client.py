"""The client library against the real server: check, report (idempotent), guard, and the
refusal raised as `UsageExceeded` with its fields."""

from __future__ import annotations

import pytest
from conftest import Server

from tollgate import TokenUsageClient, TollgateError, UsageExceeded


def test_check_report_and_status(server: Server) -> None:
    key = server.tenant("pyc-basic", token_limit=1_000)
    with TokenUsageClient(server.url, key) as client:
        allowed = client.check(estimated_tokens=300, model="gpt-4o", user_id="ann")
        assert allowed.reservation_id and allowed.reserved_tokens == 300 and allowed.token_limit == 1_000
        recorded = client.report("gpt-4o", 100, 50, user_id="ann", reservation_id=allowed.reservation_id, event_id="e-1")
        assert recorded.recorded
        # The same event id again counts once.
        assert not client.report("gpt-4o", 100, 50, user_id="ann", event_id="e-1").recorded
        status = client.status()
        assert (status["used_tokens"], status["reserved_tokens"]) == (150, 0)


def test_guard_settles_what_the_call_used(server: Server) -> None:
    key = server.tenant("pyc-guard", token_limit=1_000)
    with TokenUsageClient(server.url, key) as client:
        with client.guard(estimated_tokens=400, model="claude-sonnet-4", user_id="bob") as call:
            assert client.status()["reserved_tokens"] == 400
            call.set_usage(120, 80)
        assert (client.status()["used_tokens"], client.status()["reserved_tokens"]) == (200, 0)
        # A block that raises reports nothing used and releases the reservation.
        with pytest.raises(RuntimeError):
            with client.guard(estimated_tokens=400, model="claude-sonnet-4"):
                raise RuntimeError("the provider failed")
        assert (client.status()["used_tokens"], client.status()["reserved_tokens"]) == (200, 0)


def test_a_refusal_raises_usage_exceeded_with_its_fields(server: Server) -> None:
    key = server.tenant("pyc-refuse", token_limit=100)
    with TokenUsageClient(server.url, key) as client:
        client.report("gpt-4o", 100, 0)
        with pytest.raises(UsageExceeded) as refused:
            with client.guard(estimated_tokens=10, model="gpt-4o"):
                pytest.fail("the block must not run")
        e = refused.value
        assert (e.limit, e.error, e.used_tokens, e.token_limit) == ("token_limit", "token_limit_exceeded", 100, 100)
        assert e.retry_after and e.retry_after > 0 and e.resets_at
        assert "100" in e.message


def test_bad_input_and_bad_keys_raise_tollgate_error(server: Server) -> None:
    key = server.tenant("pyc-bad")
    with TokenUsageClient(server.url, key) as client:
        with pytest.raises(TollgateError) as bad:
            client.report("gpt-4o", -1, 0)
        assert (bad.value.status, bad.value.field) == (422, "input_tokens")
    with TokenUsageClient(server.url, "tg_not_a_key", retries=0) as client:
        with pytest.raises(TollgateError) as unauthorized:
            client.check()
        assert unauthorized.value.status == 401


def test_connection_failures_are_retried_then_raised() -> None:
    import httpx

    with TokenUsageClient("http://127.0.0.1:9", "tg_x", retries=2, backoff=0.01) as client:
        with pytest.raises(httpx.ConnectError):
            client.check()


def test_cache_and_reasoning_tokens_are_reported_and_priced(server: Server) -> None:
    key = server.tenant("pyc-cache", token_limit=100_000)
    with TokenUsageClient(server.url, key) as client:
        # Claude Sonnet 4.5 at Anthropic's published prices ($3 input, $0.30 cache read,
        # $3.75 5-minute write, $6 1-hour write, $15 output per Mtok):
        # 1000×3 + 6000×0.3 + 2000×3.75 + 1000×6 + 500×15 = 25,800 micro-USD.
        recorded = client.report(
            "claude-sonnet-4-5",
            10_000,
            500,
            cache_read_tokens=6_000,
            cache_write_5m_tokens=2_000,
            cache_write_1h_tokens=1_000,
            reasoning_tokens=200,
            provider="anthropic",
        )
        assert recorded.body["cost_usd"] == pytest.approx(0.0258, abs=1e-9)
        assert recorded.body["cost_source"] == "genai_prices"
        status = client.status()
        # Cached tokens count against the token limit like any other.
        assert (status["used_tokens"], status["cache_read_tokens"], status["cache_write_tokens"]) == (10_500, 6_000, 3_000)
        assert status["reasoning_tokens"] == 200
        with pytest.raises(TollgateError) as bad:
            client.report("claude-sonnet-4-5", 100, 0, cache_read_tokens=101)
        assert (bad.value.status, bad.value.field) == (422, "cache_read_tokens")
