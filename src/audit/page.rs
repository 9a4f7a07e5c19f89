//! The audit log as a table: when, who, tenant, action, from and to.

use super::AuditEntry;
use crate::format::format_datetime;
use leptos::prelude::*;

/// The entries in a table, newest first; `show_tenant` adds the tenant column (the Admin tab's
/// log spans tenants, a tenant's page does not).
#[component]
pub fn AuditTable(entries: Vec<AuditEntry>, show_tenant: bool, #[prop(into)] label: String) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="empty">"No changes recorded yet."</p> }.into_any();
    }
    let rows = entries
        .into_iter()
        .map(|e| {
            let tenant = e.tenant_id.clone().unwrap_or_else(|| "—".to_owned());
            view! {
                <tr>
                    <td>{format_datetime(e.at)}</td>
                    <td>{e.actor}</td>
                    {show_tenant.then(|| view! { <td>{tenant}</td> })}
                    <td class="mono">{e.action.as_str()}</td>
                    <td class="mono audit-value">{e.old_value.unwrap_or_else(|| "—".to_owned())}</td>
                    <td class="mono audit-value">{e.new_value.unwrap_or_else(|| "—".to_owned())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="usage-table audit-table" aria-label=label>
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Who"</th>
                    {show_tenant.then(|| view! { <th scope="col">"Tenant"</th> })}
                    <th scope="col">"Action"</th>
                    <th scope="col">"Before"</th>
                    <th scope="col">"After"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// The audit log of one tenant (or, with `tenant_id` empty, of all), a page at a time: the
/// `audit_before` URL parameter holds the cursor, so paging works without JavaScript too.
/// `version` refetches it after a change on the same page.
#[component]
pub fn AuditLog(
    #[prop(into)] tenant_id: Signal<String>,
    #[prop(into)] version: Signal<usize>,
    #[prop(into)] label: String,
) -> impl IntoView {
    use super::server_fns::list_audit;
    use leptos_router::components::A;
    use leptos_router::hooks::{use_location, use_query_map};

    let query = use_query_map();
    let before = Memo::new(move |_| query.with(|q| q.get("audit_before").and_then(|b| b.parse::<i64>().ok())));
    let path = use_location().pathname;
    let page = Resource::new(move || (tenant_id.get(), before.get(), version.get()), |(t, b, _)| list_audit(t, b));
    let show_tenant = move || tenant_id.with(String::is_empty);
    view! {
        <Transition fallback=|| view! { <p class="hint">"Loading the audit log…"</p> }>
            {move || {
                let label = label.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let older = p.next_before.map(|n| format!("{}?audit_before={n}", path.get_untracked()));
                            let newest = before.get_untracked().map(|_| path.get_untracked());
                            view! {
                                <AuditTable entries=p.entries show_tenant=show_tenant() label/>
                                <p class="pager">
                                    {newest.map(|href| view! { <A href=href>"Newest changes"</A> })}
                                    {older.map(|href| view! { <A href=href>"Older changes"</A> })}
                                </p>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <p class="alert error" role="alert">{format!("Audit log unavailable: {e}")}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}
