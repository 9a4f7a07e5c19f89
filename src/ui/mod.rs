//! Small UI pieces every page uses: the one modal pattern and a self-cancelling interval.

use crate::error::AppError;
use leptos::html;
use leptos::prelude::*;

/// A native `<dialog>` shown modally while `open` is true. Esc closes it (and clears `open`);
/// focus is trapped by the browser. Its contents stay mounted so they keep their state.
#[component]
pub fn Modal(
    open: RwSignal<bool>,
    /// The heading, also the dialog's accessible name.
    #[prop(into)]
    title: Signal<String>,
    /// Used to build unique element ids.
    id: &'static str,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    Effect::new(move |_| {
        let Some(el) = dialog.get() else { return };
        if open.get() {
            if !el.open() {
                let _ = el.show_modal();
            }
        } else if el.open() {
            el.close();
        }
    });
    let heading_id = format!("{id}-title");
    let labelled_by = heading_id.clone();
    view! {
        <dialog id=id node_ref=dialog class="modal" aria-labelledby=labelled_by on:close=move |_| open.set(false)>
            <header class="modal-header">
                <h2 id=heading_id>{title}</h2>
                <button type="button" class="icon-button" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
            </header>
            {children()}
        </dialog>
    }
}

/// A labelled input with its error line (`<id>-error`), which exists only while there is an
/// error, so it is announced when it appears and a form without errors has no alerts. Every
/// form of the console builds its fields with it.
#[component]
pub fn Field(
    label: &'static str,
    id: &'static str,
    #[prop(optional, into)] error: MaybeProp<String>,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id>{label}</label>
            {children()}
            {move || error.get().map(|e| view! { <p id=format!("{id}-error") class="field-error" role="alert">{e}</p> })}
        </div>
    }
}

/// Used tokens against a limit: the Usage % text in its colour band over a bar of the same
/// band (capped at full). Every usage-against-limit figure in the console is drawn with it.
#[component]
pub fn UsageProgressBar(used: u64, limit: crate::limits::TokenLimit, #[prop(into)] label: String) -> impl IntoView {
    use crate::limits::{format_usage_pct, usage_pct, UsageBand};
    let band = UsageBand::for_usage(used, limit).css_class();
    let pct = usage_pct(used, limit);
    let width = format!("width: {:.1}%", pct.min(100.0));
    view! {
        <span class="usage-progress">
            <span class=format!("usage-pct {band}")>{format_usage_pct(used, limit)}</span>
            <span class=format!("bar {band}") role="progressbar" aria-label=label aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=format!("{:.1}", pct.min(100.0))>
                <span style=width></span>
            </span>
        </span>
    }
}

/// The line under a paged table: what is shown, the page, and links to the pages around it.
#[component]
pub fn Pager(
    #[prop(into)] shown: String,
    #[prop(into)] page: String,
    prev: Option<String>,
    next: Option<String>,
) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            <span>{shown}</span>
            {prev.map(|href| view! { <a href=href>"← Previous"</a> })}
            <span>{page}</span>
            {next.map(|href| view! { <a href=href>"Next →"</a> })}
        </nav>
    }
}

/// The one way a form reports on its server action: "Saving…" while it runs, the success
/// message (a status) or the error (an alert) once it answered.
#[component]
pub fn Notice(
    #[prop(into)] pending: Signal<bool>,
    /// `Ok(message)` after success, `Err(message)` after failure, `None` before either.
    #[prop(into)]
    outcome: Signal<Option<Result<String, String>>>,
) -> impl IntoView {
    move || match (pending.get(), outcome.get()) {
        (true, _) => Some(view! { <p class="alert" role="status">"Saving…"</p> }.into_any()),
        (false, Some(Ok(message))) => Some(view! { <p class="alert ok" role="status">{message}</p> }.into_any()),
        (false, Some(Err(message))) => Some(view! { <p class="alert error" role="alert">{message}</p> }.into_any()),
        (false, None) => None,
    }
}

/// Calls `tick` every `period_ms` in the browser for as long as the calling component lives.
/// On the server it does nothing: a rendered page has no time to pass.
pub fn use_interval(period_ms: u32, tick: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        // Dropping a gloo Interval cancels it; the stored value is dropped with the owner.
        let interval = gloo_timers::callback::Interval::new(period_ms, tick);
        StoredValue::new_local(interval);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (period_ms, tick);
}

/// Waits `ms` milliseconds in the browser; on the server it returns at once (event handlers,
/// the only callers, never run there).
pub async fn sleep(ms: u32) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}

/// Sets the HTTP status of a server-rendered page (a no-op in the browser).
pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(status)) =
        (use_context::<leptos_axum::ResponseOptions>(), axum::http::StatusCode::from_u16(code))
    {
        response.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// A whole-page error: the message, and on the server the error's HTTP status.
#[component]
pub fn ErrorPage(error: AppError) -> impl IntoView {
    set_status(error.status());
    let title = match error.status() {
        401 => "Signed out",
        403 => "Not allowed",
        404 => "Not found",
        _ => "Something went wrong",
    };
    view! {
        <section class="page error-page">
            <h1>{title}</h1>
            <p role="alert">{error.to_string()}</p>
            <p><a href="/">"Back to usage"</a></p>
        </section>
    }
}

/// Whether the request is a browser's plain form submission (JavaScript off), which wants a
/// page back rather than JSON: server functions behind forms then redirect to the page.
#[cfg(feature = "ssr")]
pub async fn submitted_without_javascript() -> bool {
    use axum::http::{header::ACCEPT, HeaderMap};
    leptos_axum::extract::<HeaderMap>()
        .await
        .ok()
        .and_then(|h| h.get(ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html")))
        .unwrap_or(false)
}
