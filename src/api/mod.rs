//! HTTP adapters for machine clients: parse the request, call the gate, answer a typed body.
//! No decisions are made here; the agent API and (later) the proxy share the gate's.

pub mod agent;
pub mod auth;
pub mod health;
pub mod json;
