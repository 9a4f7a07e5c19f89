//! The OpenAI-compatible proxy against a local stand-in upstream (the one service we cannot
//! run here), on both backends: answers and streams pass through, usage and spend are settled
//! exactly from the upstream's `usage`, refusals and errors have OpenAI's shape, upstream
//! failures are not charged, a client that leaves mid-stream is still settled, and 64 racing
//! streams at a limit leave nothing reserved.

use crate::common::{on_each_backend_with, spawn_app_with, AppOptions, TestApp, TestDatabase};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate::proxy::upstreams::{Upstream, Upstreams};
use tollgate::proxy::ProxyConfig;

/// What the stand-in received: (authorization header, body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// The usage the stand-in reports for a request: `standin.usage` = [prompt, completion] if
/// the request carries it (an unknown field, which the proxy must keep), else 10 and 20.
fn usage_asked(body: &Value) -> (u64, u64) {
    let u = &body["standin"]["usage"];
    (u[0].as_u64().unwrap_or(10), u[1].as_u64().unwrap_or(20))
}

/// A stand-in OpenAI upstream: chat completions (plain and SSE, with `usage` only when
/// `stream_options.include_usage` asks), embeddings, models. `standin.status` answers that
/// error; `standin.sleep_ms` waits first; `standin.chunk_delay_ms` spaces the stream's chunks.
async fn standin() -> (String, Seen) {
    let (url, seen, _) = standin_seeing_headers().await;
    (url, seen)
}

/// The stand-in, also keeping every request's headers.
async fn standin_seeing_headers() -> (String, Seen, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen: Seen = Arc::default();
    let headers_seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let (kept, kept_headers) = (seen.clone(), headers_seen.clone());
    let chat = move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
        let (kept, kept_headers) = (kept.clone(), kept_headers.clone());
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            kept.lock().expect("lock").push((auth, body.clone()));
            kept_headers.lock().expect("lock").push(headers.clone());
            if body["standin"]["set_cookie"] == true {
                let answer = json!({"id": "x", "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
                return (
                    [
                        ("set-cookie", "upstream_session=1"),
                        ("openai-organization", "org-operator"),
                        ("x-request-id", "req-1"),
                    ],
                    axum::Json(answer),
                )
                    .into_response();
            }
            if let Some(ms) = body["standin"]["sleep_ms"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Some(status) = body["standin"]["status"].as_u64() {
                let status = StatusCode::from_u16(status as u16).expect("status");
                let error = json!({"error": {"message": "the stand-in failed on purpose", "type": "server_error", "param": null, "code": null}});
                return (status, axum::Json(error)).into_response();
            }
            let (prompt, completion) = usage_asked(&body);
            let usage =
                json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
            let model = body["model"].clone();
            if body["stream"] != true {
                return axum::Json(json!({
                    "id": "chatcmpl-standin", "object": "chat.completion", "created": 1_700_000_000, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}],
                    "usage": usage,
                }))
                .into_response();
            }
            let include_usage = body["stream_options"]["include_usage"] == true;
            let delay = Duration::from_millis(body["standin"]["chunk_delay_ms"].as_u64().unwrap_or(0));
            let with_usage = |mut chunk: Value| {
                if include_usage {
                    chunk["usage"] = Value::Null;
                }
                chunk
            };
            let mut chunks: Vec<String> = ["", "Hello", " world"]
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    let delta =
                        if i == 0 { json!({"role": "assistant", "content": ""}) } else { json!({"content": text}) };
                    with_usage(json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}))
                    .to_string()
                })
                .collect();
            chunks.push(
                with_usage(json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
                .to_string(),
            );
            if include_usage {
                chunks.push(json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}).to_string());
            }
            chunks.push("[DONE]".to_owned());
            let events = futures_util::stream::iter(chunks).then(move |data| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::io::Error>(format!("data: {data}\n\n"))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(events))
                .expect("response")
        }
    };
    let embeddings = |axum::Json(body): axum::Json<Value>| async move {
        let (prompt, _) = usage_asked(&body);
        axum::Json(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": body["model"], "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}))
    };
    let models = || async {
        axum::Json(json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model", "owned_by": "standin"}]}))
    };
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat.clone()))
        .route("/v1/completions", axum::routing::post(chat))
        .route("/v1/embeddings", axum::routing::post(embeddings))
        .route("/v1/models", axum::routing::get(models));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen, headers_seen)
}

use futures_util::StreamExt;

