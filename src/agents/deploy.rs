//! The deploy modal: agent name and tenant id; a debounced lookup tells whether the tenant
//! exists, and only a new tenant gets a token-limit field. The API key is shown once.

use super::server_fns::DeployAgent;
use super::{parse_agent_name, DeployedAgent};
use crate::error::sentence;
use crate::limits::parse_optional_limit;
use crate::tenants::server_fns::lookup_tenant;
use crate::tenants::TenantId;
use crate::ui::{sleep, Field, Modal};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// How long typing must pause before the tenant id is looked up.
pub const LOOKUP_DEBOUNCE_MS: u32 = 300;

/// What is known about the tenant id being typed.
#[derive(Debug, Clone, PartialEq)]
enum TenantStatus {
    Empty,
    Invalid(String),
    Checking,
    Existing { display_name: String },
    New,
    LookupFailed(String),
}

#[component]
pub fn DeployModal(open: RwSignal<bool>, action: ServerAction<DeployAgent>) -> impl IntoView {
    let agent_name = RwSignal::new(String::new());
    let tenant_id = RwSignal::new(String::new());
    let token_limit = RwSignal::new(String::new());
    let status = RwSignal::new(TenantStatus::Empty);
    let attempted = RwSignal::new(false);
    // Each keystroke bumps the generation; a lookup whose generation is stale is dropped.
    let generation = StoredValue::new(0u64);

    // A fresh form each time the modal opens.
    Effect::new(move |_| {
        if open.get() {
            agent_name.set(String::new());
            tenant_id.set(String::new());
            token_limit.set(String::new());
            status.set(TenantStatus::Empty);
            attempted.set(false);
            action.value().set(None);
        }
    });

    let on_tenant_input = move |ev| {
        let text = event_target_value(&ev);
        tenant_id.set(text.clone());
        let current = generation.get_value() + 1;
        generation.set_value(current);
        let id = match TenantId::parse(&text) {
            Ok(id) => id,
            Err(_) if text.trim().is_empty() => return status.set(TenantStatus::Empty),
            Err(e) => return status.set(TenantStatus::Invalid(e.message)),
        };
        status.set(TenantStatus::Checking);
        leptos::task::spawn_local(async move {
            sleep(LOOKUP_DEBOUNCE_MS).await;
            if generation.get_value() != current {
                return;
            }
            let result = lookup_tenant(id.to_string()).await;
            if generation.get_value() != current {
                return;
            }
            status.set(match result {
                Ok(found) => match found.display_name {
                    Some(display_name) => TenantStatus::Existing { display_name },
                    None => TenantStatus::New,
                },
                Err(e) => TenantStatus::LookupFailed(e.to_string()),
            });
        });
    };

    let is_new = move || status.with(|s| *s == TenantStatus::New);
    let server_error = move |field: &'static str| {
        action.value().with(|v| match v {
            Some(Err(e)) if e.field() == Some(field) => Some(e.field_message()),
            _ => None,
        })
    };
    let name_error = move || {
        attempted
            .get()
            .then(|| parse_agent_name(&agent_name.get()).err().map(|e| sentence(&e.message)))
            .flatten()
            .or_else(|| server_error("agent_name"))
    };
    let tenant_error = move || match status.get() {
        TenantStatus::Invalid(m) => Some(sentence(&m)),
        TenantStatus::LookupFailed(m) => Some(format!("Could not check the tenant: {m}")),
        TenantStatus::Empty if attempted.get() => Some(sentence("required")),
        _ => server_error("tenant_id"),
    };
    // Validated as the admin types, with the same rule the server applies.
    let limit_error = move || {
        parse_optional_limit(&token_limit.get())
            .err()
            .map(|e| sentence(&e.message))
            .or_else(|| server_error("token_limit"))
    };
    let other_error = move || {
        action.value().with(|v| match v {
            Some(Err(e)) if !matches!(e.field(), Some("agent_name" | "tenant_id" | "token_limit")) => {
                Some(e.to_string())
            }
            _ => None,
        })
    };
    let can_submit =
        move || !action.pending().get() && matches!(status.get(), TenantStatus::New | TenantStatus::Existing { .. });

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        attempted.set(true);
        let new_tenant = is_new();
        let valid = parse_agent_name(&agent_name.get_untracked()).is_ok()
            && can_submit()
            && (!new_tenant || parse_optional_limit(&token_limit.get_untracked()).is_ok());
        if valid {
            action.dispatch(DeployAgent {
                agent_name: agent_name.get_untracked(),
                tenant_id: tenant_id.get_untracked(),
                token_limit: new_tenant.then(|| token_limit.get_untracked()),
            });
        }
    };

    let deployed = move || action.value().get().and_then(Result::ok);
    let status_text = move || match status.get() {
        TenantStatus::Checking => Some("Checking tenant…".to_owned()),
        TenantStatus::Existing { display_name } => {
            Some(format!("Existing tenant: {display_name}. Its limit stays as it is."))
        }
        TenantStatus::New => Some("New tenant: it will be created with this agent.".to_owned()),
        _ => None,
    };

    view! {
        <Modal open title="Deploy agent" id="deploy-dialog">
            <Show
                when=move || deployed().is_none()
                fallback=move || view! { <DeployedKey deployed=deployed() open/> }
            >
                <form class="form" on:submit=submit novalidate>
                    <Field label="Agent name" id="deploy-agent-name" error=Signal::derive(name_error)>
                        <input id="deploy-agent-name" name="agent_name" autocomplete="off" required
                            aria-describedby="deploy-agent-name-error"
                            prop:value=move || agent_name.get()
                            on:input=move |ev| agent_name.set(event_target_value(&ev))/>
                    </Field>
                    <Field label="Tenant ID" id="deploy-tenant-id" error=Signal::derive(tenant_error)>
                        <input id="deploy-tenant-id" name="tenant_id" autocomplete="off" required spellcheck="false"
                            aria-describedby="deploy-tenant-id-error deploy-tenant-status"
                            prop:value=move || tenant_id.get()
                            on:input=on_tenant_input/>
                        <p id="deploy-tenant-status" class="hint" aria-live="polite">{status_text}</p>
                    </Field>
                    <Show when=is_new>
                        <Field label="Token limit" id="deploy-token-limit" error=Signal::derive(limit_error)>
                            <input id="deploy-token-limit" name="token_limit" inputmode="numeric" autocomplete="off"
                                placeholder="No Limit" aria-describedby="deploy-token-limit-error deploy-token-limit-hint"
                                prop:value=move || token_limit.get()
                                on:input=move |ev| token_limit.set(event_target_value(&ev))/>
                            <p id="deploy-token-limit-hint" class="hint">"Tokens (input + output) per 30-day period. Leave empty for No Limit."</p>
                        </Field>
                    </Show>
                    {move || other_error().map(|m| view! { <p class="alert error" role="alert">{m}</p> })}
                    <div class="form-actions">
                        <button type="button" class="secondary" on:click=move |_| open.set(false)>"Cancel"</button>
                        <button type="submit" class="primary" disabled=move || !can_submit()>
                            {move || if action.pending().get() { "Deploying…" } else { "Deploy" }}
                        </button>
                    </div>
                </form>
            </Show>
        </Modal>
    }
}

#[component]
fn DeployedKey(deployed: Option<DeployedAgent>, open: RwSignal<bool>) -> impl IntoView {
    let Some(d) = deployed else { return ().into_any() };
    let created = if d.tenant_created { " (new tenant)" } else { "" };
    view! {
        <div class="deployed" role="status">
            <p>
                "Agent " <strong>{d.agent_name}</strong> " deployed for tenant " <strong>{d.tenant_id}</strong> {created} "."
            </p>
            <label for="deployed-api-key">"API key"</label>
            <input id="deployed-api-key" class="mono" readonly value=d.api_key on:focus=|ev| {
                use leptos::wasm_bindgen::JsCast;
                if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                    input.select();
                }
            }/>
            <p class="hint">"Copy it now: it is shown only once and cannot be recovered."</p>
            <div class="form-actions">
                <button type="button" class="primary" on:click=move |_| open.set(false)>"Done"</button>
            </div>
        </div>
    }
    .into_any()
}
