//! The OpenAPI document (`/api/openapi.json`) against the routes: every route the API
//! reference lists is described and nothing else is; every described operation is exercised
//! here, and each answer's status is one it documents and its JSON body fits the documented
//! schema (checked by a small validator below, independent of the code that made the schema).

use crate::common::{on_each_backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `METHOD /path` of each route in docs/api.md's agent, automation and operators' tables.
fn documented_routes() -> BTreeSet<String> {
    let text = std::fs::read_to_string("docs/api.md").expect("docs/api.md");
    let mut routes = BTreeSet::new();
    let mut in_api_section = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_api_section = matches!(
                heading,
                "The agent API" | "The automation API" | "The OpenAI-compatible proxy" | "Operators' routes"
            );
        }
        let Some(cell) = line.strip_prefix("| `") else { continue };
        let Some((route, _)) = cell.split_once('`') else { continue };
        let mut parts = route.split(' ');
        if let (true, Some(method @ ("GET" | "POST" | "PUT" | "DELETE")), Some(path)) =
            (in_api_section, parts.next(), parts.next())
        {
            routes.insert(format!("{method} {path}"));
        }
    }
    routes
}

fn described_routes(doc: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            routes.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes
}

/// Follows `$ref`s to `#/components/schemas/…`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// The properties a schema allows on an object (through `allOf`, `oneOf` and `anyOf`).
fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    let schema = resolve(doc, schema);
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.keys().cloned());
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema[key].as_array().into_iter().flatten() {
            properties(doc, part, out);
        }
    }
}

/// Whether `value` fits `schema`: types, required properties, no undescribed properties,
/// enums, array items — what a client generated from the document relies on.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            conforms_loosely(doc, part, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = schema[key].as_array() {
            let errors: Vec<String> = parts.iter().filter_map(|p| conforms(doc, p, value, at).err()).collect();
            if errors.len() == parts.len() {
                return Err(format!("{at}: fits none of {key}: {errors:?}"));
            }
        }
    }
    match &schema["type"] {
        Value::String(ty) if !type_matches(ty, value) => return Err(format!("{at}: {value} is not {ty}")),
        Value::Array(types) if !types.iter().any(|t| type_matches(t.as_str().unwrap_or_default(), value)) => {
            return Err(format!("{at}: {value} is none of {types:?}"))
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(object), true) =
        (value.as_object(), schema.get("properties").is_some() || schema.get("allOf").is_some())
    {
        let mut known = BTreeSet::new();
        properties(doc, schema, &mut known);
        for key in object.keys() {
            if !known.contains(key) {
                return Err(format!("{at}: `{key}` is not described"));
            }
        }
    }
    conforms_loosely(doc, schema, value, at)
}

/// Required properties present and described properties well typed (no check for extra
/// keys: that is for the whole object, in `conforms`).
fn conforms_loosely(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: required `{name}` is missing"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (name, sub) in props {
                if let Some(v) = object.get(name) {
                    conforms(doc, sub, v, &format!("{at}.{name}"))?;
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        conforms_loosely(doc, part, value, at)?;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = schema[key].as_array() {
            if !parts.iter().any(|p| fits_loosely(doc, p, value, at)) {
                return Err(format!("{at}: {value} fits no part of {key} {parts:?}"));
            }
        }
    }
    Ok(())
}

/// The type matches and `conforms_loosely` holds.
fn fits_loosely(doc: &Value, schema: &Value, value: &Value, at: &str) -> bool {
    let schema = resolve(doc, schema);
    let typed = match &schema["type"] {
        Value::String(ty) => type_matches(ty, value),
        Value::Array(types) => types.iter().any(|t| type_matches(t.as_str().unwrap_or_default(), value)),
        _ => true,
    };
    typed && conforms_loosely(doc, schema, value, at).is_ok()
}