/// Runs `test` on a fresh app whose proxy sends every model to `url` (key `upstream-key`,
/// timeout 2 s), on SQLite and then PostgreSQL.
async fn with_proxy<F, Fut>(url: &str, test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let options = || {
        let upstream = Upstream {
            name: "standin".into(),
            base_url: url.to_owned(),
            api_key: Some("upstream-key".into()),
            models: vec!["*".into()],
            timeout: Duration::from_secs(2),
            provider: None,
        };
        let proxy = ProxyConfig {
            upstreams: Upstreams::new(vec![upstream]),
            drain_timeout: Duration::from_secs(5),
            ..ProxyConfig::default()
        };
        AppOptions { proxy, ..AppOptions::default() }
    };
    on_each_backend_with(options, test).await;
}

async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(key).json(&body).send().await.expect("send")
}

/// The tenant's recorded events as (input, output, cost micro-USD, user).
async fn events(app: &TestApp, tenant: &str) -> Vec<(i64, i64, i64, Option<String>)> {
    sqlx::query_as("SELECT input_tokens, output_tokens, cost_micros, user_id FROM usage_events WHERE tenant_id = $1 ORDER BY occurred_at, event_id")
        .bind(tenant)
        .fetch_all(&app.state.db.pool)
        .await
        .expect("events")
}

/// Waits until `n` events are recorded (settling after a stream runs in the background).
async fn wait_for_events(app: &TestApp, tenant: &str, n: usize) -> Vec<(i64, i64, i64, Option<String>)> {
    for _ in 0..200 {
        let found = events(app, tenant).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    events(app, tenant).await
}

/// gpt-4o's price ($2.50 / $10.00 per million tokens, genai-prices) in micro-USD, rounded half up
/// as docs/operations.md documents.
fn gpt_4o_micros(input: i64, output: i64) -> i64 {
    (input * 2_500_000 + output * 10_000_000 + 500_000) / 1_000_000
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 50});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

#[tokio::test]
async fn a_plain_call_is_forwarded_with_the_upstreams_key_and_settled_exactly() {
    let (url, seen) = standin().await;
    with_proxy(&url, |app| {
        let seen = seen.clone();
        async move {
            let key = app.tenant_with_agent("px-plain", Some(10_000)).await;
            let body = chat(json!({"user": "ann", "standin": {"usage": [120, 30]}, "temperature": 0.2}));
            let res = post(&app, &key, "/v1/chat/completions", body.clone()).await;
            assert_eq!(res.status(), 200);
            let answer: Value = res.json().await.expect("json");
            assert_eq!(answer["choices"][0]["message"]["content"], "Hello world");
            assert_eq!(answer["usage"]["total_tokens"], 150);
            // The upstream got the body as sent (unknown fields too) and its own key.
            let (auth, received) = seen.lock().expect("lock").pop().expect("forwarded");
            assert_eq!((auth.as_str(), &received), ("Bearer upstream-key", &body));
            // Recorded behind the answer.
            let recorded = wait_for_events(&app, "px-plain", 1).await;
            assert_eq!(recorded, [(120, 30, gpt_4o_micros(120, 30), Some("ann".into()))]);
            let status = app.status(&key).await;
            assert_eq!((status["used_tokens"].clone(), status["reserved_tokens"].clone()), (150.into(), 0.into()));
            // Legacy completions, embeddings and the model list go through too.
            let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello", "max_tokens": 5, "standin": {"usage": [3, 5]}});
            let res = post(&app, &key, "/v1/completions", body).await;
            assert_eq!(res.status(), 200);
            let res = post(
                &app,
                &key,
                "/v1/embeddings",
                json!({"model": "text-embedding-3-small", "input": "hi", "standin": {"usage": [7, 0]}}),
            )
            .await;
            assert_eq!(res.status(), 200);
            assert_eq!(wait_for_events(&app, "px-plain", 3).await.len(), 3);
            let status = app.status(&key).await;
            assert_eq!((status["used_tokens"].clone(), status["reserved_tokens"].clone()), (165.into(), 0.into()));
            let res = app.client.get(app.url("/v1/models")).bearer_auth(&key).send().await.expect("send");
            let list: Value = res.json().await.expect("json");
            assert_eq!(list["data"][0]["id"], "gpt-4o");
        }
    })
    .await;
}

/// Reads an SSE answer to its end: the data lines.
async fn sse_data(res: reqwest::Response) -> Vec<String> {
    let text = res.text().await.expect("body");
    text.lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_owned).collect()
}

