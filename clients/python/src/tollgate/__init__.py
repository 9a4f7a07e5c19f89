"""Tollgate's agent API for Python: check before an LLM call, report after it.

``TokenUsageClient.check`` asks whether a call may be made (reserving its estimate),
``report`` records what it used (idempotently, with retries), and ``guard`` does both around a
block. A refusal raises ``UsageExceeded`` with the refusal's fields, so a workflow can show the
user a "usage exceeded" message.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional

import httpx

__all__ = ["TokenUsageClient", "UsageExceeded", "TollgateError", "Allowed", "Recorded", "GuardedCall"]


class TollgateError(Exception):
    """An answer that is neither a success nor a refusal (bad input, bad key, outage)."""

    def __init__(self, status: int, body: Dict[str, Any]):
        self.status = status
        self.body = body
        self.error: Optional[str] = body.get("error")
        self.field: Optional[str] = body.get("field")
        self.message: str = body.get("message") or str(body)
        super().__init__(f"{status}: {self.message}")


class UsageExceeded(Exception):
    """A check refused by a limit: ``limit`` is ``token_limit``, ``user_token_limit`` or
    ``budget``; ``message`` says it in words; ``retry_after`` is the seconds to the reset."""

    def __init__(self, body: Dict[str, Any], retry_after: Optional[int]):
        self.body = body
        self.limit: str = body.get("limit", "")
        self.error: str = body.get("error", "")
        self.message: str = body.get("message", "Usage exceeded")
        self.tenant_id: Optional[str] = body.get("tenant_id")
        self.user_id: Optional[str] = body.get("user_id")
        self.used_tokens: Optional[int] = body.get("used_tokens")
        self.token_limit: Optional[int] = body.get("token_limit")
        self.resets_at: Optional[str] = body.get("resets_at")
        self.retry_after = retry_after
        super().__init__(self.message)


@dataclass
class Allowed:
    """An admitted check; ``reservation_id`` holds the estimate until the report settles it."""

    tenant_id: str
    used_tokens: int
    reserved_tokens: int
    token_limit: Optional[int]
    remaining_tokens: Optional[int]
    resets_at: str
    reservation_id: Optional[str]
    mode: str
    would_refuse: Optional[str]
    body: Dict[str, Any] = field(repr=False)


@dataclass
class Recorded:
    """A recorded report: ``recorded`` is False when the event id had been recorded before."""

    event_id: str
    recorded: bool
    body: Dict[str, Any] = field(repr=False)


class GuardedCall:
    """The call inside ``guard``: set its usage before the block ends."""

    def __init__(self, allowed: Allowed):
        self.allowed = allowed
        self.input_tokens: Optional[int] = None
        self.output_tokens: Optional[int] = None
        self.cost_usd: Optional[float] = None

    def set_usage(self, input_tokens: int, output_tokens: int, cost_usd: Optional[float] = None) -> None:
        self.input_tokens, self.output_tokens, self.cost_usd = input_tokens, output_tokens, cost_usd


class TokenUsageClient:
    """A client of one Tollgate server, acting as one agent (its key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
        http: Optional[httpx.Client] = None,
    ):
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._retries = retries
        self._backoff = backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "TokenUsageClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> httpx.Response:
        """Sends, retrying connection failures and 503s (every call here is safe to repeat:
        checks reserve anew, reports carry their event id)."""
        attempt = 0
        while True:
            retry_after = 0.0
            try:
                response = self._http.request(method, path, json=body, headers=self._headers)
            except httpx.TransportError:
                if attempt >= self._retries:
                    raise
            else:
                if response.status_code != 503 or attempt >= self._retries:
                    return response
                retry_after = float(response.headers.get("retry-after", "0") or 0)
            time.sleep(max(self._backoff * (2**attempt), retry_after))
            attempt += 1

    @staticmethod
    def _json(response: httpx.Response) -> Dict[str, Any]:
        try:
            return response.json()
        except ValueError:
            return {"message": response.text}

    def check(self, estimated_tokens: int = 0, model: Optional[str] = None, user_id: Optional[str] = None) -> Allowed:
        body: Dict[str, Any] = {}
        if estimated_tokens:
            body["estimated_tokens"] = estimated_tokens
        if model is not None:
            body["model"] = model
        if user_id is not None:
            body["user_id"] = user_id
        response = self._send("POST", "/api/agent/usage/check", body)
        data = self._json(response)
        if response.status_code == 429:
            retry = response.headers.get("retry-after")
            raise UsageExceeded(data, int(retry) if retry and retry.isdigit() else None)
        if response.status_code != 200:
            raise TollgateError(response.status_code, data)
        return Allowed(
            tenant_id=data["tenant_id"],
            used_tokens=data["used_tokens"],
            reserved_tokens=data["reserved_tokens"],
            token_limit=data.get("token_limit"),
            remaining_tokens=data.get("remaining_tokens"),
            resets_at=data["resets_at"],
            reservation_id=data.get("reservation_id"),
            mode=data.get("mode", "enforce"),
            would_refuse=data.get("would_refuse"),
            body=data,
        )

    def report(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        user_id: Optional[str] = None,
        cost_usd: Optional[float] = None,
        reservation_id: Optional[str] = None,
        event_id: Optional[str] = None,
        cache_read_tokens: int = 0,
        cache_write_5m_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        reasoning_tokens: int = 0,
        provider: Optional[str] = None,
    ) -> Recorded:
        """Records a call's usage. ``input_tokens`` is every prompt token, cached ones
        included; the cache counts are parts of it, as ``reasoning_tokens`` is of
        ``output_tokens``. Without ``cost_usd`` the server prices the call."""
        body: Dict[str, Any] = {
            "event_id": event_id or f"py-{uuid.uuid4().hex}",
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        for key, count in (
            ("cache_read_tokens", cache_read_tokens),
            ("cache_write_5m_tokens", cache_write_5m_tokens),
            ("cache_write_1h_tokens", cache_write_1h_tokens),
            ("reasoning_tokens", reasoning_tokens),
        ):
            if count:
                body[key] = count
        for key, value in (
            ("user_id", user_id),
            ("cost_usd", cost_usd),
            ("reservation_id", reservation_id),
            ("provider", provider),
        ):
            if value is not None:
                body[key] = value
        response = self._send("POST", "/api/agent/usage/report", body)
        data = self._json(response)
        if response.status_code not in (200, 201):
            raise TollgateError(response.status_code, data)
        return Recorded(event_id=body["event_id"], recorded=bool(data.get("recorded")), body=data)

    def status(self) -> Dict[str, Any]:
        response = self._send("GET", "/api/agent/usage/status")
        data = self._json(response)
        if response.status_code != 200:
            raise TollgateError(response.status_code, data)
        return data

    @contextmanager
    def guard(
        self, estimated_tokens: int, model: str, user_id: Optional[str] = None
    ) -> Iterator[GuardedCall]:
        """Checks (reserving ``estimated_tokens``; raises ``UsageExceeded`` if refused), runs the
        block, then reports the usage set with ``call.set_usage`` — 0 tokens if the block raised
        or set none, which releases the reservation."""
        call = GuardedCall(self.check(estimated_tokens, model=model, user_id=user_id))
        try:
            yield call
        finally:
            self.report(
                model,
                call.input_tokens or 0,
                call.output_tokens or 0,
                user_id=user_id,
                cost_usd=call.cost_usd,
                reservation_id=call.allowed.reservation_id,
            )
