"""The proxy with the official `openai` package as the client, against the stand-in upstream:
plain and streamed calls (with and without include_usage), refusals at a token limit and at a
budget's block amount, upstream 500 and timeout, a client that leaves mid-stream, and 64
streams racing at a limit. In each, usage and spend are exactly the stand-in's `usage`, priced
from the table, and nothing stays reserved."""

from __future__ import annotations

import concurrent.futures

import openai
import pytest
from conftest import Server, wait_until

# gpt-4o's built-in price: $2.50 / $10.00 per million tokens; costs round half up to the
# micro-dollar, as the price table documents.
def gpt_4o_usd(prompt: int, completion: int) -> float:
    micros = (prompt * 2_500_000 + completion * 10_000_000 + 500_000) // 1_000_000
    return micros / 1_000_000


def sdk(server: Server, key: str, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, **options)


MESSAGES = [{"role": "user", "content": "Say hello"}]


def settled(server: Server, key: str, tokens: int, spend: float) -> bool:
    s = server.status(key)
    return s["used_tokens"] == tokens and abs(s["spend_usd"] - spend) < 1e-9 and s["reserved_tokens"] == 0


def test_a_plain_call(server: Server) -> None:
    key = server.tenant("py-plain", token_limit=10_000)
    answer = sdk(server, key).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=50, user="ann", extra_body={"standin": {"usage": [120, 30]}}
    )
    assert answer.choices[0].message.content == "Hello world"
    assert answer.usage.total_tokens == 150
    auth, body = server.standin.requests()[-1]
    assert auth == "Bearer upstream-key" and body["user"] == "ann"
    # Recorded right behind the answer.
    assert wait_until(lambda: settled(server, key, 150, gpt_4o_usd(120, 30)))


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_stream(server: Server, include_usage: bool) -> None:
    key = server.tenant("py-stream", token_limit=10_000)
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = sdk(server, key).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=50, stream=True, extra_body={"standin": {"usage": [11, 3]}}, **options
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == (1 if include_usage else 0), "the usage chunk reaches only a client that asked"
    assert wait_until(lambda: settled(server, key, 14, gpt_4o_usd(11, 3)))


def test_refused_at_the_token_limit(server: Server) -> None:
    key = server.tenant("py-limit", token_limit=100)
    before = len(server.standin.requests())
    with pytest.raises(openai.RateLimitError) as refused:
        sdk(server, key).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=500)
    error = refused.value.body
    assert (error["type"], error["code"]) == ("rate_limit_exceeded", "token_limit_exceeded")
    assert refused.value.response.headers.get("retry-after")
    assert len(server.standin.requests()) == before, "never forwarded"
    assert settled(server, key, 0, 0.0)


def test_refused_at_the_budget_block_amount(server: Server) -> None:
    # $0.01 blocks at $0.011 (110 %); 2,000 output tokens of gpt-4o are estimated at $0.02.
    key = server.tenant("py-budget", budget_usd="0.01")
    with pytest.raises(openai.RateLimitError) as refused:
        sdk(server, key).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=2000)
    assert (refused.value.body["type"], refused.value.body["code"]) == ("insufficient_quota", "budget_exceeded")
    # A call that fits is forwarded, and the spend is the stand-in's usage, priced.
    sdk(server, key).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=100, extra_body={"standin": {"usage": [20, 40]}})
    assert wait_until(lambda: settled(server, key, 60, gpt_4o_usd(20, 40)))


def test_upstream_errors_and_timeouts_are_not_charged(server: Server) -> None:
    key = server.tenant("py-fail", token_limit=10_000)
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(server, key).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=50, extra_body={"standin": {"status": 500}})
    assert failed.value.body["message"] == "the stand-in failed on purpose"
    with pytest.raises(openai.APIStatusError) as timed_out:
        sdk(server, key).chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=50, extra_body={"standin": {"sleep_s": 3}})
    assert timed_out.value.status_code == 504
    assert settled(server, key, 0, 0.0)


def test_a_client_that_leaves_mid_stream_is_settled_from_the_usage(server: Server) -> None:
    key = server.tenant("py-leave", token_limit=10_000)
    stream = sdk(server, key).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=50, stream=True,
        extra_body={"standin": {"usage": [40, 2], "chunk_delay_s": 0.2}},
    )
    next(iter(stream))
    stream.close()
    assert wait_until(lambda: settled(server, key, 42, gpt_4o_usd(40, 2)))


def test_64_streams_racing_at_a_limit(server: Server) -> None:
    # Each call reserves its prompt (~12 tokens) + 50; 1,500 admits about 24 at once.
    key = server.tenant("py-race", token_limit=1_500)
    client = sdk(server, key, timeout=30)

    def call(i: int) -> int:
        try:
            stream = client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, max_tokens=50, stream=True, user=f"u{i % 4}",
                extra_body={"standin": {"usage": [9, 21], "chunk_delay_s": 0.01}},
            )
            for _ in stream:
                pass
            return 200
        except openai.RateLimitError:
            return 429

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(call, range(64)))
    admitted = statuses.count(200)
    assert admitted > 0 and statuses.count(429) == 64 - admitted
    assert wait_until(lambda: settled(server, key, 30 * admitted, admitted * gpt_4o_usd(9, 21)), timeout=10)
    assert server.status(key)["used_tokens"] <= 1_500
