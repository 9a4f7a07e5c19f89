//! The sign-in page and the layout around every signed-in page (navigation, who you are,
//! sign out). Signed-out visitors of a protected page are sent to sign-in and back.

use super::model::CurrentUser;
use super::server_fns::{load_current_user, SignIn, SignOut};
use crate::ui::Field;
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::{use_location, use_query_map};

/// The signed-in user, for pages inside the protected layout (which renders them only once
/// the user is known). What it allows is only a hint for the UI: every server function
/// checks again on the server.
pub fn use_me() -> Option<CurrentUser> {
    use_context::<CurrentUser>()
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_owned()));
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <header class="topbar"><span class="brand">"Tollgate"</span></header>
        <main>
            <section class="sign-in">
                <h1>"Sign in"</h1>
                <ActionForm action attr:class="form" attr:aria-label="Sign in">
                    <Field label="User name" id="username">
                        <input id="username" name="username" autocomplete="username" required autofocus/>
                    </Field>
                    <Field label="Password" id="password">
                        <input id="password" name="password" type="password" autocomplete="current-password" required/>
                    </Field>
                    <input type="hidden" name="next" value=next/>
                    {move || error().map(|m| view! { <p class="alert error" role="alert">{m}</p> })}
                    <div class="form-actions">
                        <button type="submit" class="primary" disabled=move || action.pending().get()>"Sign in"</button>
                    </div>
                </ActionForm>
            </section>
        </main>
    }
}

/// Wraps every page that needs a signed-in user.
#[component]
pub fn ProtectedLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| load_current_user());
    let location = use_location();
    let sign_in_path = move || {
        let search = location.search.get_untracked();
        let here = match search.is_empty() {
            true => location.pathname.get_untracked(),
            false => format!("{}?{search}", location.pathname.get_untracked()),
        };
        format!("/sign-in?next={}", crate::usage::model::encode_component(&here))
    };
    view! {
        <Transition fallback=|| view! { <header class="topbar"><span class="brand">"Tollgate"</span></header> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(me)) => {
                        provide_context(me.clone());
                        view! { <Nav me/> <main><Outlet/></main> }.into_any()
                    }
                    Ok(None) => view! { <Redirect path=sign_in_path()/> }.into_any(),
                    Err(e) => view! { <main><crate::ui::ErrorPage error=e/></main> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The main navigation's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavSection {
    Usage,
    Tenant,
    Admin,
    Tokens,
}

/// Which entry of the main navigation the page at `path` (with `?tab=`) belongs to.
pub fn nav_section(path: &str, tab: Option<&str>) -> Option<NavSection> {
    match path {
        "/" => Some(NavSection::Usage),
        p if p.starts_with("/tenants/") => Some(NavSection::Tenant),
        "/admin" if tab == Some("tokens") => Some(NavSection::Tokens),
        "/admin" => Some(NavSection::Admin),
        _ => None,
    }
}

#[component]
fn Nav(me: CurrentUser) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let admin = me.is_system_admin();
    let own_tenant = me.tenant_scope().map(|t| (format!("/tenants/{t}"), t.to_owned()));
    // Exactly one link is the current page (the router's own links marked every link to a
    // prefix of the path, and `/admin` for the API tokens tab too).
    let location = use_location();
    let section = move || {
        let tab = location.query.with(|q| q.get("tab"));
        nav_section(&location.pathname.get(), tab.as_deref())
    };
    let current = move |which: NavSection| move || (section() == Some(which)).then_some("page");
    view! {
        <header class="topbar">
            <a href="/" class="brand">"Tollgate"</a>
            <nav aria-label="Main">
                <a href="/" aria-current=current(NavSection::Usage)>"Usage"</a>
                {own_tenant.map(|(href, id)| view! { <a href=href aria-current=current(NavSection::Tenant)>{format!("Tenant {id}")}</a> })}
                {admin.then(|| view! { <a href="/admin" aria-current=current(NavSection::Admin)>"Admin"</a> })}
                <a href=crate::api_tokens::TOKENS_PATH aria-current=current(NavSection::Tokens)>"API tokens"</a>
            </nav>
            <div class="who">
                <span class="username">{me.username.clone()}</span>
                <span class="role">{me.role.label()}</span>
                <ActionForm action=sign_out attr:class="sign-out">
                    <button type="submit" class="secondary">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
    }
}
