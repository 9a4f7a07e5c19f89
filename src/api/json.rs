//! A JSON body extractor whose errors name the offending field: malformed JSON is a 400,
//! a well-formed body with a wrong, missing or unknown field is a 422 naming that field.

use crate::error::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// The largest request body the agent API reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body; an empty body is read as `{}` so bodiless calls work when every
/// field is optional.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::bad_request(format!("Could not read the request body: {e}")))?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(AppError::bad_request(format!("The request body is larger than {MAX_BODY_BYTES} bytes")));
        }
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        parse(text).map(ValidJson)
    }
}

/// A query string read into `T`: an unknown parameter or a wrong shape is a 422 naming it.
pub struct ValidQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ValidQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url_pairs(query));
        serde_path_to_error::deserialize(de).map(ValidQuery).map_err(|err| {
            let message = err.inner().to_string();
            let field = backticked(&message).unwrap_or_else(|| "query".to_owned());
            AppError::InvalidInput { field, message }
        })
    }
}

fn url_pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Path parameters; one that cannot be read (invalid percent-encoding) is a 400 in our shape.
pub struct ValidPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ValidPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| ValidPath(t))
            .map_err(|e| AppError::bad_request(format!("Invalid path: {}", e.body_text())))
    }
}

/// Parses JSON into `T`: syntax first (400), then the shape (422 naming the field).
pub fn parse<T: DeserializeOwned>(text: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| AppError::bad_request(format!("Malformed JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(classify)
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    // A missing field is named by serde in backticks ("missing field `model`"), the path being
    // the object that lacks it (an unknown field's path already ends with it).
    let named = message.starts_with("missing field").then(|| backticked(&message)).flatten();
    let field = match (path.as_str(), named) {
        (".", Some(name)) => name,
        (".", None) => backticked(&message).unwrap_or_else(|| "body".to_owned()),
        (_, Some(name)) => format!("{path}.{name}"),
        (_, None) => path,
    };
    AppError::InvalidInput { field, message }
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::report::ReportBody;

    fn field_of(json: &str) -> (u16, Option<String>) {
        let err = parse::<ReportBody>(json.as_bytes()).expect_err(json);
        (err.status(), err.field().map(str::to_owned))
    }

    #[test]
    fn names_the_field() {
        let ok = r#""event_id":"e","model":"m""#;
        assert_eq!(
            field_of(&format!(r#"{{{ok},"input_tokens":"12","output_tokens":1}}"#)),
            (422, Some("input_tokens".into()))
        );
        assert_eq!(
            field_of(&format!(r#"{{{ok},"input_tokens":1.5,"output_tokens":1}}"#)),
            (422, Some("input_tokens".into()))
        );
        assert_eq!(field_of(&format!(r#"{{{ok},"input_tokens":1}}"#)), (422, Some("output_tokens".into())));
        assert_eq!(
            field_of(&format!(r#"{{{ok},"input_tokens":1,"output_tokens":1,"extra":true}}"#)),
            (422, Some("extra".into()))
        );
        assert_eq!(field_of(r#"{"event_id":"e""#), (400, None));
        // Nested: the path to the object, then the missing field.
        let nested = parse::<std::collections::HashMap<String, ReportBody>>(br#"{"a":{"event_id":"e"}}"#);
        assert_eq!(nested.expect_err("missing").field(), Some("a.model"));
        assert_eq!(field_of(r#"{"event_id":"e"} trailing"#), (400, None));
        assert_eq!(field_of(r#""just text""#), (422, Some("body".into())));
        assert_eq!(field_of(r#"[1,2]"#).0, 422);
    }
}
