//! `api_tokens` rows: create (audited), list a user's, revoke (audited), and find the user a
//! presented token acts as.

use super::{ApiTokenInfo, CreatedToken, TOKEN_PREFIX};
use crate::agents::keys;
use crate::audit::store::{self as audit, Change};
use crate::audit::AuditAction;
use crate::auth::CurrentUser;
use serde_json::json;
use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// `last_used_at` is written at most this often per token, so a busy script does not turn
/// every read into a write.
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

#[derive(FromRow)]
struct Row {
    id: i64,
    name: String,
    token_prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<Row> for ApiTokenInfo {
    fn from(r: Row) -> Self {
        Self {
            token_id: r.id,
            name: r.name,
            token_prefix: r.token_prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// Creates a token for `user` in the caller's transaction and records it; the answer holds
/// the token itself, which is not kept.
pub async fn create(
    conn: &mut AnyConnection,
    user: &CurrentUser,
    name: &str,
    now: i64,
) -> Result<CreatedToken, sqlx::Error> {
    let key = keys::generate_with_prefix(TOKEN_PREFIX);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(user.user_id)
    .bind(name)
    .bind(&key.hash)
    .bind(&key.prefix)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let change = Change {
        actor: &user.username,
        tenant_id: user.tenant_scope(),
        action: AuditAction::ApiTokenCreated,
        old_value: None,
        new_value: Some(json!({"token_id": id, "name": name, "token_prefix": key.prefix})),
        at: now,
    };
    audit::record(conn, change).await?;
    let info = ApiTokenInfo {
        token_id: id,
        name: name.to_owned(),
        token_prefix: key.prefix,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    Ok(CreatedToken { token: key.key, info })
}

/// A user's tokens, newest first, revoked ones included (they say when).
pub async fn list_for_user<'c>(exec: impl AnyExecutor<'c>, user_id: i64) -> Result<Vec<ApiTokenInfo>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, token_prefix, created_at, last_used_at, revoked_at FROM api_tokens
         WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(exec)
    .await?;
    Ok(rows.into_iter().map(ApiTokenInfo::from).collect())
}

/// Revokes one of `user`'s own tokens in the caller's transaction and records it; `false`
/// when the user has no such working token (nothing changes).
pub async fn revoke(
    conn: &mut AnyConnection,
    user: &CurrentUser,
    token_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let revoked: Option<(String, String)> = sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
         RETURNING name, token_prefix",
    )
    .bind(token_id)
    .bind(user.user_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((name, prefix)) = revoked else { return Ok(false) };
    let change = Change {
        actor: &user.username,
        tenant_id: user.tenant_scope(),
        action: AuditAction::ApiTokenRevoked,
        old_value: Some(json!({"token_id": token_id, "name": name, "token_prefix": prefix})),
        new_value: None,
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}

/// The user a working token acts as, read with the user's role as it is now; `None` for an
/// unknown or revoked token, or one of a disabled user. Notes the use (at most once a minute).
pub async fn authenticate(pool: &sqlx::AnyPool, token: &str, now: i64) -> Result<Option<CurrentUser>, sqlx::Error> {
    #[derive(FromRow)]
    struct Found {
        token_id: i64,
        last_used_at: Option<i64>,
        #[sqlx(flatten)]
        user: crate::auth::store::UserRow,
    }
    // One query: the token and the user it acts as, with the role as it is now.
    let found: Option<Found> = sqlx::query_as(
        "SELECT t.id AS token_id, t.last_used_at, u.id, u.username, u.role, u.tenant_id
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
    )
    .bind(keys::hash(token))
    .fetch_optional(pool)
    .await?;
    let Some(found) = found else { return Ok(None) };
    let Some(user) = found.user.into_user() else { return Ok(None) };
    if found.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_MS) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(found.token_id)
            .bind(now)
            .execute(pool)
            .await?;
    }
    Ok(Some(user))
}
