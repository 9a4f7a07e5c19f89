//! Integration tests: the real router on a loopback port, over a real SQLite file and a real
//! PostgreSQL database (a fresh one per test). Every test runs on both backends.

mod accounts;
mod agent_api;
mod alerts;
mod audit;
mod auth;
mod budget_page;
mod budgets;
mod bundle;
mod client_api;
mod common;
mod console;
mod crash;
mod exactness;
mod malformed;
mod multiprocess;
mod observability;
mod openapi;
mod outage;
mod pricing_corpus;
mod process;
mod proxy;
mod seed;
mod store;
mod user_limits;
