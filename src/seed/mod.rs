//! `tollgate seed-limits FILE`: many tenants' token limits, budgets, modes and per-user
//! overrides from one TOML or JSON file, applied in one transaction, idempotently (a second
//! run changes nothing and says so), with a dry run. `file` parses and validates (pure);
//! `apply` compares with the database and writes what differs, each change audited.

pub mod apply;
pub mod file;

pub use file::{parse_seed, SeedFormat, TenantSeed};
