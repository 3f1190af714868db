//! `ApiError`: every failure the API reports, mapped to a status code and
//! the body `{"error": {"code", "message"}}`. Internal errors are logged
//! with their cause and never shown to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

/// What a 503 asks the client to wait before retrying.
const RETRY_AFTER_SECONDS: &str = "5";

/// How long an API write waits for the database's write lock before it
/// answers 503 (an SQLite import holds the lock until it commits).
pub const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A body the JSON extractor refused, in the API's words: lower case, the
/// framework's own phrasing replaced by what to fix.
pub fn body_rejection(e: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection;
    let text = e.body_text();
    // The framework's text is `Its sentence: the parser's detail`.
    let detail = text.split_once(": ").map_or(text.as_str(), |(_, d)| d);
    ApiError::BadBody(match e {
        JsonRejection::JsonDataError(_) => {
            format!("the JSON does not have the documented shape: {detail}")
        }
        JsonRejection::JsonSyntaxError(_) => format!("the body is not valid JSON: {detail}"),
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON, with the header `Content-Type: application/json`".to_string()
        }
        JsonRejection::BytesRejection(ref b) if timed_out(b) => return ApiError::BodyTimeout,
        ref other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::BodyTooLarge;
        }
        _ => format!("cannot read the body: {}", lower_first(detail)),
    })
}

/// Whether reading a body failed because it stopped arriving or missed
/// its deadline.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() || c.is::<super::deadline::BodyDeadline>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A path segment the router could not read, for parameter `param`.
pub fn path_rejection(param: &str, e: axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::bad(param, lower_first(&e.body_text()))
}

/// `text` with its first letter in lower case (messages are lowercase).
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Busy => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// The body of every error answer.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code and a message saying how to fix it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `unauthenticated` (401: no token, or one that is unknown,
    /// revoked or expired; with `WWW-Authenticate: Bearer`),
    /// `forbidden` (403: the token's role may not do this),
    /// `too_many_failures` (429, with `Retry-After`: too many failed
    /// authentications from this address in a minute),
    /// `invalid_parameter` (400), `invalid_body` (400),
    /// `invalid_rules` (422), `unknown_team` (404),
    /// `unknown_metric` (404: not declared with `[[metric]]`),
    /// `unknown_group` (404: not in the rules' `[groups]`),
    /// `unknown_source` (404), `unknown_anomaly` (404), `busy` (409),
    /// `not_allocated` (404), `out_of_range` (422: the month's
    /// amounts add up beyond what allot splits exactly, 10^16 per
    /// currency), `not_found` (404, no such endpoint),
    /// `method_not_allowed` (405), `unavailable` (503, with
    /// `Retry-After`: a write could not get the database's write
    /// lock within 3 seconds, as while an import commits on SQLite;
    /// retry), `request_timeout` (408: a request body paused for
    /// over 30 seconds, or was not whole 60 seconds after the
    /// request head), `uri_too_long` (414: a request target over
    /// 16 KiB), `headers_too_large` (431: headers over 64 KiB, or a
    /// request head over 256 KiB), `invalid_request` (400: bytes
    /// that are not HTTP/1.1), `internal` (500). A connection is
    /// closed when a whole request head does not arrive within 10
    /// seconds of the server waiting for one, which also closes a
    /// kept-alive connection idle that long; at most 512
    /// connections are served at once.
    #[schema(schema_with = error_codes)]
    pub code: &'static str,
    pub message: String,
}

/// Every error code the API answers with.
pub const ERROR_CODES: [&str; 24] = [
    "body_too_large",
    "unauthenticated",
    "forbidden",
    "too_many_failures",
    "invalid_parameter",
    "invalid_body",
    "invalid_rules",
    "unknown_team",
    "unknown_metric",
    "unknown_group",
    "unknown_source",
    "unknown_anomaly",
    "not_allocated",
    "out_of_range",
    "not_found",
    "method_not_allowed",
    "busy",
    "unavailable",
    "timed_out",
    "request_timeout",
    "uri_too_long",
    "headers_too_large",
    "invalid_request",
    "internal",
];

fn error_codes() -> utoipa::openapi::schema::ObjectBuilder {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_CODES))
}

