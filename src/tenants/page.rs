//! The tenant page: this period's usage against the limit, when it resets, and the agents
//! (system admins can revoke a key here).

use super::server_fns::load_tenant_overview;
use super::TenantOverview;
use crate::agents::server_fns::RevokeAgent;
use crate::agents::AgentSummary;
use crate::auth::pages::use_me;
use crate::error::AppError;
use crate::format::{format_count, format_datetime, format_reset, format_usd};
use crate::limits::server_fns::SetEnforcementMode;
use crate::limits::EnforcementMode;
use crate::limits::TokenLimit;
use crate::overrides::parse_user_id;
use crate::overrides::server_fns::{RemoveUserOverride, SetUserOverride};
use crate::overrides::UserOverride;
use crate::ui::{use_interval, ErrorPage, Field, Modal, Notice, UsageProgressBar};
use crate::usage::breakdown_table::UsageBreakdownSection;
use crate::usage::table::{UnpricedWarning, REFRESH_MS};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn TenantPage() -> impl IntoView {
    let params = use_params_map();
    let tenant_id = move || params.with(|p| p.get("tenant_id").unwrap_or_default());
    let can_revoke = use_me().is_some_and(|me| me.is_system_admin());
    let revoke = ServerAction::<RevokeAgent>::new();
    let actions = LimitActions {
        set_override: ServerAction::new(),
        remove_override: ServerAction::new(),
        set_mode: ServerAction::new(),
    };
    let tick = RwSignal::new(0u32);
    use_interval(REFRESH_MS, move || tick.update(|n| *n = n.wrapping_add(1)));
    let overview = Resource::new(
        move || (tenant_id(), revoke.version().get(), actions.version(), tick.get()),
        |(id, ..)| load_tenant_overview(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="page">"Loading tenant…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <TenantView overview can_revoke revoke actions/> }.into_any(),
                    Err(error) => view! { <ErrorPage error/> }.into_any(),
                }
            })}
        </Transition>
        // Outside the refreshing overview: read once per range, not every 10 s.
        <UsageBreakdownSection tenant_id=Signal::derive(tenant_id)/>
    }
}

/// The tenant page's writes to limits: user overrides (system admins and the tenant's admins)
/// and the mode (system admins).
#[derive(Clone, Copy)]
struct LimitActions {
    set_override: ServerAction<SetUserOverride>,
    remove_override: ServerAction<RemoveUserOverride>,
    set_mode: ServerAction<SetEnforcementMode>,
}

impl LimitActions {
    /// Changes whenever one of them completes, to reload the page's data.
    fn version(&self) -> (usize, usize, usize) {
        (self.set_override.version().get(), self.remove_override.version().get(), self.set_mode.version().get())
    }
}

#[component]
fn TenantView(
    overview: TenantOverview,
    can_revoke: bool,
    revoke: ServerAction<RevokeAgent>,
    actions: LimitActions,
) -> impl IntoView {
    let u = overview.usage;
    let limit = u.token_limit.map_or("No Limit".to_owned(), |l| format_count(l as i64));
    let heading = if u.display_name == u.tenant_id {
        u.tenant_id.clone()
    } else {
        format!("{} ({})", u.display_name, u.tenant_id)
    };
    let pct_class = format!("stat-value usage-pct {}", u.band().css_class());
    let agents = overview
        .agents
        .into_iter()
        .map(|agent| view! { <AgentRow agent tenant_id=u.tenant_id.clone() can_revoke revoke/> })
        .collect_view();
    let revoke_error = move || revoke.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="page">
            <h1>{heading}</h1>
            <nav class="tabs" aria-label="Tenant">
                <span aria-current="page">"Usage"</span>
                <a href=format!("/tenants/{}/budget", u.tenant_id)>"Budget"</a>
            </nav>
            <UnpricedWarning events=overview.unpriced_events/>
            <dl class="stats" aria-label="This period">
                <div><dt>"Total Tokens"</dt><dd class="stat-value">{format_count(u.total_tokens)}</dd></div>
                <div><dt>"Reserved Tokens"</dt><dd class="stat-value">{format_count(u.reserved_tokens)}</dd></div>
                <div><dt>"Token Limit"</dt><dd class="stat-value">{limit}</dd></div>
                <div><dt>"Usage %"</dt><dd class=pct_class>{u.usage_pct_text()}</dd></div>
                <div><dt>"Total Cost"</dt><dd class="stat-value">{format_usd(u.cost_micros)}</dd></div>
            </dl>
            <p class="hint">
                {format!("Input {} · Output {} tokens. ", format_count(u.input_tokens), format_count(u.output_tokens))}
                {format_reset(overview.now, overview.resets_at)}
            </p>
            <ModeLine mode=overview.mode is_default=overview.mode_is_default would_refuse=overview.would_refuse_count/>
            {can_revoke.then(|| view! {
                <ModeForm tenant_id=u.tenant_id.clone() is_default=overview.mode_is_default mode=overview.mode action=actions.set_mode/>
            })}
            <Overrides tenant_id=u.tenant_id.clone() overrides=overview.overrides actions/>
            <h2>"Agents"</h2>
            {move || revoke_error().map(|m| view! { <p class="alert error" role="alert">{m}</p> })}
            <table class="usage-table" aria-label="Agents">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{agents}</tbody>
            </table>
        </section>
    }
}

