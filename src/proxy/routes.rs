//! `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `/v1/models`: authenticate
//! the agent key, choose the upstream by model, admit through the gate, forward with the
//! upstream's key, and settle (inline for plain answers, in the relay for streams). Every
//! error the proxy itself answers has OpenAI's shape; the upstream's own errors pass through
//! unchanged and are not charged.

use super::errors::{ProxyAnswers, ProxyError};
use super::estimate::{estimate, Endpoint};
use super::openai::{request_stream_usage, usage_of, ErrorBody};
use super::settle::{Pending, Settled};
use super::upstreams::Upstream;
use super::{relay, Proxy};
use crate::agents::Principal;
use crate::enforce::Call;
use crate::error::AppError;
use crate::limits::LimitKind;
use crate::state::AppState;
use crate::usage::report::MAX_ID_CHARS;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The header that names the end user when the body's `user` does not.
pub const USER_HEADER: &str = "x-tollgate-user";
/// The largest request body the proxy reads (prompts with images run to megabytes).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The proxy's routes, each described in the OpenAPI document (`api::openapi`).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat_completions))
        .routes(routes!(completions))
        .routes(routes!(embeddings))
        .routes(routes!(models))
}

/// OpenAI's chat completions, admitted, forwarded to the model's upstream and settled.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "proxy",
    request_body(content = Object, description = "An OpenAI chat completion request, passed through"),
    security(("agent_key" = [])), responses(ProxyAnswers))]
async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    proxied(state, Endpoint::ChatCompletions, request).await.unwrap_or_else(IntoResponse::into_response)
}

/// OpenAI's legacy completions, admitted, forwarded and settled.
#[utoipa::path(post, path = "/v1/completions", tag = "proxy",
    request_body(content = Object, description = "An OpenAI completion request, passed through"),
    security(("agent_key" = [])), responses(ProxyAnswers))]
async fn completions(State(state): State<AppState>, request: Request) -> Response {
    proxied(state, Endpoint::Completions, request).await.unwrap_or_else(IntoResponse::into_response)
}

/// OpenAI's embeddings, admitted on the input's tokens, forwarded and settled.
#[utoipa::path(post, path = "/v1/embeddings", tag = "proxy",
    request_body(content = Object, description = "An OpenAI embeddings request, passed through"),
    security(("agent_key" = [])), responses(ProxyAnswers))]
async fn embeddings(State(state): State<AppState>, request: Request) -> Response {
    proxied(state, Endpoint::Embeddings, request).await.unwrap_or_else(IntoResponse::into_response)
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ProxyError> {
    let key = crate::api::auth::bearer(headers).ok_or_else(|| {
        ProxyError::from(AppError::unauthorized("Missing API key: use your Tollgate agent key as the OpenAI API key"))
    })?;
    Ok(state.gate.authenticate(key).await?)
}

/// What the call asks for, read from its body: the model, the end user, whether it streams.
struct Asked {
    model: String,
    user_id: Option<String>,
    stream: bool,
}

fn read_request(endpoint: Endpoint, headers: &HeaderMap, body: &Value) -> Result<Asked, ProxyError> {
    if !body.is_object() {
        return Err(ProxyError::invalid("body", "The request body must be a JSON object"));
    }
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() && m.chars().count() <= MAX_ID_CHARS => m.clone(),
        Some(Value::String(_)) => {
            return Err(ProxyError::invalid("model", format!("model must be 1 to {MAX_ID_CHARS} characters")))
        }
        None | Some(Value::Null) => return Err(ProxyError::invalid("model", "you must provide a model parameter")),
        Some(_) => return Err(ProxyError::invalid("model", "model must be a string")),
    };
    // The header is the operator's explicit choice; the body's `user` is OpenAI's own field.
    let header_user = headers.get(USER_HEADER).map(|v| v.to_str().map_err(|_| ()));
    let user = match (header_user, body.get("user")) {
        (Some(Ok(u)), _) => Some(u.to_owned()),
        (Some(Err(())), _) => return Err(ProxyError::invalid(USER_HEADER, "the header must be text")),
        (None, Some(Value::String(u))) => Some(u.clone()),
        (None, Some(Value::Null) | None) => None,
        (None, Some(_)) => return Err(ProxyError::invalid("user", "user must be a string")),
    };
    let user_id = user
        .map(|u| crate::overrides::parse_user_id("user", &u))
        .transpose()
        .map_err(|e| ProxyError::invalid("user", e.message))?;
    let stream = endpoint != Endpoint::Embeddings && body.get("stream").and_then(Value::as_bool) == Some(true);
    Ok(Asked { model, user_id, stream })
}

