//! The browser bundle under `/pkg`: precompressed brotli and gzip served by what the browser
//! accepts (never compressed per request), `Vary: Accept-Encoding`, and a year of caching only
//! when the build hashed the file names.

use crate::common::{spawn_app_serving, TestDatabase};
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, VARY};

/// A site whose `pkg/` holds a file with distinct brotli and gzip copies beside it (their
/// bytes are markers, so the test sees which file was sent).
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg dir");
    std::fs::write(pkg.join("tollgate.abc123.wasm"), b"raw wasm bytes").expect("write");
    std::fs::write(pkg.join("tollgate.abc123.wasm.br"), b"BROTLI").expect("write");
    std::fs::write(pkg.join("tollgate.abc123.wasm.gz"), b"GZIP").expect("write");
    dir
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    accept: Option<&str>,
) -> (Option<String>, Vec<u8>, reqwest::header::HeaderMap) {
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header(ACCEPT_ENCODING, accept);
    }
    let res = request.send().await.expect("get");
    assert_eq!(res.status(), 200, "{url}");
    let headers = res.headers().clone();
    let encoding = headers.get(CONTENT_ENCODING).map(|v| v.to_str().expect("ascii").to_owned());
    (encoding, res.bytes().await.expect("body").to_vec(), headers)
}

#[tokio::test]
async fn the_bundle_is_served_precompressed_and_cached_when_hashed() {
    let db = TestDatabase::sqlite();
    let dir = site();
    let app = spawn_app_serving(&db, &dir.path().display().to_string(), true).await;
    // reqwest without its decompression features sends the header as given and hands back the
    // bytes as they came over the wire.
    let plain = reqwest::Client::new();
    let url = app.url("/pkg/tollgate.abc123.wasm");
    let (encoding, body, headers) = fetch(&plain, &url, Some("gzip, deflate, br")).await;
    assert_eq!((encoding.as_deref(), body.as_slice()), (Some("br"), b"BROTLI".as_slice()));
    assert_eq!(headers[CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(headers
        .get_all(VARY)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_lowercase().contains("accept-encoding"))));
    let (encoding, body, _) = fetch(&plain, &url, Some("gzip")).await;
    assert_eq!((encoding.as_deref(), body.as_slice()), (Some("gzip"), b"GZIP".as_slice()));
    let (encoding, body, _) = fetch(&plain, &url, None).await;
    assert_eq!((encoding, body.as_slice()), (None, b"raw wasm bytes".as_slice()));
    let missing = plain.get(app.url("/pkg/nothing.wasm")).send().await.expect("get");
    assert_eq!(missing.status(), 404);
    db.cleanup().await;
}

#[tokio::test]
async fn unhashed_names_are_revalidated() {
    let db = TestDatabase::sqlite();
    let dir = site();
    let app = spawn_app_serving(&db, &dir.path().display().to_string(), false).await;
    let (_, _, headers) = fetch(&reqwest::Client::new(), &app.url("/pkg/tollgate.abc123.wasm"), Some("br")).await;
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    db.cleanup().await;
}