#[tokio::test]
async fn streams_pass_through_and_settle_from_the_usage_chunk() {
    let (url, seen) = standin().await;
    with_proxy(&url, |app| {
        let seen = seen.clone();
        async move {
            let key = app.tenant_with_agent("px-stream", Some(10_000)).await;
            // The client did not ask for usage: the proxy asks, and keeps the usage chunk to itself.
            let res =
                post(&app, &key, "/v1/chat/completions", chat(json!({"stream": true, "standin": {"usage": [11, 3]}})))
                    .await;
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["content-type"], "text/event-stream");
            let data = sse_data(res).await;
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
            assert_eq!(data.len(), 5, "four chunks and [DONE]: {data:?}");
            assert!(data.iter().all(|d| !d.contains("prompt_tokens")), "{data:?}");
            let (_, received) = seen.lock().expect("lock").pop().expect("forwarded");
            assert_eq!(received["stream_options"], json!({"include_usage": true}));
            assert_eq!(wait_for_events(&app, "px-stream", 1).await, [(11, 3, gpt_4o_micros(11, 3), None)]);
            // The client asked: it sees the usage chunk.
            let body =
                chat(json!({"stream": true, "stream_options": {"include_usage": true}, "standin": {"usage": [5, 8]}}));
            let data = sse_data(post(&app, &key, "/v1/chat/completions", body).await).await;
            assert_eq!(data.len(), 6, "{data:?}");
            assert!(data[4].contains("\"prompt_tokens\":5"), "{data:?}");
            let recorded = wait_for_events(&app, "px-stream", 2).await;
            assert_eq!(recorded.iter().map(|e| e.0 + e.1).sum::<i64>(), 14 + 13);
            assert_eq!(app.status(&key).await["reserved_tokens"], 0);
        }
    })
    .await;
}

