//! The API tokens page (`/admin?tab=tokens`, every signed-in user): create a token for the automation API, see it once, revoke it.

use super::server_fns::{list_api_tokens, CreateApiToken, RevokeApiToken};
use super::ApiTokenInfo;
use crate::format::format_datetime;
use crate::ui::{ErrorPage, Field};
use leptos::prelude::*;

#[component]
pub fn ApiTokensPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_api_tokens());
    let name_error = move || {
        create.value().with(|v| match v {
            Some(Err(e)) => Some(e.field_message()),
            _ => None,
        })
    };
    let created = move || create.value().with(|v| v.as_ref().and_then(|r| r.as_ref().ok()).cloned());
    view! {
        <section class="page">
            <h1>"API tokens"</h1>
            <p class="hint">
                "A token lets a script call the automation API (" <code>"/api/client/usage/…"</code>
                ") as you, with your role. Send it as " <code>"Authorization: Bearer <token>"</code> "."
            </p>
            <ActionForm action=create attr:class="form narrow" attr:aria-label="Create an API token">
                <Field label="Token name" id="token-name" error=Signal::derive(name_error)>
                    <input id="token-name" name="name" autocomplete="off" required maxlength="100"
                        placeholder="CI pipeline"/>
                </Field>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create token"</button>
                </div>
            </ActionForm>
            {move || created().map(|c| view! {
                <div class="alert ok" role="status">
                    <p>{format!("Token {} created. Copy it now: it will not be shown again.", c.info.name)}</p>
                    <code class="secret" data-testid="new-token">{c.token}</code>
                </div>
            })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) => view! { <TokenTable list revoke/> }.into_any(),
                        Err(error) => view! { <ErrorPage error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TokenTable(list: Vec<ApiTokenInfo>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"You have no API tokens yet."</p> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|t| {
            let token_id = t.token_id;
            let state = match t.revoked_at {
                Some(at) => format!("Revoked {}", format_datetime(at)),
                None => "Active".to_owned(),
            };
            let revoke_button = t.revoked_at.is_none().then(|| {
                let label = format!("Revoke {}", t.name);
                view! {
                    <button type="button" class="danger" aria-label=label
                        on:click=move |_| { revoke.dispatch(RevokeApiToken { token_id }); }>
                        "Revoke"
                    </button>
                }
            });
            view! {
                <tr>
                    <th scope="row">{t.name}</th>
                    <td><code>{format!("{}…", t.token_prefix)}</code></td>
                    <td>{format_datetime(t.created_at)}</td>
                    <td>{t.last_used_at.map_or_else(|| "Never".to_owned(), format_datetime)}</td>
                    <td>{state}</td>
                    <td>{revoke_button}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="usage-table" aria-label="API tokens">
            <thead>
                <tr>
                    <th scope="col">"Name"</th><th scope="col">"Token"</th><th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th><th scope="col">"State"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
