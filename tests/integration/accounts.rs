//! Sign-in throttling that cannot be raced or turned against the account's owner, bounded
//! user names, and the answers to a compromised account (disable, enable, set a password,
//! sign out everywhere), on both backends.

use crate::common::{on_each_backend, TestApp, ROOT};
use reqwest::{Client, Method};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use tollgate::auth::Role;

/// A browser (its own cookie jar, no redirects followed) connecting from 127.0.0.`last`: every
/// 127.x address is this machine's loopback, so each is another client address to the server.
fn browser_at(last: u8) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

/// A sign-in as the hydrated page sends it: (status, `Retry-After`). Success is a 200 that
/// tells the page where to go.
async fn sign_in(app: &TestApp, browser: &Client, username: &str, password: &str) -> (u16, Option<String>) {
    let form = [("username", username), ("password", password)];
    let res = browser.post(app.url("/api/sign_in")).form(&form).send().await.expect("sign in");
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (res.status().as_u16(), retry_after)
}

/// 30 wrong passwords for one account at once used to be checked all (the limit was read
/// before any was recorded). Each attempt now counts before its password is checked: exactly
/// five are checked, the rest refused unchecked, and the right password waits too.
#[tokio::test]
async fn concurrent_wrong_passwords_get_five_checks() {
    on_each_backend(|app| async move {
        let browser = browser_at(2);
        let attempts: Vec<_> = (0..30)
            .map(|i| {
                let (app_base, browser) = (app.url("/api/sign_in"), browser.clone());
                tokio::spawn(async move {
                    let form = [("username", "root".to_owned()), ("password", format!("wrong guess {i}"))];
                    browser.post(app_base).form(&form).send().await.expect("send").status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.expect("task"));
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((checked, refused), (5, 25), "{statuses:?}");
        assert_eq!(sign_in(&app, &browser, ROOT.0, ROOT.1).await.0, 429);
    })
    .await;
}

/// Five wrong passwords from one place used to lock the account for everyone, again every 15
/// minutes. They lock only that place: the owner elsewhere signs in at once.
#[tokio::test]
async fn an_attacker_elsewhere_cannot_lock_the_owner_out() {
    on_each_backend(|app| async move {
        let attacker = browser_at(2);
        for _ in 0..5 {
            assert_eq!(sign_in(&app, &attacker, ROOT.0, "not the password").await.0, 401);
        }
        let (status, retry_after) = sign_in(&app, &attacker, ROOT.0, ROOT.1).await;
        assert_eq!((status, retry_after.as_deref()), (429, Some("900")), "the attacker's place waits");
        assert_eq!(sign_in(&app, &browser_at(3), ROOT.0, ROOT.1).await.0, 200, "the owner elsewhere does not");
    })
    .await;
}

/// Guessing from many places slows attempts from browsers the owner never used (a delay that
/// doubles with each failure, at most a minute, never a lock) — and never the owner's own
/// browser, which signed in before and carries its device cookie.
#[tokio::test]
async fn a_distributed_attack_slows_strangers_but_not_the_owners_browser() {
    on_each_backend(|app| async move {
        let owners = browser_at(9);
        assert_eq!(sign_in(&app, &owners, ROOT.0, ROOT.1).await.0, 200, "the owner's browser is trusted from now on");
        // Eleven failures from three places: from then on every stranger waits after each.
        for (place, tries) in [(2, 4), (3, 4), (4, 3)] {
            let attacker = browser_at(place);
            for _ in 0..tries {
                assert_eq!(sign_in(&app, &attacker, ROOT.0, "not the password").await.0, 401);
            }
        }
        let (status, retry_after) = sign_in(&app, &browser_at(4), ROOT.0, "not the password").await;
        assert_eq!((status, retry_after.as_deref()), (429, Some("1")), "the attacker is slowed");
        // A stranger waits too, even with the right password — a second, not fifteen minutes.
        let stranger = browser_at(5);
        let (status, retry_after) = sign_in(&app, &stranger, ROOT.0, ROOT.1).await;
        assert_eq!((status, retry_after.as_deref()), (429, Some("1")));
        assert_eq!(sign_in(&app, &owners, ROOT.0, ROOT.1).await.0, 200, "the owner's browser is not slowed");
        app.state.clock.advance(1_000);
        assert_eq!(sign_in(&app, &stranger, ROOT.0, ROOT.1).await.0, 200, "slowed, never locked");
    })
    .await;
}

/// A name no user can have is refused before it is stored or logged (a 1 MB name was stored;
/// a newline in one forged a log line).
#[tokio::test]
async fn impossible_user_names_are_refused_unread() {
    on_each_backend(|app| async move {
        let browser = browser_at(2);
        for name in ["x".repeat(1 << 20), "root\n2026-12-05T00:00:00Z INFO signed in username=root".into()] {
            let res = browser
                .post(app.url("/api/sign_in"))
                .form(&[("username", name.as_str()), ("password", "p")])
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), 422);
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["field"], "username");
        }
        let (stored,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sign_in_failures").fetch_one(&app.state.db.pool).await.expect("count");
        assert_eq!(stored, 0);
    })
    .await;
}

/// A system admin answers a compromised account: disabling stops its sessions, API tokens and
/// sign-ins at once; a new password ends its sessions; signing it out everywhere ends its
/// sessions and revokes its tokens. Each is audited; only system admins may; nobody disables
/// themselves.
#[tokio::test]
async fn a_compromised_account_can_be_disabled_reset_and_signed_out() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("breached", None).await;
        app.add_user("victim", "victim-password-1", Role::TenantAdmin { tenant_id: "breached".into() }).await;
        let thief = app.signed_in("victim", "victim-password-1").await;
        let token = app.api_token_of(&thief, "stolen").await;
        let works = |client: &Client| {
            let client = client.clone();
            let url = app.url("/api/current_user");
            async move {
                client.get(url).send().await.expect("send").json::<Value>().await.expect("json")["username"] == "victim"
            }
        };
        let token_status = |token: String| {
            let req = app.bearer_request(Some(&token), Method::GET, "/api/client/usage/status", None);
            async move { req.send().await.expect("send").status().as_u16() }
        };
        assert!(works(&thief).await);
        assert_eq!(token_status(token.clone()).await, 200);

        // Only system admins; never yourself.
        let (status, _) = app
            .server_fn_as(&thief, "manage_account", &[("username", "victim"), ("action", "sign_out_everywhere")])
            .await;
        assert_eq!(status, 403);
        let (status, body) = app.server_fn("manage_account", &[("username", "root"), ("action", "disable")]).await;
        assert_eq!((status, body["field"].as_str()), (409, Some("username")));

        let (status, body) = app.server_fn("manage_account", &[("username", "victim"), ("action", "disable")]).await;
        assert_eq!(status, 200, "{body}");
        assert!(!works(&thief).await, "the session stopped at once");
        assert_eq!(token_status(token.clone()).await, 401, "the token stopped at once");
        assert_eq!(sign_in(&app, &browser_at(7), "victim", "victim-password-1").await.0, 401);
        let (_, users) = app.server_fn_get("list_users", "").await;
        let victim =
            users.as_array().expect("users").iter().find(|u| u["username"] == "victim").cloned().expect("victim");
        assert!(victim["disabled_at"].is_i64(), "{victim}");

        app.server_fn("manage_account", &[("username", "victim"), ("action", "enable")]).await;
        assert_eq!(token_status(token.clone()).await, 200, "enabled: the token works again");
        let owner = app.signed_in("victim", "victim-password-1").await;
        let (status, _) = app
            .server_fn("manage_account", &[("username", "victim"), ("action", "set_password"), ("password", "short")])
            .await;
        assert_eq!(status, 422);
        let (status, _) = app
            .server_fn(
                "manage_account",
                &[("username", "victim"), ("action", "set_password"), ("password", "a-new-password-2")],
            )
            .await;
        assert_eq!(status, 200);
        assert!(!works(&owner).await && !works(&thief).await, "every session ended");
        assert_eq!(sign_in(&app, &browser_at(7), "victim", "victim-password-1").await.0, 401);
        let again = app.signed_in("victim", "a-new-password-2").await;
        assert!(works(&again).await);

        let (status, _) =
            app.server_fn("manage_account", &[("username", "victim"), ("action", "sign_out_everywhere")]).await;
        assert_eq!(status, 200);
        assert!(!works(&again).await);
        assert_eq!(token_status(token).await, 401, "revoked for good");
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=breached").await;
        let actions: Vec<&str> =
            page["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
        for action in ["user_disabled", "user_enabled", "password_set", "user_signed_out_everywhere"] {
            assert!(actions.contains(&action), "{action} not in {actions:?}");
        }
        let (status, _) = app.server_fn("manage_account", &[("username", "nobody"), ("action", "disable")]).await;
        assert_eq!(status, 404);
        let (status, body) = app.server_fn("manage_account", &[("username", "victim"), ("action", "explode")]).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("action")));
    })
    .await;
}
