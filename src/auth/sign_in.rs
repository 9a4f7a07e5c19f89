//! Signing in, on the server. The user name is checked before anything is stored or logged;
//! the attempt is recorded before its password is checked, under the keys `auth::throttle`
//! decides by, so concurrent attempts count against each other; the password is checked with
//! a bounded number of hashes at once; a success starts a session under the user's session
//! epoch and remembers the browser as a trusted device (`tollgate_device`, only its SHA-256
//! stored), whose later sign-ins are not slowed by attacks on the account from elsewhere.

use super::model::{CurrentUser, PASSWORD_MAX_CHARS};
use super::throttle::{self, Counts, Verdict};
use super::{password, store};
use crate::error::AppError;
use crate::state::AppState;
use crate::validation::FieldError;

/// The cookie that marks a browser its user signed in from.
pub const DEVICE_COOKIE: &str = "tollgate_device";
/// How long a browser stays trusted without signing in again.
const DEVICE_DAYS: i64 = 365;
/// The longest user name there is (`parse_username`): longer input is refused unread.
const USERNAME_MAX_CHARS: usize = 64;

/// A successful sign-in: who, the session epoch to store, and a new device cookie to set.
pub struct SignedIn {
    pub user: CurrentUser,
    pub session_epoch: i64,
    pub device_cookie: Option<String>,
}

/// The user name as typed, lowered, if it could be one: nothing longer or with control
/// characters is stored or logged (a 1 MB name was stored; a newline forged a log line).
pub fn sign_in_name(input: &str) -> Result<String, FieldError> {
    let name = input.trim().to_lowercase();
    if name.is_empty() {
        return Err(FieldError::new("username", "required"));
    }
    if name.chars().count() > USERNAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(FieldError::new("username", format!("must be at most {USERNAME_MAX_CHARS} printable characters")));
    }
    Ok(name)
}

/// Checks the credentials of an attempt from `address`, carrying the browser's device cookie.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: String,
    address: &str,
    device_cookie: Option<&str>,
) -> Result<SignedIn, AppError> {
    let name = sign_in_name(username)?;
    if password.is_empty() {
        return Err(FieldError::new("password", "required").into());
    }
    if password.chars().count() > 8 * PASSWORD_MAX_CHARS {
        return Err(FieldError::new("password", "is longer than any password here").into());
    }
    let pool = &state.db.pool;
    let credentials = store::credentials(pool, &name).await?;
    let device_hash = device_cookie.map(crate::agents::keys::hash);
    let trusted = match (&device_hash, &credentials) {
        (Some(hash), Some(c)) => store::device_user(pool, hash).await? == Some(c.user.user_id),
        _ => false,
    };
    let (account, pair, by_address) =
        (format!("user:{name}"), format!("pair:{name}@{address}"), format!("addr:{address}"));
    let device_key = device_hash.as_ref().filter(|_| trusted).map(|h| format!("device:{h}"));
    let mut keys = vec![account.as_str(), pair.as_str(), by_address.as_str()];
    keys.extend(device_key.as_deref());
    let attempt = crate::agents::keys::generate_with_prefix("att_").key;
    let now = state.clock.now_ms();
    let counted = store::count_attempt(&state.db, &keys, now, now - throttle::WINDOW_MS).await?;
    let counts = Counts {
        account: counted.counts[0],
        pair: counted.counts[1],
        address: counted.counts[2],
        device: counted.counts.get(3).copied(),
        last_account_failure_at: counted.last_failure_at,
    };
    let verdict = throttle::decide(counts, now);
    if verdict == Verdict::Try {
        // Counted as a failure until the password proves right.
        counted.record(&attempt, &keys, now).await?;
    }
    if let Verdict::Wait(ms) = verdict {
        tracing::warn!(username = ?name, address, ?counts, "sign-in refused: too many failures");
        return Err(AppError::RateLimited {
            message: "Too many failed sign-ins. Wait a while and try again.".into(),
            retry_after_secs: throttle::retry_after_secs(ms),
        });
    }
    let (user, hash, epoch) = match credentials {
        Some(c) => (Some(c.user), Some(c.password_hash), c.session_epoch),
        None => (None, None, 0),
    };
    let verified = match password::verify(password, hash).await {
        Ok(verified) => verified,
        Err(busy) => {
            store::forgive_attempt(pool, &attempt).await?;
            return Err(busy);
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!(username = ?name, address, "sign-in failed");
        return Err(AppError::unauthorized("Wrong user name or password"));
    };
    store::forgive_attempt(pool, &attempt).await?;
    store::clear_failures(pool, &pair).await?;
    if let Some(key) = &device_key {
        store::clear_failures(pool, key).await?;
    }
    // The browser is trusted from now on (again): the same cookie refreshed, or a new one.
    let device_cookie = match device_hash.filter(|_| trusted) {
        Some(hash) => {
            store::trust_device(pool, &hash, user.user_id, now).await?;
            None
        }
        None => {
            let token = crate::agents::keys::generate_with_prefix("dev_");
            store::trust_device(pool, &token.hash, user.user_id, now).await?;
            Some(device_cookie_header(&token.key, state.secure_cookies))
        }
    };
    tracing::info!(username = %user.username, "signed in");
    Ok(SignedIn { user, session_epoch: epoch, device_cookie })
}

/// The `Set-Cookie` value of a device cookie.
fn device_cookie_header(token: &str, secure: bool) -> String {
    use tower_sessions::cookie::{Cookie, SameSite};
    Cookie::build((DEVICE_COOKIE, token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::days(DEVICE_DAYS))
        .build()
        .to_string()
}

/// The device cookie's value among a request's `Cookie` headers.
pub fn device_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    use tower_sessions::cookie::Cookie;
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == DEVICE_COOKIE)
        .map(|c| c.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_users_are_refused_unread() {
        assert_eq!(sign_in_name("  Root "), Ok("root".into()));
        assert_eq!(sign_in_name("").map_err(|e| e.message), Err("required".into()));
        for bad in ["a".repeat(65), "root\nINFO forged line".into(), "x\u{7}".into()] {
            let e = sign_in_name(&bad).expect_err("refused");
            assert_eq!(e.field, "username");
        }
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, "a=1; tollgate_device=dev_x; b=2".parse().expect("header"));
        assert_eq!(device_cookie(&headers), Some("dev_x".into()));
    }
}
