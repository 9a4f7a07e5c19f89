//! The Admin route (`/admin`): for system admins, console users, a form to create tenant
//! admins and the audit log (here) and every tenant's limits (`?tab=limits`, `limits.rs`); for
//! every signed-in user, their personal API tokens (`?tab=tokens`). One lazy route for all
//! three: every route adds its matching code to the main module every first visit downloads.

pub mod limits;
pub mod tabs;

use tabs::AdminTabs;

use crate::audit::page::{audit_source, AuditLog, AuditSource};
use crate::auth::model::Account;
use crate::auth::pages::use_me;
use crate::auth::server_fns::{list_users, CreateTenantAdmin, ManageAccount};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::ui::{ErrorPage, Field};
use leptos::prelude::*;

/// The tab of the Admin route, from `?tab=`.
#[component]
pub fn AdminPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    // Only a change of tab re-renders the page (not its own parameters, such as a search).
    let tab = Memo::new(move |_| query.with(|q| q.get("tab").unwrap_or_default()));
    move || match tab.get().as_str() {
        "limits" => view! { <limits::UsageLimitsPage/> }.into_any(),
        "tokens" => view! { <crate::api_tokens::page::ApiTokensPage/> }.into_any(),
        _ => view! { <UsersPage/> }.into_any(),
    }
}

#[component]
fn UsersPage() -> impl IntoView {
    let me = use_me();
    let create = ServerAction::<CreateTenantAdmin>::new();
    let manage = ServerAction::<ManageAccount>::new();
    let users = Resource::new(move || (create.version().get(), manage.version().get()), |_| list_users());
    let log = audit_source(
        Signal::derive(String::new),
        Signal::derive(move || create.version().get() + manage.version().get()),
    );
    view! {
        <Transition fallback=|| view! { <p class="page">"Loading…"</p> }>
            {move || {
                let me = me.clone();
                Suspend::new(async move {
                let Some(me) = me.filter(CurrentUser::is_system_admin) else {
                    let error = AppError::forbidden("The Admin tab is for system admins");
                    return view! { <ErrorPage error/> }.into_any();
                };
                match users.await {
                    Ok(users) => view! { <AdminView me users create manage log/> }.into_any(),
                    Err(error) => view! { <ErrorPage error/> }.into_any(),
                }
            })
            }}
        </Transition>
    }
}

#[component]
fn AdminView(
    me: CurrentUser,
    users: Vec<Account>,
    create: ServerAction<CreateTenantAdmin>,
    manage: ServerAction<ManageAccount>,
    log: AuditSource,
) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let chosen = query.with_untracked(|q| q.get("account"));
    let managed = chosen.as_ref().and_then(|name| users.iter().find(|a| &a.user.username == name).cloned());
    let rows = users
        .into_iter()
        .map(|a| {
            let u = a.user;
            let (role, tenant) = match &u.role {
                Role::SystemAdmin => ("System admin", String::new()),
                Role::TenantAdmin { tenant_id } => ("Tenant admin", tenant_id.clone()),
            };
            let you = (u.user_id == me.user_id).then_some(" (you)");
            let status = match a.disabled_at {
                Some(at) => format!("Disabled since {}", crate::format::format_datetime(at)),
                None => "Active".to_owned(),
            };
            let href = format!("/admin?account={}", u.username);
            let label = format!("Manage {}", u.username);
            view! {
                <tr>
                    <th scope="row">{u.username.clone()}{you}</th>
                    <td>{role}</td>
                    <td>{tenant}</td>
                    <td>{status}</td>
                    <td><a href=href aria-label=label>"Manage"</a></td>
                </tr>
            }
        })
        .collect_view();
    let field_error = move |field: &'static str| {
        move || {
            create.value().with(|v| match v {
                Some(Err(e)) if e.field() == Some(field) => Some(e.field_message()),
                _ => None,
            })
        }
    };
    let other_error = move || {
        create.value().with(|v| match v {
            Some(Err(e)) if !matches!(e.field(), Some("username" | "tenant_id" | "password")) => Some(e.to_string()),
            _ => None,
        })
    };
    let created = move || {
        create.value().with(|v| match v {
            Some(Ok(u)) => {
                Some(format!("Tenant admin {} created for {}.", u.username, u.tenant_scope().unwrap_or_default()))
            }
            _ => None,
        })
    };
    view! {
        <section class="page">
            <h1>"Admin"</h1>
            <AdminTabs current="users"/>
            <h2>"Console users"</h2>
            <div class="table-scroll">
                <table class="usage-table" aria-label="Console users">
                    <thead>
                        <tr>
                            <th scope="col">"User name"</th><th scope="col">"Role"</th><th scope="col">"Tenant"</th>
                            <th scope="col">"Status"</th><th scope="col">"Account"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <AccountOutcome manage/>
            {managed.map(|account| view! { <ManageAccountPanel account me=me.clone() manage/> })}
            <h2>"Create a tenant admin"</h2>
            <ActionForm action=create attr:class="form narrow" attr:aria-label="Create a tenant admin">
                <Field label="User name" id="new-username" error=Signal::derive(field_error("username"))>
                    <input id="new-username" name="username" autocomplete="off" required/>
                </Field>
                <Field label="Tenant ID" id="new-tenant-id" error=Signal::derive(field_error("tenant_id"))>
                    <input id="new-tenant-id" name="tenant_id" autocomplete="off" required/>
                </Field>
                <Field label="Password" id="new-password" error=Signal::derive(field_error("password"))>
                    <input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="10"/>
                </Field>
                {move || other_error().map(|m| view! { <p class="alert error" role="alert">{m}</p> })}
                {move || created().map(|m| view! { <p class="alert ok" role="status">{m}</p> })}
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create tenant admin"</button>
                </div>
            </ActionForm>
            <h2>"Audit log"</h2>
            <p class="hint">"Every change to token limits, budgets, agents and console users."</p>
            <AuditLog source=log label="Audit log"/>
        </section>
    }
}

