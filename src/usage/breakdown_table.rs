//! The tenant page's "Usage by user" and "Usage by model" tables over a range chosen in the
//! URL (`?range=7d`; a plain GET form, so it works without JavaScript).

use super::breakdown::{BreakdownRow, UsageRange};
use super::server_fns::usage_breakdown;
use crate::format::{format_count, format_datetime, format_usd};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsageBreakdownSection(tenant_id: Signal<String>) -> impl IntoView {
    let params = use_query_map();
    let range = Memo::new(move |_| params.with(|p| UsageRange::parse(p.get_str("range").unwrap_or_default())));
    let data =
        Resource::new(move || (tenant_id.get(), range.get()), |(id, r)| usage_breakdown(id, r.as_str().to_owned()));
    let options = move || {
        UsageRange::ALL
            .into_iter()
            .map(|r| view! { <option value=r.as_str() selected=r == range.get()>{r.label()}</option> })
            .collect_view()
    };
    // Drawn only for a tenant the viewer may see: an unknown tenant's page is the "not found"
    // page alone (its range form used to show below it).
    view! {
        <Transition fallback=|| view! { <p class="page">"Loading usage…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(b) => view! {
                        <section class="page">
                            <h2>"Usage by user and model"</h2>
                            <Form method="GET" action=move || format!("/tenants/{}", tenant_id.get()) attr:class="inline-form" attr:aria-label="Usage range">
                                <div class="field">
                                    <label for="usage-range">"Range"</label>
                                    <select id="usage-range" name="range">{options}</select>
                                </div>
                                <button type="submit" class="secondary">"Show"</button>
                            </Form>
                            <p class="hint">{format!("Since {}.", format_datetime(b.from))}</p>
                            <BreakdownTable label="Usage by user" heading="User" rows=b.by_user/>
                            <BreakdownTable label="Usage by model" heading="Model" rows=b.by_model/>
                        </section>
                    }.into_any(),
                    // The page above already says why a tenant cannot be shown.
                    Err(error) if matches!(error.status(), 401 | 404) => ().into_any(),
                    Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn BreakdownTable(label: &'static str, heading: &'static str, rows: Vec<BreakdownRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">{format!("{label}: no usage in this range.")}</p> }.into_any();
    }
    let rows = rows
        .into_iter()
        .map(|r| {
            let total = r.total_tokens();
            view! {
                <tr>
                    <th scope="row">{r.key.unwrap_or_else(|| "(no user)".to_owned())}</th>
                    <td class="num">{format_count(r.input_tokens)}</td>
                    <td class="num">{format_count(r.cache_read_tokens)}</td>
                    <td class="num">{format_count(r.cache_write_tokens)}</td>
                    <td class="num">{format_count(r.output_tokens)}</td>
                    <td class="num">{format_count(r.reasoning_tokens)}</td>
                    <td class="num">{format_count(total)}</td>
                    <td class="num">{format_usd(r.cost_micros)}</td>
                    <td class="num">{format_count(r.event_count)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="usage-table" aria-label=label>
            <thead>
                <tr>
                    <th scope="col">{heading}</th>
                    <th scope="col" class="num" title="Every prompt token, cached ones included">"Input Tokens"</th>
                    <th scope="col" class="num" title="Of the input: read from a prompt cache">"Cache Reads"</th>
                    <th scope="col" class="num" title="Of the input: written to a prompt cache">"Cache Writes"</th>
                    <th scope="col" class="num">"Output Tokens"</th>
                    <th scope="col" class="num" title="Of the output: spent reasoning">"Reasoning"</th>
                    <th scope="col" class="num">"Total Tokens"</th>
                    <th scope="col" class="num">"Total Cost"</th>
                    <th scope="col" class="num">"Calls"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
