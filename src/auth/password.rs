//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes). Hashing
//! is deliberately slow, so it runs on the blocking pool, never on the async workers — and at
//! most `MAX_CONCURRENT_HASHES` at once: each run holds 19 MiB, and sign-in attempts need no
//! credentials, so without a bound a flood of them held hundreds (700 MB measured).

use crate::error::AppError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Hashes running at once: 4 × 19 MiB at most, and more would only queue for the two cores.
pub const MAX_CONCURRENT_HASHES: usize = 4;
/// How long an attempt waits for a turn before it is told to come back (503).
const WAIT_FOR_TURN: Duration = Duration::from_secs(10);

static HASHING: Semaphore = Semaphore::const_new(MAX_CONCURRENT_HASHES);
/// Hashes running now, and the most ever seen at once (tests read it).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A hash of a password nobody has, verified when the user name is unknown so that a wrong
/// name takes as long as a wrong password and names cannot be discovered by timing.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| Argon2::default().hash_password(b"no user has this password").ok().map(|h| h.to_string()));

/// Runs one argon2 computation on the blocking pool when a turn is free.
async fn with_turn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let busy = || AppError::unavailable("The server is busy checking passwords; try again in a moment");
    let _turn =
        tokio::time::timeout(WAIT_FOR_TURN, HASHING.acquire()).await.map_err(|_| busy())?.map_err(|_| busy())?;
    tokio::task::spawn_blocking(move || {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        let done = work();
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        done
    })
    .await
    .map_err(|_| AppError::internal())
}

/// The most argon2 computations that ever ran at once in this process.
pub fn peak_concurrent_hashes() -> usize {
    PEAK.load(Ordering::SeqCst)
}

pub async fn hash(password: String) -> Result<String, AppError> {
    with_turn(move || Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())).await?.map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        AppError::internal()
    })
}

/// Whether `password` matches `stored`; with no stored hash it still does the work and says no.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    with_turn(move || {
        let known = stored.is_some();
        let Some(hash) = stored.or_else(|| DUMMY_HASH.clone()) else { return false };
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let stored = hash("correct horse battery".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(verify("correct horse battery".into(), Some(stored.clone())).await, Ok(true));
        assert_eq!(verify("wrong horse battery".into(), Some(stored)).await, Ok(false));
        assert_eq!(verify("no user has this password".into(), None).await, Ok(false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_a_few_hashes_run_at_once() {
        // 32 attempts at once (a flood of sign-ins): every one is answered, never more than
        // the bound hash at the same time.
        let checks: Vec<_> = (0..32).map(|i| tokio::spawn(verify(format!("guess {i}"), None))).collect();
        for check in checks {
            assert_eq!(check.await.expect("task"), Ok(false));
        }
        let peak = peak_concurrent_hashes();
        assert!((1..=MAX_CONCURRENT_HASHES).contains(&peak), "{peak} hashes ran at once");
    }
}