#[tokio::test]
async fn refusals_are_openai_shaped_and_never_reach_the_upstream() {
    let (url, seen) = standin().await;
    with_proxy(&url, |app| {
        let seen = seen.clone();
        async move {
            let key = app.tenant_with_agent("px-refuse", Some(100)).await;
            let before = seen.lock().expect("lock").len();
            // 50 output tokens fit; 500 do not.
            let res = post(&app, &key, "/v1/chat/completions", chat(json!({"max_tokens": 500}))).await;
            assert_eq!(res.status(), 429);
            assert!(res.headers().get("retry-after").is_some());
            let body: Value = res.json().await.expect("json");
            assert_eq!(
                (body["error"]["type"].clone(), body["error"]["code"].clone()),
                ("rate_limit_exceeded".into(), "token_limit_exceeded".into())
            );
            assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("px-refuse")), "{body}");
            assert_eq!(seen.lock().expect("lock").len(), before, "the upstream was not called");
            // A budget: gpt-4o's output at $10 / M; $0.01 blocks at $0.011 (110 %).
            let key = app.tenant_with_agent("px-budget", None).await;
            app.set_budget("px-budget", "0.01", 80, 110).await;
            let res = post(&app, &key, "/v1/chat/completions", chat(json!({"max_tokens": 2000}))).await;
            assert_eq!(res.status(), 429);
            let body: Value = res.json().await.expect("json");
            assert_eq!(
                (body["error"]["type"].clone(), body["error"]["code"].clone()),
                ("insufficient_quota".into(), "budget_exceeded".into())
            );
            assert_eq!(app.status(&key).await["reserved_tokens"], 0);
            assert!(events(&app, "px-refuse").await.is_empty() && events(&app, "px-budget").await.is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn upstream_errors_pass_through_and_timeouts_release_without_charge() {
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        let key = app.tenant_with_agent("px-fail", Some(10_000)).await;
        let res = post(&app, &key, "/v1/chat/completions", chat(json!({"standin": {"status": 500}}))).await;
        assert_eq!(res.status(), 500);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["message"], "the stand-in failed on purpose", "passed through unchanged");
        let res = post(&app, &key, "/v1/chat/completions", chat(json!({"standin": {"sleep_ms": 3000}}))).await;
        assert_eq!(res.status(), 504);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["error"]["type"], "timeout");
        let status = app.status(&key).await;
        assert_eq!((status["used_tokens"].clone(), status["reserved_tokens"].clone()), (0.into(), 0.into()));
        assert!(events(&app, "px-fail").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_still_settled_from_the_usage() {
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        let key = app.tenant_with_agent("px-leave", Some(10_000)).await;
        let body = chat(json!({"stream": true, "standin": {"usage": [40, 2], "chunk_delay_ms": 150}}));
        let res = post(&app, &key, "/v1/chat/completions", body).await;
        assert_eq!(res.status(), 200);
        let mut stream = res.bytes_stream();
        let first = stream.next().await.expect("a first chunk").expect("bytes");
        assert!(String::from_utf8_lossy(&first).starts_with("data: "));
        drop(stream);
        assert_eq!(wait_for_events(&app, "px-leave", 1).await, [(40, 2, gpt_4o_micros(40, 2), None)]);
        assert_eq!(app.status(&key).await["reserved_tokens"], 0);
    })
    .await;
}

#[tokio::test]
async fn racing_streams_at_a_limit_settle_exactly_and_leave_nothing_reserved() {
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        // Each call reserves its prompt + 50; the limit admits about a third of 64 at once.
        let key = app.tenant_with_agent("px-race", Some(1_500)).await;
        let app = Arc::new(app);
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let (app, key) = (app.clone(), key.clone());
                tokio::spawn(async move {
                    let body = chat(json!({"stream": true, "user": format!("u{}", i % 4), "standin": {"usage": [9, 21], "chunk_delay_ms": 5}}));
                    let res = post(&app, &key, "/v1/chat/completions", body).await;
                    let status = res.status().as_u16();
                    let _ = res.bytes().await;
                    status
                })
            })
            .collect();
        let mut admitted = 0;
        for call in calls {
            match call.await.expect("task") {
                200 => admitted += 1,
                429 => {}
                other => panic!("unexpected status {other}"),
            }
        }
        assert!(admitted > 0);
        let recorded = wait_for_events(&app, "px-race", admitted).await;
        assert_eq!(recorded.len(), admitted, "one event per admitted call");
        assert!(recorded.iter().all(|e| (e.0, e.1, e.2) == (9, 21, gpt_4o_micros(9, 21))), "{recorded:?}");
        let status = app.status(&key).await;
        assert_eq!(status["used_tokens"], 30 * admitted as u64);
        assert_eq!(status["reserved_tokens"], 0, "nothing leaked");
        assert!(status["used_tokens"].as_u64() <= Some(1_500));
    })
    .await;
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_errors() {
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        let key = app.tenant_with_agent("px-bad", None).await;
        let res = app.client.post(app.url("/v1/chat/completions")).json(&chat(json!({}))).send().await.expect("send");
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        assert_eq!(
            (body["error"]["type"].clone(), body["error"]["code"].clone()),
            ("authentication_error".into(), "invalid_api_key".into())
        );
        let res = app
            .client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .body("{nope")
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 400);
        for (body, status, param) in [
            (json!({"messages": []}), 400, "model"),
            (json!({"model": "gpt-4o", "user": 7}), 400, "user"),
            (json!([1]), 400, "body"),
        ] {
            let res = post(&app, &key, "/v1/chat/completions", body.clone()).await;
            assert_eq!(res.status(), status, "{body}");
            let err: Value = res.json().await.expect("json");
            assert_eq!(
                (err["error"]["type"].as_str(), err["error"]["param"].as_str()),
                (Some("invalid_request_error"), Some(param)),
                "{err}"
            );
        }
        assert!(events(&app, "px-bad").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_model_no_upstream_serves_is_not_found() {
    let db = TestDatabase::sqlite();
    let app = spawn_app_with(&db, AppOptions::default()).await;
    let key = app.tenant_with_agent("px-none", None).await;
    let res = post(&app, &key, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(res.status(), 404);
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["code"], "model_not_found");
    assert_eq!(app.status(&key).await["reserved_tokens"], 0);
    db.cleanup().await;
}

#[tokio::test]
async fn monitor_mode_forwards_what_enforce_would_refuse_and_counts_it() {
    let (url, seen) = standin().await;
    with_proxy(&url, |app| {
        let seen = seen.clone();
        async move {
            let key = app.tenant_with_agent("px-monitor", Some(100)).await;
            app.set_mode("px-monitor", Some(tollgate::limits::EnforcementMode::Monitor)).await;
            let before = seen.lock().expect("lock").len();
            let res = post(
                &app,
                &key,
                "/v1/chat/completions",
                chat(json!({"max_tokens": 500, "standin": {"usage": [12, 400]}})),
            )
            .await;
            assert_eq!(res.status(), 200, "monitor never refuses");
            assert_eq!(seen.lock().expect("lock").len(), before + 1);
            assert_eq!(wait_for_events(&app, "px-monitor", 1).await, [(12, 400, gpt_4o_micros(12, 400), None)]);
            let mut counted = None;
            for _ in 0..100 {
                counted = app.status(&key).await["would_refuse_count"].as_u64();
                if counted == Some(1) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(counted, Some(1), "the call enforce would have refused is counted");
        }
    })
    .await;
}

/// Waits until nothing is reserved for the agent's tenant (a settlement reaches the ledger
/// just after its commit); answers what is reserved at the end.
async fn wait_unreserved(app: &TestApp, key: &str) -> Value {
    for _ in 0..200 {
        let status = app.status(key).await;
        if status["reserved_tokens"] == 0 {
            return status["reserved_tokens"].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.status(key).await["reserved_tokens"].clone()
}

/// A client that gives up on its call — before the upstream's first byte of a stream, in the
/// middle of a stream, while a plain call works — leaves the call to run to its end: the
/// upstream's usage is recorded exactly (the upstream billed it) and nothing stays reserved.
/// Before, the call was dropped with the connection: no usage, and its estimate held for the
/// reservation's whole TTL.
#[tokio::test]
async fn a_client_that_times_out_leaves_its_call_settled_exactly() {
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        let key = app.tenant_with_agent("px-hangup", Some(100_000)).await;
        let impatient = reqwest::Client::builder().timeout(Duration::from_millis(250)).build().expect("client");
        let cases = [
            (
                "a stream, before its first byte",
                json!({"stream": true, "standin": {"usage": [41, 3], "sleep_ms": 800}}),
            ),
            ("a stream, in its middle", json!({"stream": true, "standin": {"usage": [42, 4], "chunk_delay_ms": 120}})),
            ("a plain call", json!({"standin": {"usage": [43, 5], "sleep_ms": 800}})),
        ];
        for (n, (case, extra)) in cases.into_iter().enumerate() {
            let sent =
                impatient.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&chat(extra)).send().await;
            let read = match sent {
                Ok(res) => res.bytes().await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(read.is_err_and(|e| e.is_timeout()), "{case}: the client was meant to time out");
            let recorded = wait_for_events(&app, "px-hangup", n + 1).await;
            let (input, output) = (41 + n as i64, 3 + n as i64);
            assert_eq!(
                recorded.get(n),
                Some(&(input, output, gpt_4o_micros(input, output), None)),
                "{case}: {recorded:?}"
            );
            assert_eq!(wait_unreserved(&app, &key).await, 0, "{case}: its reservation was left held");
        }
    })
    .await;
}

/// A raw connection that sends its request and half-closes (shuts its writing side) before
/// the upstream answers still gets its answer (HTTP/1.1 allows it; axum's own server dropped
/// the connection, and the call with it), and the call is settled exactly.
#[tokio::test]
async fn a_half_closed_connection_leaves_its_call_settled_exactly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (url, _) = standin().await;
    with_proxy(&url, |app| async move {
        let key = app.tenant_with_agent("px-halfclose", Some(100_000)).await;
        let body = chat(json!({"standin": {"usage": [77, 7], "sleep_ms": 500}})).to_string();
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        tcp.shutdown().await.expect("half-close");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("Hello world"), "{answer}");
        assert_eq!(wait_for_events(&app, "px-halfclose", 1).await, [(77, 7, gpt_4o_micros(77, 7), None)]);
        assert_eq!(wait_unreserved(&app, &key).await, 0);
    })
    .await;
}

