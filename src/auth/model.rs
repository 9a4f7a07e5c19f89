//! Who is signed in, and the rules for user names and passwords. Pure: shared by the sign-in
//! page, the admin form and the server.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// What a console user may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Every tenant, the Admin tab, deploys and limits.
    SystemAdmin,
    /// Exactly one tenant: its usage and its agents.
    TenantAdmin { tenant_id: String },
}

impl Role {
    /// The `users.role` column value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::SystemAdmin => "system_admin",
            Role::TenantAdmin { .. } => "tenant_admin",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Role::SystemAdmin => "System admin".to_owned(),
            Role::TenantAdmin { tenant_id } => format!("Tenant admin of {tenant_id}"),
        }
    }
}

/// The signed-in console user, as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub user_id: i64,
    pub username: String,
    #[serde(flatten)]
    pub role: Role,
}

/// A console account as the Admin tab lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    #[serde(flatten)]
    pub user: CurrentUser,
    /// Since when the account may not sign in (its sessions and API tokens stopped then).
    pub disabled_at: Option<i64>,
}

impl CurrentUser {
    pub fn is_system_admin(&self) -> bool {
        self.role == Role::SystemAdmin
    }

    /// Whether this user may see the tenant at all.
    pub fn can_see_tenant(&self, tenant_id: &str) -> bool {
        match &self.role {
            Role::SystemAdmin => true,
            Role::TenantAdmin { tenant_id: own } => own == tenant_id,
        }
    }

    /// The one tenant this user is confined to, or `None` for a system admin.
    pub fn tenant_scope(&self) -> Option<&str> {
        match &self.role {
            Role::SystemAdmin => None,
            Role::TenantAdmin { tenant_id } => Some(tenant_id),
        }
    }
}

/// A user name: 3–64 characters, lowercase letters, digits and `._@-`, starting with a
/// letter or digit (so an e-mail address works). Surrounding space is trimmed and the name
/// is lowered, since people do not remember the case they signed up with.
pub fn parse_username(input: &str) -> Result<String, FieldError> {
    let name = input.trim().to_lowercase();
    let err = |m: &str| Err(FieldError::new("username", m));
    if name.is_empty() {
        return err("required");
    }
    if !(3..=64).contains(&name.chars().count()) {
        return err("must be 3 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return err("must start with a letter or a digit");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')) {
        return err("may contain only letters, digits and . _ @ -");
    }
    Ok(name)
}

/// A new password: 10–128 characters. Length is the rule that matters (NIST SP 800-63B);
/// no composition rules.
pub fn check_new_password(password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < PASSWORD_MIN_CHARS {
        Err(FieldError::new("password", format!("must be at least {PASSWORD_MIN_CHARS} characters")))
    } else if n > PASSWORD_MAX_CHARS {
        Err(FieldError::new("password", format!("must be at most {PASSWORD_MAX_CHARS} characters")))
    } else {
        Ok(())
    }
}

/// Where to go after signing in: only a path on this site, never another origin
/// (`//evil.example` or `https://…` would make the sign-in page an open redirect), and only
/// printable ASCII (it becomes a `Location` header; the console percent-encodes the rest).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.starts_with("/sign-in")
        && next.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames() {
        assert_eq!(parse_username(" Alice@Example.com "), Ok("alice@example.com".into()));
        for bad in ["", "ab", ".alice", "al ice", "<script>", &"a".repeat(65)] {
            assert!(parse_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough pw").is_ok());
        assert!(check_new_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn next_is_a_local_path() {
        assert_eq!(safe_next("/tenants/acme"), "/tenants/acme");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil", "", "/sign-in?next=/"] {
            assert_eq!(safe_next(bad), "/", "{bad}");
        }
    }

    #[test]
    fn tenant_admins_see_only_their_tenant() {
        let a = CurrentUser { user_id: 1, username: "a".into(), role: Role::TenantAdmin { tenant_id: "a".into() } };
        assert!(a.can_see_tenant("a") && !a.can_see_tenant("b"));
        assert_eq!(a.tenant_scope(), Some("a"));
        let admin = CurrentUser { user_id: 2, username: "root".into(), role: Role::SystemAdmin };
        assert!(admin.can_see_tenant("anything") && admin.tenant_scope().is_none());
    }

    /// What `http::HeaderValue::from_str` accepts, restated without the http crate.
    fn axum_free_header_check(value: &str) -> bool {
        value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    }

    proptest! {
        #[test]
        fn safe_next_never_leaves_the_site(s in "\\PC{0,40}") {
            let next = safe_next(&s);
            prop_assert!(next.starts_with('/') && !next.starts_with("//"));
            prop_assert!(axum_free_header_check(&next));
        }
    }
}
