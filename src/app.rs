//! The console's HTML shell, router and layout.

use crate::admin::AdminPage;
use crate::auth::pages::{ProtectedLayout, SignInPage};
use crate::budgets::page::BudgetPage;
use crate::tenants::page::TenantPage;
use crate::usage::table::UsagePage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
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
        <Router>
            <PageTitle/>
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

/// The browser tab's title: which page this is, then "Tollgate" (every page was "Tollgate").
#[component]
fn PageTitle() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let text = move || {
        let tab = location.query.with(|q| q.get("tab"));
        page_title(&location.pathname.get(), tab.as_deref())
    };
    view! { <Title text=text/> }
}

/// The title of the page at `path` (with the Admin route's `tab`).
pub fn page_title(path: &str, tab: Option<&str>) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let page = match (parts.as_slice(), tab) {
        ([], _) => "Usage".to_owned(),
        (["sign-in"], _) => "Sign in".to_owned(),
        (["tenants", id], _) => format!("Tenant {id}"),
        (["tenants", id, "budget"], _) => format!("Budget of {id}"),
        (["admin"], Some("limits")) => "Usage Limits".to_owned(),
        (["admin"], Some("tokens")) => "API tokens".to_owned(),
        (["admin"], _) => "Admin".to_owned(),
        _ => "Page not found".to_owned(),
    };
    format!("{page} · Tollgate")
}

#[component]
fn NotFound() -> impl IntoView {
    crate::ui::set_status(404);
    view! {
        <header class="topbar"><a href="/" class="brand">"Tollgate"</a></header>
        <main>
            <section class="page">
                <h1>"Page not found"</h1>
                <p><a href="/">"Back to usage"</a></p>
            </section>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::page_title;

    #[test]
    fn each_page_has_its_own_title() {
        let titles = [
            page_title("/", None),
            page_title("/sign-in", None),
            page_title("/tenants/acme", None),
            page_title("/tenants/acme/budget", None),
            page_title("/admin", None),
            page_title("/admin", Some("limits")),
            page_title("/admin", Some("tokens")),
            page_title("/nope/x", None),
        ];
        assert_eq!(titles[3], "Budget of acme · Tollgate");
        let mut distinct = titles.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), titles.len(), "{titles:?}");
    }
}
