//! The tenant page: this period's usage against the limit, when it resets, and the agents
//! (system admins can revoke a key here).

use super::server_fns::load_tenant_overview;
use super::TenantOverview;
use crate::agents::server_fns::RevokeAgent;
use crate::agents::AgentSummary;
use crate::auth::pages::use_me;
use crate::format::{format_count, format_datetime, format_reset, format_usd};
use crate::limits::{format_usage_pct, EnforcementMode, UsageBand};
use crate::overrides::UserOverride;
use crate::ui::{use_interval, ErrorPage};
use crate::usage::table::{UnpricedWarning, REFRESH_MS};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn TenantPage() -> impl IntoView {
    let params = use_params_map();
    let tenant_id = move || params.with(|p| p.get("tenant_id").unwrap_or_default());
    let can_revoke = use_me().is_some_and(|me| me.is_system_admin());
    let revoke = ServerAction::<RevokeAgent>::new();
    let tick = RwSignal::new(0u32);
    use_interval(REFRESH_MS, move || tick.update(|n| *n = n.wrapping_add(1)));
    let overview =
        Resource::new(move || (tenant_id(), revoke.version().get(), tick.get()), |(id, ..)| load_tenant_overview(id));
    view! {
        <Transition fallback=|| view! { <p class="page">"Loading tenant…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <TenantView overview can_revoke revoke/> }.into_any(),
                    Err(error) => view! { <ErrorPage error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TenantView(overview: TenantOverview, can_revoke: bool, revoke: ServerAction<RevokeAgent>) -> impl IntoView {
    let u = overview.usage;
    let limit = u.token_limit.map_or("No Limit".to_owned(), |l| format_count(l as i64));
    let heading = if u.display_name == u.tenant_id {
        u.tenant_id.clone()
    } else {
        format!("{} ({})", u.display_name, u.tenant_id)
    };
    let pct_class = format!("stat-value usage-pct {}", u.band().css_class());
    let agents = overview.agents.into_iter().map(|agent| view! { <AgentRow agent can_revoke revoke/> }).collect_view();
    let revoke_error = move || revoke.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="page">
            <h1>{heading}</h1>
            <nav class="tabs" aria-label="Tenant">
                <span aria-current="page">"Usage"</span>
                <A href=format!("/tenants/{}/budget", u.tenant_id)>"Budget"</A>
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
            <Overrides overrides=overview.overrides/>
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

/// Users with a token limit of their own, with what they used this period.
#[component]
fn Overrides(overrides: Vec<UserOverride>) -> impl IntoView {
    if overrides.is_empty() {
        return view! { <p class="hint">"No user overrides: every user shares the tenant's limit."</p> }.into_any();
    }
    let rows = overrides
        .into_iter()
        .map(|o| {
            let band = UsageBand::for_usage(o.used_tokens, o.token_limit);
            let pct = format_usage_pct(o.used_tokens, o.token_limit);
            view! {
                <tr>
                    <th scope="row">{o.user_id}</th>
                    <td class="num">{format_count(o.used_tokens as i64)}</td>
                    <td class="num">{format_count(o.token_limit.get() as i64)}</td>
                    <td class=format!("num usage-pct {}", band.css_class())>{pct}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"User overrides"</h2>
        <table class="usage-table" aria-label="User overrides">
            <thead>
                <tr>
                    <th scope="col">"User"</th>
                    <th scope="col">"Used Tokens"</th>
                    <th scope="col">"Token Limit"</th>
                    <th scope="col">"Usage %"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn AgentRow(agent: AgentSummary, can_revoke: bool, revoke: ServerAction<RevokeAgent>) -> impl IntoView {
    let status = agent.revoked_at.map_or("Active".to_owned(), |t| format!("Revoked {}", format_datetime(t)));
    let show_revoke = can_revoke && agent.revoked_at.is_none();
    let label = format!("Revoke key of {}", agent.name);
    let agent_id = agent.agent_id;
    view! {
        <tr>
            <th scope="row">{agent.name}</th>
            <td class="mono">{format!("{}…", agent.api_key_prefix)}</td>
            <td>{format_datetime(agent.created_at)}</td>
            <td>{status}</td>
            <td class="row-actions">
                {show_revoke.then(|| view! {
                    <button type="button" class="link danger-link" aria-label=label
                        on:click=move |_| { revoke.dispatch(RevokeAgent { agent_id }); }>
                        "Revoke key"
                    </button>
                })}
            </td>
        </tr>
    }
}