/// The tenant's mode; in monitor mode (or after it) how many calls enforce would have refused.
#[component]
fn ModeLine(mode: EnforcementMode, is_default: bool, would_refuse: i64) -> impl IntoView {
    let origin = if is_default { " (the server's default)" } else { "" };
    let blocked = (mode == EnforcementMode::Monitor || would_refuse > 0).then(|| {
        let calls = if would_refuse == 1 { "call" } else { "calls" };
        view! {
            <p class="alert warn" data-testid="would-refuse">
                {format!("Would have blocked {} {calls} this period.", format_count(would_refuse))}
            </p>
        }
    });
    view! {
        <p class="hint" data-testid="mode">"Enforcement mode: " <strong>{mode.label()}</strong> {origin}</p>
        {blocked}
    }
}

/// A system admin's choice of the tenant's mode (a plain form: works without JavaScript).
#[component]
fn ModeForm(
    tenant_id: String,
    is_default: bool,
    mode: EnforcementMode,
    action: ServerAction<SetEnforcementMode>,
) -> impl IntoView {
    let current = if is_default { "default" } else { mode.as_str() };
    let options = std::iter::once(("default", "The server's default"))
        .chain(EnforcementMode::ALL.into_iter().map(|m| (m.as_str(), m.label())))
        .map(|(value, label)| view! { <option value=value selected=value == current>{label}</option> })
        .collect_view();
    let outcome = Signal::derive(move || {
        action.value().get().map(|r| r.map(|()| "Enforcement mode saved.".to_owned()).map_err(|e| e.to_string()))
    });
    view! {
        <ActionForm action attr:class="inline-form" attr:aria-label="Enforcement mode">
            <input type="hidden" name="tenant_id" value=tenant_id/>
            <div class="field">
                <label for="mode-select">"Enforcement mode"</label>
                <select id="mode-select" name="mode">{options}</select>
            </div>
            <button type="submit" class="secondary" disabled=move || action.pending().get()>"Save mode"</button>
        </ActionForm>
        <Notice pending=action.pending() outcome/>
    }
}

