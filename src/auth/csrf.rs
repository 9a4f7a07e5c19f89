//! Cross-site request forgery protection for everything the console changes.
//!
//! Session cookies are `SameSite=Lax`, so browsers do not send them on cross-site POSTs; on
//! top of that, every state-changing request that could carry the cookie must come from this
//! origin by the browser's own account: `Sec-Fetch-Site` (Fetch Metadata, sent by every
//! current browser) must be `same-origin` or `none`, and when only `Origin` is sent it must
//! name this host. Requests with neither header do not come from a browser, so they cannot
//! carry a victim's cookie. This is the check Go 1.25's `CrossOriginProtection` makes.
//! The layer wraps only the console's routes (`server::routes`); the agent API authenticates
//! with a bearer key, never with a cookie, and sits outside it.

use crate::error::AppError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn reject_cross_site_writes(request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || is_same_origin(request.headers()) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "cross-site write refused");
        AppError::forbidden("Cross-site request refused").into_response()
    }
}

/// Whether the headers say the request comes from this site (or from no browser at all).
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn decides_by_fetch_metadata_then_origin() {
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "none")])));
        assert!(!is_same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(is_same_origin(&headers(&[("origin", "http://a:1"), ("host", "a:1")])));
        assert!(!is_same_origin(&headers(&[("origin", "http://evil:1"), ("host", "a:1")])));
        assert!(!is_same_origin(&headers(&[("origin", "null"), ("host", "a:1")])));
        assert!(is_same_origin(&headers(&[("host", "a:1")])), "no browser, no cookie to abuse");
    }
}
