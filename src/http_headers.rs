//! The security headers of the console's answers. Pages carry a Content-Security-Policy whose
//! script source is the page's own nonce (Leptos puts it on the hydration script; the bundle
//! comes from this origin, and WebAssembly needs `'wasm-unsafe-eval'`): an injected script
//! cannot run, and no other site may frame the console. Every console answer is `no-store`
//! (pages and server functions carry tenant data, agent keys and API tokens), says `nosniff`,
//! sends no referrer elsewhere and asks browsers to keep to HTTPS.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// The policy of a page rendered with `nonce`. Inline style attributes (the budget bar's
/// width) are allowed; inline style elements and every other inline script are not.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// What an answer that is not a page gets: nothing may load from it or frame it.
const NOT_A_PAGE: &str = "default-src 'none'; frame-ancestors 'none'";

/// Sets the page's policy with its nonce; called while the page's shell renders.
pub fn set_page_policy() {
    let nonce = leptos::nonce::use_nonce();
    let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>();
    if let (Some(nonce), Some(response)) = (nonce, response) {
        if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
            response.insert_header(CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// Adds the headers every console answer gets (a page's own policy is kept).
pub async fn console_headers(mut response: Response) -> Response {
    add_console_headers(response.headers_mut());
    response
}

fn add_console_headers(headers: &mut HeaderMap) {
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(NOT_A_PAGE));
    }
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Ignored by browsers over plain HTTP; behind TLS it keeps them on HTTPS.
    headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_its_policy_and_everything_else_is_locked_down() {
        let mut page = HeaderMap::new();
        page.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("page's own"));
        add_console_headers(&mut page);
        assert_eq!(page[CONTENT_SECURITY_POLICY], "page's own");
        let mut json = HeaderMap::new();
        add_console_headers(&mut json);
        assert_eq!(json[CONTENT_SECURITY_POLICY], NOT_A_PAGE);
        assert_eq!(json[X_FRAME_OPTIONS], "DENY");
        assert_eq!(json[CACHE_CONTROL], "no-store");
        let policy = page_policy("abc");
        assert!(policy.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("style-src 'self';"), "{policy}");
    }
}
