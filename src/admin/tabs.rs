//! The Admin route's tabs, shared by its pages (`mod.rs`, `limits.rs`).

use leptos::prelude::*;

/// Where the Usage Limits tab lives (the API tokens tab: `api_tokens::TOKENS_PATH`).
pub const LIMITS_PATH: &str = "/admin?tab=limits";

/// The Admin tab's pages.
#[component]
pub fn AdminTabs(current: &'static str) -> impl IntoView {
    let tab = move |key: &'static str, href: &'static str, label: &'static str| {
        if key == current {
            view! { <span aria-current="page">{label}</span> }.into_any()
        } else {
            view! { <a href=href>{label}</a> }.into_any()
        }
    };
    view! {
        <nav class="tabs" aria-label="Admin">
            {tab("users", "/admin", "Users and audit log")}
            {tab("limits", LIMITS_PATH, "Usage Limits")}
        </nav>
    }
}
