//! Undecodable or mistyped arguments to any server function are a 400 or 422 with a plain
//! message, never a 500: every registered server function (anonymous ones included) gets
//! malformed bodies, on both backends.

use crate::common::{on_each_backend, TestApp};
use rand::{Rng, SeedableRng};
use reqwest::{Client, Method};
use serde_json::Value;

/// Every server function the app registers, as (path, method).
fn server_functions() -> Vec<(String, Method)> {
    let mut all: Vec<(String, Method)> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path.to_owned(), Method::from_bytes(method.as_str().as_bytes()).expect("method")))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Sends `body` as a browser form would (or, for GET functions, `query` as the query string).
async fn send(app: &TestApp, client: &Client, path: &str, method: &Method, body: &[u8], query: &str) -> (u16, Value) {
    let request = if *method == Method::GET {
        client.get(app.url(&format!("{path}?{query}")))
    } else {
        client
            .request(method.clone(), app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
    };
    let res = request.send().await.expect("send");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The GET server functions that take no arguments.
const NO_ARGUMENTS: [&str; 3] = ["/api/current_user", "/api/list_users", "/api/list_api_tokens"];

#[tokio::test]
async fn undecodable_arguments_are_400_for_every_server_function() {
    on_each_backend(|app| async move {
        let functions = server_functions();
        assert!(functions.len() >= 11, "every server function is registered: {functions:?}");
        for (path, method) in &functions {
            // GET functions without arguments ignore a query string; they are not asked.
            if NO_ARGUMENTS.contains(&path.as_str()) {
                continue;
            }
            // Invalid UTF-8 in a form body / a percent-encoded query, anonymous and signed in.
            for client in [&app.client, &app.admin] {
                let query = "tenant_id=%FF%FE&query[q]=%FF%FE";
                let (status, body) = send(&app, client, path, method, b"username=\xff\xfe&password=x", query).await;
                assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {body}");
                if *method == Method::GET {
                    // A query string is decoded leniently (U+FFFD for bad bytes); the function's
                    // own checks then refuse it: 401 signed out, else the id rule's 422.
                    let expected: &[u16] = if std::ptr::eq(client, &app.admin) { &[400, 422] } else { &[400, 401] };
                    assert!(expected.contains(&status), "{method} {path}: {status} {body}");
                } else {
                    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "{method} {path}: {body}");
                }
            }
        }
        // The session of the admin survived: nothing ran.
        let (status, _) = app.server_fn_get("list_users", "").await;
        assert_eq!(status, 200);
    })
    .await;
}

#[tokio::test]
async fn mistyped_arguments_are_client_errors() {
    on_each_backend(|app| async move {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("revoke_agent", &[("agent_id", "abc")]),
            ("revoke_agent", &[("agent_id", "1.5")]),
            ("revoke_agent", &[("agent_id", "99999999999999999999999")]),
            ("deploy_agent", &[("agent_name", "bot")]),
            ("set_token_limit", &[("tenant_id", "a")]),
            ("sign_in", &[("username", "x")]),
        ];
        for (name, args) in cases {
            let (status, body) = app.server_fn(name, args).await;
            assert_eq!(status, 400, "{name} {args:?}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        }
        for query in ["query[page]=-1&query[q]=&query[sort]=tenant_id&query[desc]=false", "query[desc]=maybe", "x[[[=1"]
        {
            let (status, body) = app.server_fn_get("list_usage", query).await;
            assert_eq!(status, 400, "list_usage?{query}: {body}");
        }
    })
    .await;
}

/// Random bytes, a fixed seed so a failure reproduces: whatever decodes or not, the answer is
/// never a 5xx, and a refusal is JSON with a message. (A body that happens to decode runs the
/// function as an anonymous caller, which may succeed: `sign_out`, `current_user`.)
#[tokio::test]
async fn random_bytes_never_answer_500() {
    on_each_backend(|app| async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7011_6a7e);
        for (path, method) in &server_functions() {
            for _ in 0..60 {
                let len = rng.random_range(0..64);
                let body: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let query: String = body.iter().map(|b| format!("%{b:02X}")).collect();
                let (status, json) = send(&app, &app.client, path, method, &body, &query).await;
                assert!(status < 500, "{method} {path} with {body:?}: {status} {json}");
                if status >= 400 {
                    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {status} {json}");
                }
            }
        }
    })
    .await;
}