/// What the last account action did (from the action, or from `?done=` after a plain post).
#[component]
fn AccountOutcome(manage: ServerAction<ManageAccount>) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let done = move || match manage.value().get() {
        Some(Ok(done)) => Some(Ok(done)),
        Some(Err(e)) => Some(Err(e.to_string())),
        None => query.with(|q| q.get("done")).map(Ok),
    };
    move || {
        done().map(|outcome| match outcome {
            Ok(text) => view! { <p class="alert ok" role="status">{text}</p> }.into_any(),
            Err(text) => view! { <p class="alert error" role="alert">{text}</p> }.into_any(),
        })
    }
}

/// One account's actions, each a plain form with its own button: what it does is said beside
/// it, so choosing "Manage" and then the action is the confirmation.
#[component]
fn ManageAccountPanel(account: Account, me: CurrentUser, manage: ServerAction<ManageAccount>) -> impl IntoView {
    let name = account.user.username.clone();
    let is_me = account.user.user_id == me.user_id;
    let disabled = account.disabled_at.is_some();
    let action_form = move |action: &'static str, button: &'static str, why: &'static str, danger: bool| {
        let name = name.clone();
        view! {
            <ActionForm action=manage attr:class="account-action" attr:aria-label=button>
                <input type="hidden" name="username" value=name/>
                <input type="hidden" name="action" value=action/>
                <p class="hint">{why}</p>
                <button type="submit" class=if danger { "danger" } else { "" } disabled=move || manage.pending().get()>{button}</button>
            </ActionForm>
        }
    };
    let toggle = match (disabled, is_me) {
        (true, _) => Some(action_form(
            "enable",
            "Enable account",
            "They may sign in again; their old sessions stay ended.",
            false,
        )),
        (false, false) => Some(action_form(
            "disable",
            "Disable account",
            "Their sign-ins, sessions and API tokens stop working at once.",
            true,
        )),
        (false, true) => None,
    };
    let sign_out = action_form(
        "sign_out_everywhere",
        "Sign out everywhere",
        "Every session of theirs ends and every API token of theirs is revoked.",
        true,
    );
    let username = account.user.username.clone();
    let (title, label) = (format!("Manage {username}"), format!("Manage {username}"));
    view! {
        <section class="panel" aria-label=label>
            <h3>{title}</h3>
            {toggle}
            {sign_out}
            <ActionForm action=manage attr:class="account-action" attr:aria-label="Set password">
                <input type="hidden" name="username" value=username/>
                <input type="hidden" name="action" value="set_password"/>
                <Field label="New password" id="account-password" error=Signal::derive(|| None::<String>)>
                    <input id="account-password" name="password" type="password" autocomplete="new-password" minlength="10" required/>
                </Field>
                <p class="hint">"Every session of theirs ends; they sign in with the new password."</p>
                <button type="submit" disabled=move || manage.pending().get()>"Set password"</button>
            </ActionForm>
            <p><a href="/admin">"Done"</a></p>
        </section>
    }
}