/// Only allow-listed headers cross the proxy: an agent cannot bill another organisation or
/// project on the operator's key with `OpenAI-Organization` / `OpenAI-Project`, and the
/// upstream's cookies and organisation do not reach the agent.
#[tokio::test]
async fn only_allowed_headers_cross_the_proxy() {
    let (url, _, headers_seen) = standin_seeing_headers().await;
    with_proxy(&url, |app| {
        let headers_seen = headers_seen.clone();
        async move {
            let key = app.tenant_with_agent("px-headers", None).await;
            let res = app
                .client
                .post(app.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .header("openai-organization", "org-someone-else")
                .header("openai-project", "proj-someone-else")
                .header("cookie", "tollgate_session=stolen")
                .header("x-stainless-lang", "python")
                .header("openai-beta", "assistants=v2")
                .json(&chat(json!({"standin": {"set_cookie": true}})))
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), 200);
            for dropped in ["set-cookie", "openai-organization"] {
                assert!(res.headers().get(dropped).is_none(), "{dropped} reached the agent");
            }
            assert_eq!(res.headers()["x-request-id"], "req-1");
            let received = headers_seen.lock().expect("lock").pop().expect("forwarded");
            for dropped in ["openai-organization", "openai-project", "cookie"] {
                assert!(received.get(dropped).is_none(), "{dropped} reached the upstream");
            }
            assert_eq!(received["x-stainless-lang"], "python");
            assert_eq!(received["openai-beta"], "assistants=v2");
            assert_eq!(received["authorization"], "Bearer upstream-key");
        }
    })
    .await;
}
