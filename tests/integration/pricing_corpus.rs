//! The pricing conformance corpus (`tests/fixtures/pricing/*.json`): realistic provider
//! answers and SSE streams — cached prompts, reasoning, a long-context call — each with the
//! tokens and the cost worked out by hand from the provider's published prices and written in
//! the fixture. Every fixture goes through a stand-in upstream and the proxy, on both
//! backends, and the tenant's figures must equal the fixture's exactly, with nothing left
//! reserved.

use crate::common::{on_each_backend_with, AppOptions, TestApp};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tollgate::proxy::upstreams::{Upstream, Upstreams};
use tollgate::proxy::ProxyConfig;

struct Fixture {
    name: String,
    json: Value,
}

fn corpus() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pricing");
    let mut fixtures: Vec<Fixture> = std::fs::read_dir(&dir)
        .expect("the corpus folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| Fixture {
            name: path.file_name().expect("name").to_string_lossy().into_owned(),
            json: serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("fixture JSON"),
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(fixtures.len() >= 4, "the corpus is missing");
    fixtures
}

/// A stand-in upstream answering each request with the fixture of its model: the `answer`
/// as JSON, or the `events` as SSE.
async fn standin(fixtures: &[Fixture]) -> String {
    let by_model: Arc<HashMap<String, Value>> = Arc::new(
        fixtures
            .iter()
            .map(|f| (f.json["request"]["model"].as_str().expect("model").to_owned(), f.json.clone()))
            .collect(),
    );
    let answer = move |axum::Json(body): axum::Json<Value>| {
        let by_model = by_model.clone();
        async move {
            let Some(fixture) = body["model"].as_str().and_then(|m| by_model.get(m)) else {
                return (axum::http::StatusCode::NOT_FOUND, "no fixture").into_response();
            };
            if fixture["stream"] != true {
                return axum::Json(fixture["answer"].clone()).into_response();
            }
            let text: String = fixture["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| format!("data: {}\n\n", e.as_str().expect("event text")))
                .collect();
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from(text))
                .expect("response")
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// One upstream per provider the corpus names, all at the stand-in, each serving its models.
fn options(url: &str, fixtures: &[Fixture]) -> AppOptions {
    let mut providers: HashMap<String, Vec<String>> = HashMap::new();
    for f in fixtures {
        let provider = f.json["provider"].as_str().expect("provider").to_owned();
        providers.entry(provider).or_default().push(f.json["request"]["model"].as_str().expect("model").to_owned());
    }
    let upstreams = providers
        .into_iter()
        .map(|(provider, models)| Upstream {
            name: provider.clone(),
            base_url: url.to_owned(),
            api_key: Some("upstream-key".into()),
            models,
            timeout: Duration::from_secs(5),
            provider: Some(provider),
        })
        .collect();
    AppOptions {
        proxy: ProxyConfig { upstreams: Upstreams::new(upstreams), ..ProxyConfig::default() },
        ..AppOptions::default()
    }
}

/// The tenant's figures once its one call has settled (streams settle in the background).
async fn settled_status(app: &TestApp, key: &str) -> Value {
    for _ in 0..200 {
        let status = app.status(key).await;
        if status["event_count"] == 1 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.status(key).await
}

#[tokio::test]
async fn every_fixture_is_charged_exactly_what_was_worked_out_by_hand() {
    let fixtures = Arc::new(corpus());
    let url = standin(&fixtures).await;
    let for_options = fixtures.clone();
    on_each_backend_with(
        move || options(&url, &for_options),
        |app| {
            let fixtures = fixtures.clone();
            async move {
                for (i, f) in fixtures.iter().enumerate() {
                    let key = app.tenant_with_agent(&format!("corpus-{i}"), Some(10_000_000)).await;
                    let res = app
                        .client
                        .post(app.url("/v1/chat/completions"))
                        .bearer_auth(&key)
                        .json(&f.json["request"])
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(res.status(), 200, "{}", f.name);
                    // Read the whole answer (a stream to its end), as a client does.
                    let _ = res.bytes().await.expect("body");
                    let status = settled_status(&app, &key).await;
                    let want = &f.json["expected"];
                    let got = json!({
                        "input_tokens": status["input_tokens"], "cache_read_tokens": status["cache_read_tokens"],
                        "cache_write_tokens": status["cache_write_tokens"], "output_tokens": status["output_tokens"],
                        "reasoning_tokens": status["reasoning_tokens"],
                        "cost_micros": (status["spend_usd"].as_f64().expect("spend") * 1e6).round() as i64,
                        "reserved_tokens": status["reserved_tokens"], "event_count": status["event_count"],
                    });
                    let mut expected = want.clone();
                    if let Some(e) = expected.as_object_mut() {
                        e.remove("worked");
                        e.insert("reserved_tokens".into(), 0.into());
                        e.insert("event_count".into(), 1.into());
                    }
                    assert_eq!(got, expected, "{}: {}", f.name, want["worked"]);
                }
            }
        },
    )
    .await;
}