/// A refusal as OpenAI SDKs surface it: 429, a budget as `insufficient_quota`, a token limit
/// as `rate_limit_exceeded`, our limit's error code as `code`, and `Retry-After`.
fn refusal(agent: &Principal, user_id: Option<&str>, a: &crate::enforce::Admission, kind: LimitKind) -> ProxyError {
    let message = crate::api::agent::refusal_message(agent.tenant_id.as_str(), user_id, a, kind);
    let type_ = if kind == LimitKind::Budget { "insufficient_quota" } else { "rate_limit_exceeded" };
    let mut e = ProxyError::new(StatusCode::TOO_MANY_REQUESTS, type_, Some(kind.error_code()), None, message);
    e.retry_after = Some(a.retry_after_secs(kind));
    e
}

async fn proxied(state: AppState, endpoint: Endpoint, request: Request) -> Result<Response, ProxyError> {
    let (parts, body) = request.into_parts();
    // The key first: a stranger's body is never read.
    let agent = authenticate(&state, &parts.headers).await?;
    let raw = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        let message = format!("The request body must be at most {} MB", MAX_BODY_BYTES / (1024 * 1024));
        ProxyError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", None, Some("body"), message)
    })?;
    // From here the call lives in a task of its own: count, admit, forward, settle. A client
    // that hangs up drops only this handler's wait, never the call — whose upstream answers
    // (and bills) regardless — so it is settled from its usage or released, whatever the
    // connection does.
    let proxy = state.proxy.clone();
    let call = proxy.spawn_counted(call(state.gate.clone(), state.proxy.clone(), endpoint, parts.headers, agent, raw));
    call.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a proxied call's task failed");
        Err(ProxyError::from(AppError::internal()))
    })
}

/// One call from its body to its answer: parsed and counted (off the async workers when the
/// body is large), admitted, forwarded, and settled behind the answer.
async fn call(
    gate: crate::enforce::Gate,
    proxy: Proxy,
    endpoint: Endpoint,
    headers: HeaderMap,
    agent: Principal,
    raw: Bytes,
) -> Result<Response, ProxyError> {
    let size = raw.len();
    let parsing = raw.clone();
    let body: Value = proxy
        .off_worker(size, move || serde_json::from_slice(&parsing))
        .await?
        .map_err(|e| ProxyError::invalid("body", format!("The request body is not valid JSON: {e}")))?;
    let asked = read_request(endpoint, &headers, &body)?;
    let upstream = proxy.config().upstreams.route(&asked.model).ok_or_else(|| {
        ProxyError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            Some("model"),
            format!("The model `{}` does not exist or no upstream serves it", asked.model),
        )
    })?;
    let (model, max_output) = (asked.model.clone(), proxy.config().default_max_output_tokens);
    let (estimate, mut body) = proxy
        .off_worker(size, move || {
            let counted = estimate(endpoint, &model, &body, max_output);
            (counted, body)
        })
        .await?;
    let call = Call {
        estimated_tokens: estimate.total(),
        model: Some(asked.model.clone()),
        user_id: asked.user_id.clone(),
        provider: upstream.provider.clone(),
    };
    let admission = gate.admit(&agent, call).await?;
    if let Some(kind) = admission.decision.refused_by {
        crate::metrics::proxy_request(endpoint_label(endpoint), "refused");
        return Err(refusal(&agent, asked.user_id.as_deref(), &admission, kind));
    }
    let reservation = admission.reservation.map(|r| r.id);
    let pending = Pending::new(gate, agent, asked.model, asked.user_id, reservation, estimate)
        .served_by(upstream.provider.clone());
    // The body goes on as it came, unless a stream must be asked for its usage.
    let (body, client_asked_usage) = if asked.stream {
        let asked_usage = request_stream_usage(&mut body);
        (Bytes::from(serde_json::to_vec(&body).unwrap_or_default()), asked_usage)
    } else {
        (raw, false)
    };
    let outgoing = Outgoing { endpoint, headers, body, stream: asked.stream, client_asked_usage };
    forward(&proxy, upstream, outgoing, pending).await
}

