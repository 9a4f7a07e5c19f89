//! The console's HTML shell, router and layout.

use crate::admin::AdminPage;
use crate::auth::pages::{ProtectedLayout, SignInPage};
use crate::tenants::page::TenantPage;
use crate::usage::table::UsagePage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

/// The document around the app, rendered only on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: tests wait for this marker.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/tollgate.css"/>
        <Title text="Tollgate"/>
        <Router>
            // Async SSR: each page is sent whole (redirects and statuses included), so it
            // reads the same with JavaScript off.
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=ProtectedLayout ssr=SsrMode::Async>
                    <Route path=path!("") view=UsagePage ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:tenant_id") view=TenantPage ssr=SsrMode::Async/>
                    <Route path=path!("admin") view=AdminPage ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    crate::ui::set_status(404);
    view! {
        <header class="topbar"><A href="/" attr:class="brand">"Tollgate"</A></header>
        <main>
            <section class="page">
                <h1>"Page not found"</h1>
                <p><A href="/">"Back to usage"</A></p>
            </section>
        </main>
    }
}