/// An error answer: `status` with the body `{"error": {"code", "message"}}`.
pub fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    debug_assert!(
        ERROR_CODES.contains(&code),
        "undocumented error code `{code}`"
    );
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }),
    )
        .into_response()
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No identity, or credentials that are refused.
    #[error("{0}")]
    Unauthenticated(String),
    /// The identity's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed authentications from the client's address.
    #[error("too many failed authentications from this address; wait {0} seconds")]
    TooManyFailures(u64),
    /// A query or path parameter is missing or malformed.
    #[error("parameter `{param}`: {message}")]
    BadParameter { param: String, message: String },
    /// The request body is not what the endpoint takes.
    #[error("request body: {0}")]
    BadBody(String),
    /// Candidate rules that `rules check` rejects; the message lists every error.
    #[error("{0}")]
    InvalidRules(String),
    #[error("unknown source `{0}`: configure it as a `[[source]]` in allot.toml")]
    UnknownSource(String),
    #[error("source `{0}` is being imported now; try again when that run ends")]
    Busy(String),
    #[error("unknown team `{0}`")]
    UnknownTeam(String),
    /// A metric not declared in allot.toml; the message lists the declared ones.
    #[error("{0}")]
    UnknownMetric(String),
    /// A group not declared in the rules; the message lists the declared ones.
    #[error("{0}")]
    UnknownGroup(String),
    #[error("month {0} has not been allocated: run `allot allocate --month {0}`")]
    NotAllocated(String),
    #[error(
        "nothing was charged in {0}: its invoice holds only charges of other months; ask for `period=billing`"
    )]
    NothingCharged(String),
    #[error("no anomaly `{0}`: list them with GET /api/v1/anomalies")]
    UnknownAnomaly(String),
    /// A write could not get the database's write lock in time (SQLite
    /// while an import commits); the client should retry.
    #[error("{0}")]
    Unavailable(String),
    /// The stored data cannot be allocated as it is (amounts out of range).
    #[error("{0}")]
    Unprocessable(String),
    #[error(
        "the request target is {bytes} bytes, over the limit of {limit}; send long inputs in a POST body"
    )]
    UriTooLong { bytes: usize, limit: usize },
    #[error(
        "the request headers are {bytes} bytes, over the limit of {limit}; send fewer or shorter headers"
    )]
    HeadersTooLarge { bytes: usize, limit: usize },
    #[error(
        "the request body stopped arriving or took too long in all; send it whole, without pauses"
    )]
    BodyTimeout,
    #[error(
        "the request body is larger than this endpoint takes (see the API description's limits); send less at a time"
    )]
    BodyTooLarge,
    /// A request that took longer than its time limit, stopped.
    #[error(
        "the request took longer than {0} s and was stopped; ask for less (a shorter range, fewer or simpler rules) or try again later"
    )]
    TimedOut(u64),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad(param: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::UnknownTeam(t) => ApiError::UnknownTeam(t),
            e @ ServiceError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
            ServiceError::NotAllocated(m) | ServiceError::NoData(m) => {
                ApiError::NotAllocated(m.to_string())
            }
            ServiceError::NothingCharged(m) => ApiError::NothingCharged(m.to_string()),
            ServiceError::OutOfRange(e) => ApiError::Unprocessable(e.to_string()),
            ServiceError::UnknownSource(s) => ApiError::UnknownSource(s),
            e @ (ServiceError::BadUsageRecord { .. }
            | ServiceError::DuplicateUsageRecord { .. }
            | ServiceError::BadMetricPoint { .. }
            | ServiceError::ConflictingMetricPoint { .. }
            | ServiceError::NoteTooLong { .. }) => ApiError::BadBody(e.to_string()),
            e @ ServiceError::UnknownMetric { .. } => ApiError::UnknownMetric(e.to_string()),
            e @ ServiceError::UnknownGroup { .. } => ApiError::UnknownGroup(e.to_string()),
            e @ (ServiceError::BadRange { .. } | ServiceError::RangeTooLong { .. }) => {
                ApiError::bad("from", e.to_string())
            }
            ServiceError::Rules(e) => ApiError::InvalidRules(format!(
                "the configured rules are invalid; fix them (`allot rules check`):\n{e}"
            )),
            ServiceError::Store(e) => e.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl ApiError {
    /// The status and the documented code the error answers with.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyFailures(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_failures"),
            ApiError::BadParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::BadBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ApiError::InvalidRules(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules"),
            ApiError::UnknownTeam(_) => (StatusCode::NOT_FOUND, "unknown_team"),
            ApiError::UnknownMetric(_) => (StatusCode::NOT_FOUND, "unknown_metric"),
            ApiError::UnknownGroup(_) => (StatusCode::NOT_FOUND, "unknown_group"),
            ApiError::UnknownSource(_) => (StatusCode::NOT_FOUND, "unknown_source"),
            ApiError::UnknownAnomaly(_) => (StatusCode::NOT_FOUND, "unknown_anomaly"),
            ApiError::Busy(_) => (StatusCode::CONFLICT, "busy"),
            ApiError::NotAllocated(_) | ApiError::NothingCharged(_) => {
                (StatusCode::NOT_FOUND, "not_allocated")
            }
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "out_of_range"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TimedOut(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed_out"),
            ApiError::UriTooLong { .. } => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The status the error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The message a client is shown: the error's own, but an internal
    /// failure's cause, which goes to the log only.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                "internal error; the server log has the cause".to_string()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.public_message();
        let mut response = error_response(status, code, message);
        self.add_headers(response.headers_mut());
        response
    }
}

impl ApiError {
    /// The headers the error's status calls for: `Retry-After` when waiting
    /// helps, `WWW-Authenticate` on 401.
    pub fn add_headers(&self, headers: &mut axum::http::HeaderMap) {
        match self {
            ApiError::Unavailable(_) => {
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
                );
            }
            ApiError::TooManyFailures(wait) => {
                headers.insert(axum::http::header::RETRY_AFTER, (*wait).into());
            }
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"allot\""),
                );
            }
            _ => {}
        }
    }
}
