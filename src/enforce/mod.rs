//! Admission: whether a call may go ahead, and settling it once it has run. Everything goes
//! through the [`Gate`]; behind it, one of two engines chosen by the database (`engine.rs`)
//! applies the same pure rule (`limits::Policy::decide`) with the same reservation semantics,
//! and one writer task commits reports in groups (`writer.rs`).
//!
//! Dependencies run one way: the gate uses the engines and the writer, they use the domain
//! stores (`tenants`, `agents`, `usage`) and `db`; nothing here is imported by those stores.

mod admission;
mod engine;
mod gate;
mod key_cache;
mod ledger;
mod local;
mod shared;
mod writer;

pub use admission::{Admission, Call, Reservation, ReservationId};
pub use gate::{Gate, GateConfig, GateTasks};