/// Users with a token limit of their own, with what they used this period, and the form that
/// adds, changes and removes them (checked while typing by the server's own rules).
#[component]
fn Overrides(tenant_id: String, overrides: Vec<UserOverride>, actions: LimitActions) -> impl IntoView {
    let (set, remove) = (actions.set_override, actions.remove_override);
    let user_text = RwSignal::new(String::new());
    let limit_text = RwSignal::new(String::new());
    // The row's Edit opens a dialog for that user's limit (and removal); adding a user is the
    // form below the table, which works without JavaScript too.
    let editing = RwSignal::new(None::<(String, u64)>);
    let dialog_tenant = tenant_id.clone();
    let rows = overrides
        .into_iter()
        .map(|o| {
            let (user, limit) = (o.user_id.clone(), o.token_limit);
            let edit = move |_| editing.set(Some((user.clone(), limit.get())));
            let tenant_id = tenant_id.clone();
            view! {
                <tr>
                    <th scope="row">{o.user_id.clone()}</th>
                    <td class="num">{format_count(o.used_tokens as i64)}</td>
                    <td class="num">{format_count(o.token_limit.get() as i64)}</td>
                    <td><UsageProgressBar used=o.used_tokens limit=o.token_limit label=format!("Usage of {}", o.user_id)/></td>
                    <td class="row-actions">
                        <button type="button" class="link" aria-label=format!("Edit override of {}", o.user_id) on:click=edit>"Edit"</button>
                        <ActionForm action=remove attr:class="inline">
                            <input type="hidden" name="tenant_id" value=tenant_id/>
                            <input type="hidden" name="user_id" value=o.user_id.clone()/>
                            <button type="submit" class="link danger-link" aria-label=format!("Remove override of {}", o.user_id)>"Remove"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let typed_error = |text: RwSignal<String>, check: fn(&str) -> Option<String>| {
        Signal::derive(move || text.with(|t| (!t.is_empty()).then(|| check(t)).flatten()))
    };
    let user_error =
        typed_error(user_text, |t| parse_user_id("user_id", t).err().map(|e| crate::error::sentence(&e.message)));
    let limit_error =
        typed_error(limit_text, |t| TokenLimit::parse(t).err().map(|e| crate::error::sentence(&e.message)));
    let server_error = move |field: &'static str| {
        Signal::derive(move || {
            set.value().with(|v| match v {
                Some(Err(e)) if e.field() == Some(field) => Some(e.field_message()),
                _ => None,
            })
        })
    };
    let either =
        |a: Signal<Option<String>>, b: Signal<Option<String>>| Signal::derive(move || a.get().or_else(|| b.get()));
    let outcome = Signal::derive(move || {
        let failed = |e: &AppError| e.field().is_none().then(|| e.to_string());
        match (set.value().get(), remove.value().get()) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => failed(&e).map(Err),
            (Some(Ok(())), _) | (_, Some(Ok(()))) => Some(Ok("User overrides saved.".to_owned())),
            _ => None,
        }
    });
    let invalid = move || user_error.get().is_some() || limit_error.get().is_some();
    view! {
        <h2>"User overrides"</h2>
        <p class="hint">"A user with an override is held to it and to the tenant's limit; everyone else shares the tenant's limit."</p>
        <table class="usage-table" aria-label="User overrides">
            <thead>
                <tr>
                    <th scope="col">"User"</th>
                    <th scope="col">"Used Tokens"</th>
                    <th scope="col">"Token Limit"</th>
                    <th scope="col">"Usage %"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <ActionForm action=set attr:class="inline-form" attr:aria-label="Set a user override">
            <input type="hidden" name="tenant_id" value=tenant_id.clone()/>
            <Field label="User ID" id="override-user-id" error=either(user_error, server_error("user_id"))>
                <input id="override-user-id" name="user_id" autocomplete="off" required
                    prop:value=move || user_text.get() on:input=move |ev| user_text.set(event_target_value(&ev))/>
            </Field>
            <Field label="Token limit" id="override-token-limit" error=either(limit_error, server_error("token_limit"))>
                <input id="override-token-limit" name="token_limit" inputmode="numeric" autocomplete="off" required
                    prop:value=move || limit_text.get() on:input=move |ev| limit_text.set(event_target_value(&ev))/>
            </Field>
            <button type="submit" class="primary" disabled=move || set.pending().get() || invalid()>"Save override"</button>
        </ActionForm>
        <Notice pending=Signal::derive(move || set.pending().get() || remove.pending().get()) outcome/>
        <OverrideDialog tenant_id=dialog_tenant editing actions/>
    }
}

/// The dialog that changes or removes one user's override, checked while typing by the
/// server's own rule; it closes once the change is saved.
#[component]
fn OverrideDialog(tenant_id: String, editing: RwSignal<Option<(String, u64)>>, actions: LimitActions) -> impl IntoView {
    let (set, remove) = (actions.set_override, actions.remove_override);
    let open = RwSignal::new(false);
    let limit_text = RwSignal::new(String::new());
    let user = move || editing.with(|e| e.as_ref().map(|(u, _)| u.clone()).unwrap_or_default());
    Effect::new(move |_| {
        if let Some((_, limit)) = editing.get() {
            limit_text.set(limit.to_string());
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            editing.set(None);
        }
    });
    let typed_error = move || {
        let t = limit_text.get();
        TokenLimit::parse(&t).err().map(|e| crate::error::sentence(&e.message))
    };
    let pending = move || set.pending().get() || remove.pending().get();
    let tenant = StoredValue::new(tenant_id);
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let token_limit = limit_text.get_untracked();
        if TokenLimit::parse(&token_limit).is_ok() {
            set.dispatch(SetUserOverride { tenant_id: tenant.get_value(), user_id: user(), token_limit });
            open.set(false);
        }
    };
    let remove_user = move |_| {
        remove.dispatch(RemoveUserOverride { tenant_id: tenant.get_value(), user_id: user() });
        open.set(false);
    };
    let title = Signal::derive(move || format!("Override of {}", user()));
    view! {
        <Modal open title id="override-dialog">
            <form class="form" on:submit=save novalidate aria-label="Change the override">
                <Field label="Token limit" id="dialog-token-limit" error=Signal::derive(typed_error)>
                    <input id="dialog-token-limit" inputmode="numeric" autocomplete="off"
                        prop:value=move || limit_text.get() on:input=move |ev| limit_text.set(event_target_value(&ev))/>
                </Field>
                <p class="hint">"Tokens per period for this user; the tenant's limit still holds."</p>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || pending() || typed_error().is_some()>"Save override"</button>
                    <button type="button" class="danger" disabled=pending on:click=remove_user>"Remove override"</button>
                </div>
            </form>
        </Modal>
    }
}

