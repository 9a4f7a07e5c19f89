//! HTTP adapters for machine clients: parse the request, call the gate, answer a typed body.
//! No decisions are made here; the agent API, the automation API and (later) the proxy share the
//! gate's. Every route is described in the OpenAPI document (`openapi.rs`).

pub mod agent;
pub mod auth;
pub mod client;
pub mod health;
pub mod json;
pub mod openapi;
