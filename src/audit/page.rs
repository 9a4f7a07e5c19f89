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
                    <td class="audit-value"><AuditValue value=e.old_value/></td>
                    <td class="audit-value"><AuditValue value=e.new_value/></td>
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

/// A stored value as a list of `field: value` lines ("—" for none).
#[component]
fn AuditValue(value: Option<String>) -> impl IntoView {
    match value {
        None => view! { "—" }.into_any(),
        Some(json) => {
            let items = super::describe_value(&json).into_iter().map(|line| view! { <li>{line}</li> }).collect_view();
            view! { <ul class="audit-change">{items}</ul> }.into_any()
        }
    }
}

/// The log's filters as the URL holds them (`audit_action`, `audit_actor`, and on the
/// all-tenants log `audit_tenant`), so the filter form and paging work without JavaScript.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Filters {
    action: String,
    actor: String,
    tenant: String,
}

impl Filters {
    fn from_query(q: &leptos_router::params::ParamsMap) -> Self {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Self { action: get("audit_action"), actor: get("audit_actor"), tenant: get("audit_tenant") }
    }

    /// `path` with these filters and, for an older page, the cursor.
    fn href(&self, path: &str, before: Option<i64>) -> String {
        let mut q = leptos_router::params::ParamsMap::new();
        for (key, value) in
            [("audit_action", &self.action), ("audit_actor", &self.actor), ("audit_tenant", &self.tenant)]
        {
            if !value.is_empty() {
                q.insert(key, value.clone());
            }
        }
        if let Some(before) = before {
            q.insert("audit_before", before.to_string());
        }
        format!("{path}{}", q.to_query_string())
    }

    fn is_empty(&self) -> bool {
        self.action.is_empty() && self.actor.is_empty() && self.tenant.is_empty()
    }
}

/// What an audit log shows: its entries as a resource, and the filters and cursor from the URL.
/// Made where the page makes its other resources ([`audit_source`]), never inside a `Suspend`:
/// a resource made there is numbered after whatever the client happens to create first, so on
/// about half of the loads it was handed another resource's data while hydrating (the budget
/// page and the Admin tab panicked, and later saves showed stale figures).
#[derive(Clone, Copy)]
pub struct AuditSource {
    /// Empty: all tenants.
    tenant_id: Signal<String>,
    page: Resource<Result<super::AuditPage, crate::error::AppError>>,
    before: Memo<Option<i64>>,
    filters: Memo<Filters>,
    path: Memo<String>,
}

/// The audit log of one tenant (with `tenant_id` empty, of all), refetched when `version`
/// changes (a save on the same page).
pub fn audit_source(tenant_id: Signal<String>, version: Signal<usize>) -> AuditSource {
    use super::server_fns::list_audit;
    use leptos_router::hooks::{use_location, use_query_map};

    let query = use_query_map();
    let before = Memo::new(move |_| query.with(|q| q.get("audit_before").and_then(|b| b.parse::<i64>().ok())));
    let filters = Memo::new(move |_| query.with(Filters::from_query));
    let pathname = use_location().pathname;
    let path = Memo::new(move |_| pathname.get());
    let page = Resource::new(
        move || (tenant_id.get(), before.get(), filters.get(), version.get()),
        |(t, b, f, _)| {
            let tenant = if t.is_empty() { f.tenant } else { t };
            list_audit(tenant, b, Some(f.action), Some(f.actor))
        },
    );
    AuditSource { tenant_id, page, before, filters, path }
}

/// The audit log a page at a time, filtered by action and actor (and, across tenants, by
/// tenant) with a plain GET form; the `audit_before` URL parameter holds the cursor.
#[component]
pub fn AuditLog(source: AuditSource, #[prop(into)] label: String) -> impl IntoView {
    use super::AuditAction;

    let AuditSource { tenant_id, page, before, filters, path } = source;
    let all_tenants = move || tenant_id.with(String::is_empty);
    // Filters and pages are page loads (a GET form and plain links), so the form is drawn once
    // from the URL as it was loaded: no reactive parts to hydrate outside the log itself.
    let (chosen, here, show_tenant) = (filters.get_untracked(), path.get_untracked(), all_tenants());
    let action_options =
        std::iter::once(view! { <option value="" selected=chosen.action.is_empty()>"Any action"</option> }.into_any())
            .chain(AuditAction::ALL.into_iter().map(|a| {
                view! { <option value=a.as_str() selected=chosen.action == a.as_str()>{a.as_str()}</option> }.into_any()
            }))
            .collect_view();
    let tenant_field = show_tenant.then(|| {
        view! {
            <div class="field">
                <label for="audit-tenant">"Tenant"</label>
                <input id="audit-tenant" name="audit_tenant" maxlength="64" placeholder="tenant id" value=chosen.tenant.clone()/>
            </div>
        }
    });
    let clear = (!chosen.is_empty()).then(|| view! { <a href=here.clone() rel="external">"Clear filters"</a> });
    let filter_form = view! {
        <form method="get" action=here.clone() class="inline-form" aria-label="Filter the audit log">
            <div class="field">
                <label for="audit-action">"Action"</label>
                <select id="audit-action" name="audit_action">{action_options}</select>
            </div>
            <div class="field">
                <label for="audit-actor">"Who"</label>
                <input id="audit-actor" name="audit_actor" maxlength="100" placeholder="user name" value=chosen.actor.clone()/>
            </div>
            {tenant_field}
            <button type="submit" class="secondary">"Filter"</button>
            {clear}
        </form>
    };
    view! {
        {filter_form}
        <Transition fallback=|| view! { <p class="hint">"Loading the audit log…"</p> }>
            {move || {
                let label = label.clone();
                Suspend::new(async move {
                    match page.await {
                        Ok(p) => {
                            let f = filters.get_untracked();
                            let here = path.get_untracked();
                            let older = p.next_before.map(|n| f.href(&here, Some(n)));
                            let newest = before.get_untracked().map(|_| f.href(&here, None));
                            let entries = if p.entries.is_empty() && !f.is_empty() {
                                view! { <p class="empty">"No changes match these filters."</p> }.into_any()
                            } else {
                                view! { <AuditTable entries=p.entries show_tenant=all_tenants() label/> }.into_any()
                            };
                            view! {
                                {entries}
                                <p class="pager">
                                    {newest.map(|href| view! { <a href=href rel="external">"Newest changes"</a> })}
                                    {older.map(|href| view! { <a href=href rel="external">"Older changes"</a> })}
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