/// One agent; for system admins, "Revoke key" asks first: the link marks the agent in the URL
/// (`?revoke=<id>`, so it works without JavaScript), and the row then offers the real button.
#[component]
fn AgentRow(
    agent: AgentSummary,
    tenant_id: String,
    can_revoke: bool,
    revoke: ServerAction<RevokeAgent>,
) -> impl IntoView {
    let status = agent.revoked_at.map_or("Active".to_owned(), |t| format!("Revoked {}", format_datetime(t)));
    let show_revoke = can_revoke && agent.revoked_at.is_none();
    let agent_id = agent.agent_id;
    let query = leptos_router::hooks::use_query_map();
    let asked = move || query.with(|q| q.get("revoke").and_then(|v| v.parse::<i64>().ok())) == Some(agent_id);
    let name = agent.name.clone();
    let action = move || {
        let (name, tenant_id) = (name.clone(), tenant_id.clone());
        if asked() {
            view! {
                <ActionForm action=revoke attr:class="confirm" attr:aria-label=format!("Confirm revoking the key of {name}")>
                    <input type="hidden" name="agent_id" value=agent_id.to_string()/>
                    <input type="hidden" name="tenant_id" value=tenant_id.clone()/>
                    <span class="hint">"Agents using this key are refused at once."</span>
                    <button type="submit" class="danger" disabled=move || revoke.pending().get()>"Revoke key"</button>
                    <a href=format!("/tenants/{tenant_id}")>"Cancel"</a>
                </ActionForm>
            }
            .into_any()
        } else {
            let label = format!("Revoke key of {name}");
            view! { <a href=format!("?revoke={agent_id}") class="danger-link" aria-label=label>"Revoke key"</a> }
                .into_any()
        }
    };
    view! {
        <tr>
            <th scope="row">{agent.name}</th>
            <td class="mono">{format!("{}…", agent.api_key_prefix)}</td>
            <td>{format_datetime(agent.created_at)}</td>
            <td>{status}</td>
            <td class="row-actions">{show_revoke.then_some(action)}</td>
        </tr>
    }
}
