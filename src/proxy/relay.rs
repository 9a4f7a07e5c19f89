//! A streamed answer, passed to the client event by event as the upstream sends it (nothing is
//! buffered beyond one event), while its usage is read from the chunk `include_usage` adds —
//! which the client sees only if it asked for it. The relay owns the settlement: when the
//! stream ends it records the usage; when the client leaves early it keeps reading (within
//! the drain time, and only while a drain permit is free) until the usage arrives; without
//! usage it settles the estimate, flagged.

use super::openai::{is_usage_only_chunk, may_carry_usage, usage_of};
use super::settle::Pending;
use super::Proxy;
use crate::usage::tokens::TokenUsage;
use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Events in flight between the relay and a slow client (back-pressure beyond that).
const CHANNEL_EVENTS: usize = 32;

/// Starts relaying `upstream`'s event stream; the returned body is the client's side.
pub fn start(
    proxy: Proxy,
    upstream: reqwest::Response,
    pending: Pending,
    client_asked_usage: bool,
) -> axum::body::Body {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_EVENTS);
    proxy.clone().spawn_settlement(async move {
        let usage = relay(&proxy, upstream, tx, client_asked_usage).await;
        pending.settle(usage).await
    });
    axum::body::Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// One event as SSE text (the upstream's framing is parsed, so it is written anew).
fn frame(event: &Event) -> Bytes {
    let mut text = String::with_capacity(event.data.len() + 16);
    if !event.event.is_empty() && event.event != "message" {
        text.push_str("event: ");
        text.push_str(&event.event);
        text.push('\n');
    }
    if !event.id.is_empty() {
        text.push_str("id: ");
        text.push_str(&event.id);
        text.push('\n');
    }
    for line in event.data.split('\n') {
        text.push_str("data: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    Bytes::from(text)
}

/// Relays until the stream ends (or, once the client left, until the usage arrives or the
/// drain ends); answers the usage seen, if any.
async fn relay(
    proxy: &Proxy,
    upstream: reqwest::Response,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    client_asked_usage: bool,
) -> Option<TokenUsage> {
    let mut events = upstream.bytes_stream().eventsource();
    let mut usage = None;
    // Set once the client is gone: the permit held and when the drain gives up.
    let mut draining: Option<(tokio::sync::OwnedSemaphorePermit, Instant)> = None;
    loop {
        let next = match &draining {
            None => events.next().await,
            Some((_, deadline)) => match tokio::time::timeout_at(*deadline, events.next()).await {
                Ok(next) => next,
                Err(_) => {
                    crate::metrics::proxy_drain("timed_out");
                    return usage;
                }
            },
        };
        let event = match next {
            None => return usage,
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "an upstream stream broke off");
                let _ = tx.send(Err(std::io::Error::other("the upstream stream broke off"))).await;
                return usage;
            }
        };
        let mut forward = true;
        // Only the chunks that can carry usage are parsed; the rest pass as they came.
        if may_carry_usage(&event.data) {
            if let Ok(chunk) = serde_json::from_str::<serde_json::Value>(&event.data) {
                if let Some(u) = usage_of(&chunk) {
                    usage = Some(u);
                    forward = client_asked_usage || !is_usage_only_chunk(&chunk);
                }
            }
        }
        if draining.is_some() {
            if usage.is_some() {
                crate::metrics::proxy_drain("completed");
                return usage;
            }
            continue;
        }
        if forward && tx.send(Ok(frame(&event))).await.is_err() {
            // The client left: read on for the usage, if a drain permit is free.
            if usage.is_some() {
                return usage;
            }
            match proxy.0.drains.clone().try_acquire_owned() {
                Ok(permit) => draining = Some((permit, Instant::now() + proxy.0.config.drain_timeout)),
                Err(_) => {
                    crate::metrics::proxy_drain("no_permit");
                    return None;
                }
            }
        }
    }
}
