//! The token-limit dialog: change or remove one tenant's limit from the usage table.

use super::server_fns::{ClearTokenLimit, SetTokenLimit};
use super::TokenLimit;
use crate::error::sentence;
use crate::format::format_count;
use crate::ui::{Field, Modal};
use crate::usage::UsageRow;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

#[component]
pub fn LimitDialog(
    editing: RwSignal<Option<UsageRow>>,
    set_limit: ServerAction<SetTokenLimit>,
    clear_limit: ServerAction<ClearTokenLimit>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let text = RwSignal::new(String::new());
    let tenant = move || editing.with(|e| e.as_ref().map(|r| r.tenant_id.clone()).unwrap_or_default());
    let current = move || editing.with(|e| e.as_ref().and_then(|r| r.token_limit));

    // Opening for a row fills the field with its limit and forgets the last result.
    Effect::new(move |_| {
        if let Some(limit) = editing.with(|e| e.as_ref().map(|r| r.token_limit)) {
            text.set(limit.map(|l| l.to_string()).unwrap_or_default());
            set_limit.value().set(None);
            clear_limit.value().set(None);
            open.set(true);
        }
    });
    // Closed by Esc, Cancel or success: nothing is being edited any more.
    Effect::new(move |_| {
        if !open.get() {
            editing.set(None);
        }
    });
    Effect::new(move |_| {
        let saved =
            matches!(set_limit.value().get(), Some(Ok(()))) || matches!(clear_limit.value().get(), Some(Ok(())));
        if saved {
            open.set(false);
        }
    });

    let error = move || {
        let typed = text.get();
        TokenLimit::parse(&typed).err().filter(|_| !typed.is_empty()).map(|e| sentence(&e.message)).or_else(|| {
            let failed =
                |r: Option<Result<(), crate::error::AppError>>| r.and_then(Result::err).map(|e| e.field_message());
            failed(set_limit.value().get()).or_else(|| failed(clear_limit.value().get()))
        })
    };
    let pending = move || set_limit.pending().get() || clear_limit.pending().get();
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if TokenLimit::parse(&text.get_untracked()).is_ok() {
            set_limit.dispatch(SetTokenLimit { tenant_id: tenant(), token_limit: text.get_untracked() });
        }
    };
    let title = Signal::derive(move || format!("Token limit for {}", tenant()));

    view! {
        <Modal open title id="limit-dialog">
            <form class="form" on:submit=submit novalidate>
                <p class="hint">
                    {move || match current() {
                        Some(l) => format!("Current limit: {} tokens per period.", format_count(l as i64)),
                        None => "Current limit: No Limit.".to_owned(),
                    }}
                </p>
                <Field label="Token limit" id="limit-token-limit" error=Signal::derive(error)>
                    <input id="limit-token-limit" name="token_limit" inputmode="numeric" autocomplete="off"
                        aria-describedby="limit-token-limit-error"
                        prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                </Field>
                <div class="form-actions">
                    <Show when=move || current().is_some()>
                        <button type="button" class="danger" disabled=pending
                            on:click=move |_| { clear_limit.dispatch(ClearTokenLimit { tenant_id: tenant() }); }>
                            "Remove limit"
                        </button>
                    </Show>
                    <button type="button" class="secondary" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || pending() || TokenLimit::parse(&text.get()).is_err()>
                        "Save limit"
                    </button>
                </div>
            </form>
        </Modal>
    }
}
