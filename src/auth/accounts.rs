//! Answering a compromised account, for system admins in the console and operators on the
//! command line: disable / enable, set a password (every session ends), sign out everywhere
//! (every session ends, every API token is revoked). Each in one transaction with its audit
//! entry; sessions and tokens read the user row on every request, so the change holds at once.

use super::model::{check_new_password, parse_username};
use super::store::{self, AccountChange};
use crate::db::Db;
use crate::error::AppError;
use crate::validation::FieldError;

/// What an admin asks for, by its form value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    Disable,
    Enable,
    SetPassword,
    SignOutEverywhere,
}

impl AccountAction {
    pub const ALL: [Self; 4] = [Self::Disable, Self::Enable, Self::SetPassword, Self::SignOutEverywhere];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::SetPassword => "set_password",
            Self::SignOutEverywhere => "sign_out_everywhere",
        }
    }

    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| FieldError::new("action", "must be disable, enable, set_password or sign_out_everywhere"))
    }

    /// What the console says once it is done.
    pub fn done(self, username: &str) -> String {
        match self {
            Self::Disable => format!("{username} is disabled: their sessions and API tokens stopped working."),
            Self::Enable => format!("{username} may sign in again."),
            Self::SetPassword => format!("{username} has a new password; their sessions ended."),
            Self::SignOutEverywhere => {
                format!("{username} is signed out everywhere and their API tokens are revoked.")
            }
        }
    }
}

/// Applies `action` to `username` on behalf of `actor` (a user name, or the CLI). `password`
/// is the new one for `SetPassword`. A system admin cannot disable themselves.
pub async fn change(
    db: &Db,
    actor: &str,
    username: &str,
    action: AccountAction,
    password: Option<String>,
    now: i64,
) -> Result<(), AppError> {
    let username = parse_username(username)?;
    if action == AccountAction::Disable && username == actor {
        return Err(AppError::Conflict {
            field: Some("username".into()),
            message: "you cannot disable your own account".into(),
        });
    }
    let hash = match action {
        AccountAction::SetPassword => {
            let password = password.unwrap_or_default();
            check_new_password(&password)?;
            Some(super::password::hash(password).await?)
        }
        _ => None,
    };
    let change = match (action, hash.as_deref()) {
        (AccountAction::Disable, _) => AccountChange::Disable,
        (AccountAction::Enable, _) => AccountChange::Enable,
        (AccountAction::SetPassword, Some(hash)) => AccountChange::SetPassword(hash),
        (AccountAction::SetPassword, None) => return Err(AppError::internal()),
        (AccountAction::SignOutEverywhere, _) => AccountChange::SignOutEverywhere,
    };
    let mut tx = db.begin_write().await?;
    if store::change_account(&mut tx, &username, change, actor, now).await?.is_none() {
        return Err(AppError::not_found(format!("No user named {username}")));
    }
    tx.commit().await?;
    tracing::info!(by = %actor, %username, action = action.as_str(), "account changed");
    Ok(())
}