/// The documented operation for `method path` (with `{…}` parameters matched).
fn operation<'a>(doc: &'a Value, method: &Method, path: &str) -> Option<(&'a str, &'a Value)> {
    let path = path.split('?').next().unwrap_or_default();
    doc["paths"].as_object()?.iter().find_map(|(template, item)| {
        let t: Vec<&str> = template.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        let same = t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b);
        same.then(|| item.get(method.as_str().to_lowercase()).map(|op| (template.as_str(), op))).flatten()
    })
}

/// Sends one request and checks the answer against the document; returns the operation's
/// `METHOD template` and the body.
async fn exercise(
    app: &TestApp,
    doc: &Value,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (String, u16, Value) {
    let (template, op) = operation(doc, &method, path).unwrap_or_else(|| panic!("{method} {path} is not described"));
    let res = app.bearer_request(bearer, method.clone(), path, body).send().await.expect("send");
    let status = res.status().as_u16();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = res.text().await.unwrap_or_default();
    let response = &op["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {path} answered {status}, which is not described: {text}");
    let value = if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_str(&text).expect("JSON body");
        if let Some(schema) = response["content"]["application/json"].get("schema") {
            if let Err(e) = conforms(doc, schema, &value, "body") {
                panic!("{method} {path} → {status}: {e}\n{text}");
            }
        }
        value
    } else {
        Value::String(text)
    };
    (format!("{method} {template}"), status, value)
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_answer() {
    on_each_backend(|app| async move {
        let res = app.client.get(app.url("/api/openapi.json")).send().await.expect("openapi");
        assert_eq!(res.status(), 200);
        let doc: Value = res.json().await.expect("json");
        assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3.1"));
        assert_eq!(described_routes(&doc), documented_routes(), "docs/api.md and /api/openapi.json disagree");

        let key = app.tenant_with_agent("acme", Some(1_000)).await;
        app.set_budget("acme", "10", 80, 110).await;
        let (_, created) = app.server_fn("create_api_token", &[("name", "openapi")]).await;
        let token = created["token"].as_str().expect("token").to_owned();
        let (k, t) = (Some(key.as_str()), Some(token.as_str()));
        let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
        let report =
            json!({"event_id": "e1", "model": "gpt-4o", "input_tokens": 400, "output_tokens": 100, "user_id": "ann"});
        let calls: Vec<(Option<&str>, Method, &str, Option<Value>)> = vec![
            (None, get.clone(), "/healthz", None),
            (None, get.clone(), "/readyz", None),
            (None, get.clone(), "/metrics", None),
            (None, get.clone(), "/api/openapi.json", None),
            (
                k,
                post.clone(),
                "/api/agent/usage/check",
                Some(json!({"estimated_tokens": 10, "model": "gpt-4o", "user_id": "ann"})),
            ),
            (k, post.clone(), "/api/agent/usage/report", Some(report.clone())),
            (k, post.clone(), "/api/agent/usage/report", Some(report)),
            (k, post.clone(), "/api/agent/usage/check", Some(json!({"estimated_tokens": 10_000}))),
            (k, post.clone(), "/api/agent/usage/check", Some(json!({"estimated_tokens": -1}))),
            (None, post.clone(), "/api/agent/usage/check", None),
            (k, get.clone(), "/api/agent/usage/status", None),
            (t, put.clone(), "/api/client/usage/limits/acme/users/ann", Some(json!({"token_limit": 100}))),
            (t, put.clone(), "/api/client/usage/limits/acme/users/ann", Some(json!({"token_limit": 400}))),
            (k, post.clone(), "/api/agent/usage/check", Some(json!({"user_id": "ann"}))),
            (t, post.clone(), "/api/client/usage/limits/acme/users", Some(json!({"user_id": "bob", "token_limit": 5}))),
            (t, post.clone(), "/api/client/usage/limits/acme/users", Some(json!({"user_id": "bob", "token_limit": 5}))),
            (t, get.clone(), "/api/client/usage/limits/acme/users/bob", None),
            (t, delete.clone(), "/api/client/usage/limits/acme/users/bob", None),
            (t, delete.clone(), "/api/client/usage/limits/acme/users/bob", None),
            (t, put.clone(), "/api/client/usage/limits/acme", Some(json!({"mode": "monitor", "token_limit": 2_000}))),
            (t, put.clone(), "/api/client/usage/limits/acme", Some(json!({"mode": "loud"}))),
            (t, get.clone(), "/api/client/usage/limits/acme", None),
            (t, get.clone(), "/api/client/usage/limits/nobody", None),
            (t, get.clone(), "/api/client/usage/limits", None),
            (t, get.clone(), "/api/client/usage/status?tenant_id=acme", None),
            (t, get.clone(), "/api/client/usage/status", None),
            (None, get.clone(), "/api/client/usage/status", None),
            (t, get.clone(), "/api/client/usage/history?tenant_id=acme&limit=1", None),
            (t, get.clone(), "/api/client/usage/history?tenant_id=acme&limit=x", None),
            (t, delete.clone(), "/api/client/usage/limits/acme", None),
            // The proxy, without upstreams here: its own answers.
            (k, post.clone(), "/v1/chat/completions", Some(json!({"model": "gpt-4o", "messages": []}))),
            (None, post.clone(), "/v1/chat/completions", Some(json!({"model": "gpt-4o", "messages": []}))),
            (k, post.clone(), "/v1/completions", Some(json!({"prompt": "hi"}))),
            (k, post.clone(), "/v1/embeddings", Some(json!({"model": "text-embedding-3-small", "input": "hi"}))),
            (k, get.clone(), "/v1/models", None),
        ];
        let mut exercised = BTreeSet::new();
        let mut statuses = Vec::new();
        for (bearer, method, path, body) in calls {
            let (op, status, _) = exercise(&app, &doc, bearer, method, path, body).await;
            statuses.push((op.clone(), status));
            exercised.insert(op);
        }
        assert_eq!(exercised, described_routes(&doc), "every described operation is exercised");
        // The scenarios reach the answers that matter, not only the happy ones.
        for want in [
            ("POST /api/agent/usage/check", 429),
            ("POST /api/agent/usage/report", 200),
            ("POST /api/client/usage/limits/{tenant_id}/users", 409),
            ("PUT /api/client/usage/limits/{tenant_id}/users/{user_id}", 201),
            ("GET /api/client/usage/limits/{tenant_id}", 404),
            ("POST /v1/chat/completions", 404),
            ("POST /v1/chat/completions", 401),
            ("POST /v1/completions", 400),
        ] {
            assert!(statuses.iter().any(|(op, s)| op == want.0 && *s == want.1), "{want:?} in {statuses:?}");
        }
    })
    .await;
}

/// The validator itself rejects what it should, so a passing run means something.
#[test]
fn the_validator_rejects_undescribed_and_mistyped_bodies() {
    let doc = json!({"components": {"schemas": {
        "A": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}, "s": {"type": ["string", "null"]}}}
    }}});
    let a = json!({"$ref": "#/components/schemas/A"});
    assert!(conforms(&doc, &a, &json!({"n": 1, "s": null}), "body").is_ok());
    assert!(conforms(&doc, &a, &json!({"n": 1, "extra": 2}), "body").is_err());
    assert!(conforms(&doc, &a, &json!({"n": "1"}), "body").is_err());
    assert!(conforms(&doc, &a, &json!({"s": "x"}), "body").is_err());
    // An object flattened in as "A or null" must really be an A.
    let flattened = json!({"allOf": [{"oneOf": [a.clone(), {"type": "null"}]}, {"type": "object", "properties": {"m": {"type": "integer"}}}]});
    assert!(conforms(&doc, &flattened, &json!({"m": 1, "n": 2}), "body").is_ok());
    assert!(conforms(&doc, &flattened, &json!({"m": 1}), "body").is_err());
}
