//! The console's HTML shell, router and layout.

use crate::admin::AdminPage;
use crate::auth::pages::{ProtectedLayout, SignInPage};
use crate::budgets::page::BudgetPage;
use crate::tenants::page::TenantPage;
use crate::usage::table::UsagePage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes, A};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

/// The document around the app, rendered only on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The Content-Security-Policy names this page's nonce, which Leptos put on its scripts.
    #[cfg(feature = "ssr")]
    crate::http_headers::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                // The bundle's names carry a content hash in release builds (cached for a year).
                <HashedStylesheet options=options.clone() id="leptos"/>
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
        <Title text="Tollgate"/>
        <Router>
            // Async SSR: each page is sent whole (redirects and statuses included), so it
            // reads the same with JavaScript off.
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/sign-in") view={Lazy::<SignInRoute>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view={Lazy::<LayoutRoute>::new()} ssr=SsrMode::Async>
                    <Route path=path!("") view={Lazy::<UsageRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:tenant_id") view={Lazy::<TenantRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:tenant_id/budget") view={Lazy::<BudgetRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("admin") view={Lazy::<AdminRoute>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Each page is a lazily loaded route: built with `cargo leptos build --split`, its code is a
/// wasm chunk of its own, fetched when the page is first shown, so a first visit downloads the
/// framework and one page rather than the whole console. (Unsplit builds, such as the tests',
/// compile them in as usual.) The pages load their own data, so `data()` holds nothing.
macro_rules! lazy_pages {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    // The signed-in layout too: the sign-in page, where every first visit lands, needs none of it.
    LayoutRoute => ProtectedLayout,
    SignInRoute => SignInPage,
    UsageRoute => UsagePage,
    TenantRoute => TenantPage,
    BudgetRoute => BudgetPage,
    AdminRoute => AdminPage,
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