fn endpoint_label(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ChatCompletions => "chat_completions",
        Endpoint::Completions => "completions",
        Endpoint::Embeddings => "embeddings",
    }
}

/// The request headers a client may send on to the upstream: content negotiation, the SDK's
/// own descriptive headers and API feature flags. Everything else stays here — the agent's key,
/// cookies, connection headers, and the operator's business with the upstream
/// (`OpenAI-Organization` / `OpenAI-Project` would bill another organisation or project on the
/// operator's key).
fn is_forwarded_request_header(name: &HeaderName) -> bool {
    const ALLOWED: [&str; 5] = ["accept", "user-agent", "openai-beta", "x-request-id", "idempotency-key"];
    let name = name.as_str();
    ALLOWED.contains(&name) || name.starts_with("x-stainless-")
}

/// The answer headers a client gets from the upstream: the body's type and caching, the
/// upstream's request id and timing, and `Retry-After` on its own refusals. Its cookies, its
/// rate limits (of the operator's key, not the tenant's), its organisation and connection
/// headers stay here.
fn is_forwarded_answer_header(name: &HeaderName) -> bool {
    const ALLOWED: [&str; 7] = [
        "content-type",
        "cache-control",
        "retry-after",
        "x-request-id",
        "request-id",
        "openai-processing-ms",
        "openai-version",
    ];
    ALLOWED.contains(&name.as_str())
}

fn upstream_request(
    proxy: &Proxy,
    upstream: &Upstream,
    method: reqwest::Method,
    path: &str,
    headers: &HeaderMap,
) -> reqwest::RequestBuilder {
    let mut request = proxy.0.client.request(method, format!("{}{path}", upstream.base_url)).timeout(upstream.timeout);
    for (name, value) in headers {
        if is_forwarded_request_header(name) {
            request = request.header(name, value);
        }
    }
    if let Some(key) = &upstream.api_key {
        request = request.bearer_auth(key);
    }
    request
}

/// The upstream's status and headers on our answer.
fn answer_head(upstream: &reqwest::Response) -> axum::http::response::Builder {
    let mut builder = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        if is_forwarded_answer_header(name) {
            builder = builder.header(name, value);
        }
    }
    builder
}

/// What goes to the upstream for an admitted call.
struct Outgoing {
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Bytes,
    stream: bool,
    client_asked_usage: bool,
}

async fn forward(proxy: &Proxy, upstream: &Upstream, out: Outgoing, pending: Pending) -> Result<Response, ProxyError> {
    let label = endpoint_label(out.endpoint);
    let sent = upstream_request(proxy, upstream, reqwest::Method::POST, out.endpoint.path(), &out.headers)
        .header(header::CONTENT_TYPE, "application/json")
        .body(out.body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return Err(upstream_failed(pending, &upstream.name, label, e).await),
    };
    if !answer.status().is_success() {
        // The upstream's own error, passed through; the call is not charged.
        let head = answer_head(&answer);
        let bytes = answer.bytes().await.unwrap_or_default();
        pending.release().await;
        crate::metrics::proxy_request(label, "upstream_error");
        crate::metrics::proxy_settled(Settled::Released.as_str());
        return Ok(head
            .body(axum::body::Body::from(bytes))
            .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()));
    }
    crate::metrics::proxy_request(label, "forwarded");
    let head = answer_head(&answer);
    if out.stream {
        let body = relay::start(proxy.clone(), answer, pending, out.client_asked_usage);
        return Ok(head.body(body).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()));
    }
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return Err(upstream_failed(pending, &upstream.name, label, e).await),
    };
    let usage = serde_json::from_slice::<Value>(&bytes).ok().as_ref().and_then(usage_of);
    // The answer goes out now; the usage is recorded behind it. Admission stays exact: the
    // call's reservation holds until the writer commits the usage and settles it together.
    proxy.spawn_settlement(async move { pending.settle(usage).await });
    Ok(head.body(axum::body::Body::from(bytes)).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}

