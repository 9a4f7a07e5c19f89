//! Console accounts: users with roles, sign-in with argon2 passwords and server-side
//! sessions, the guards every server function calls, and the CSRF check.

pub mod model;
pub mod pages;
pub mod server_fns;
pub mod throttle;

#[cfg(feature = "ssr")]
pub mod accounts;
#[cfg(feature = "ssr")]
pub mod csrf;
#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod session_store;
#[cfg(feature = "ssr")]
pub mod sign_in;
#[cfg(feature = "ssr")]
pub mod store;

pub use model::{CurrentUser, Role};
