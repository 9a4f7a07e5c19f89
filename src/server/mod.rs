//! The server half: configuration and CLI, database, shared state, the HTTP router, demo data.
//! Nothing here is compiled into the browser bundle.

pub mod cli;
pub mod db;
pub mod demo;
pub mod json;
pub mod routes;
pub mod state;