/// The upstream did not answer (in time): the reservation is released, the client told in
/// OpenAI's shape (504 for a timeout, 502 otherwise).
async fn upstream_failed(pending: Pending, name: &str, label: &'static str, e: reqwest::Error) -> ProxyError {
    pending.release().await;
    crate::metrics::proxy_settled(Settled::Released.as_str());
    if e.is_timeout() {
        crate::metrics::proxy_request(label, "upstream_timeout");
        ProxyError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            Some("upstream_timeout"),
            None,
            format!("The upstream {name} did not answer in time"),
        )
    } else {
        crate::metrics::proxy_request(label, "upstream_unreachable");
        tracing::warn!(upstream = name, error = %e, "upstream unreachable");
        ProxyError::new(
            StatusCode::BAD_GATEWAY,
            "server_error",
            Some("upstream_unreachable"),
            None,
            format!("The upstream {name} could not be reached"),
        )
    }
}

/// `GET /v1/models`: every upstream's list, merged (an upstream that fails is left out and
/// logged), so an SDK's `models.list()` shows what the proxy can route.
#[utoipa::path(get, path = "/v1/models", tag = "proxy", security(("agent_key" = [])),
    responses(
        (status = 200, description = "`{\"object\": \"list\", \"data\": [...]}`, every upstream's models", body = Object),
        (status = 401, description = "No, an unknown or a revoked agent key", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    ))]
async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match list_models(&state, &headers).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_models(state: &AppState, headers: &HeaderMap) -> Result<Value, ProxyError> {
    authenticate(state, headers).await?;
    let proxy = &state.proxy;
    let mut data: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for upstream in proxy.config().upstreams.all() {
        let listed = async {
            let answer = upstream_request(proxy, upstream, reqwest::Method::GET, "/models", headers)
                .send()
                .await?
                .error_for_status()?;
            answer.json::<Value>().await
        }
        .await;
        match listed {
            Ok(list) => {
                for model in list.get("data").and_then(Value::as_array).into_iter().flatten() {
                    let id = model.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                    if seen.insert(id) {
                        data.push(model.clone());
                    }
                }
            }
            Err(e) => tracing::warn!(upstream = %upstream.name, error = %e, "listing an upstream's models failed"),
        }
    }
    Ok(serde_json::json!({"object": "list", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_allowed_headers_cross_the_proxy() {
        let name = HeaderName::from_static;
        for kept in [
            "authorization",
            "host",
            "x-tollgate-user",
            "accept-encoding",
            "content-length",
            "cookie",
            "openai-organization",
            "openai-project",
            "x-made-up",
        ] {
            assert!(!is_forwarded_request_header(&name(kept)), "{kept} must not reach the upstream");
        }
        for sent in ["accept", "openai-beta", "user-agent", "x-stainless-lang", "x-stainless-retry-count"] {
            assert!(is_forwarded_request_header(&name(sent)), "{sent}");
        }
        for kept in ["set-cookie", "openai-organization", "x-ratelimit-remaining-tokens", "connection", "server"] {
            assert!(!is_forwarded_answer_header(&name(kept)), "{kept} must not reach the client");
        }
        for sent in ["content-type", "x-request-id", "retry-after", "openai-processing-ms"] {
            assert!(is_forwarded_answer_header(&name(sent)), "{sent}");
        }
    }

    #[test]
    fn the_user_comes_from_the_header_else_the_body() {
        let body = serde_json::json!({"model": "m", "user": "ann"});
        let mut headers = HeaderMap::new();
        assert_eq!(
            read_request(Endpoint::ChatCompletions, &headers, &body).ok().and_then(|a| a.user_id),
            Some("ann".into())
        );
        headers.insert(USER_HEADER, HeaderValue::from_static("bob"));
        assert_eq!(
            read_request(Endpoint::ChatCompletions, &headers, &body).ok().and_then(|a| a.user_id),
            Some("bob".into())
        );
        let bad = serde_json::json!({"model": "m", "user": 5});
        assert_eq!(
            read_request(Endpoint::ChatCompletions, &HeaderMap::new(), &bad).err().map(|e| e.body.error.param),
            Some(Some("user".into()))
        );
        let not_text = serde_json::json!({"model": 5});
        assert_eq!(
            read_request(Endpoint::ChatCompletions, &HeaderMap::new(), &not_text).err().map(|e| e.body.error.message),
            Some("model must be a string".into())
        );
        let no_model = serde_json::json!({"messages": []});
        assert_eq!(
            read_request(Endpoint::ChatCompletions, &HeaderMap::new(), &no_model).err().map(|e| e.status),
            Some(StatusCode::BAD_REQUEST)
        );
    }
}
