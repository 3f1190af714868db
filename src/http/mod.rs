//! The HTTP API (axum): one router per resource, shared state, `ApiError`.
//! Handlers parse parameters into domain types and call `service`; they hold
//! no SQL and no allocation logic.

mod anomalies;
mod audit;
mod auth;
mod dashboard;
mod deadline;
pub mod doc;
mod error;
mod imports;
mod me;
mod metrics;
mod params;
mod rules;
mod showback;
mod teams;
mod unit_costs;
mod usage;
pub mod wire;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::present::body::Health;
use crate::store::Store;
pub use auth::{Auth, FAILURE_WINDOW, MAX_FAILURES};
pub use error::{ApiError, ERROR_CODES, ErrorBody, error_response};

/// The largest request body of an acknowledgement (its note is at most
/// 2,000 characters).
pub const ACK_BODY_LIMIT: usize = 16 << 10;
/// The largest body of usage figures or metric points.
pub const RECORDS_BODY_LIMIT: usize = 8 << 20;
/// The largest body of a rules preview (its candidate rule files).
pub const PREVIEW_BODY_LIMIT: usize = 1 << 20;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// The configured sources and allocation settings (none in tests that
    /// do not configure them).
    pub settings: Option<std::sync::Arc<crate::config::Settings>>,
    /// How callers are authenticated.
    pub auth: std::sync::Arc<Auth>,
    /// Bounds on expensive work (set from the limits by [`router_with`]).
    pub work: std::sync::Arc<Work>,
    /// What `GET /metrics` serves.
    pub telemetry: crate::telemetry::Telemetry,
}

/// Bounds on the work requests may make the server do.
#[derive(Debug)]
pub struct Work {
    /// Slots for previews and source runs.
    slots: tokio::sync::Semaphore,
    max: usize,
    /// How long a preview may compute.
    pub preview_budget: std::time::Duration,
}

impl Work {
    pub fn new(limits: &crate::app::Limits) -> Work {
        Work {
            slots: tokio::sync::Semaphore::new(limits.max_expensive),
            max: limits.max_expensive,
            preview_budget: limits.preview_budget,
        }
    }

    /// A slot for an expensive operation, held until dropped (a request
    /// whose client goes away drops it), or 503 when all are taken.
    pub fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.slots.try_acquire().map_err(|_| {
            ApiError::Unavailable(format!(
                "{} previews or source runs are being served, the most at once; try again in a few seconds",
                self.max
            ))
        })
    }
}

impl Default for Work {
    fn default() -> Self {
        Work::new(&crate::app::Limits::default())
    }
}

impl AppState {
    /// The settings in force: those configured, or the defaults (no
    /// sources, no metrics) in tests that configure none.
    pub fn settings(&self) -> std::sync::Arc<crate::config::Settings> {
        self.settings.clone().unwrap_or_else(|| {
            std::sync::Arc::new(
                crate::config::FileConfig::default().settings(None, None, None, None),
            )
        })
    }
}

/// The whole API, with the default connection limits.
pub fn router(state: AppState) -> Router {
    router_with(state, crate::app::Limits::default())
}

/// The whole API, refusing request targets and headers beyond `limits` and
/// bodies that stall or take too long in all, in the documented JSON shape.
pub fn router_with(mut state: AppState, limits: crate::app::Limits) -> Router {
    state.work = std::sync::Arc::new(Work::new(&limits));
    let (mut routes, _) = api_router_with(limits.request_timeout).split_for_parts();
    // `/metrics` is Prometheus's, not the API's: it is outside the API
    // document, and on this address only with `metrics = "token"`.
    let endpoint = state
        .settings
        .as_ref()
        .map(|s| s.metrics_endpoint)
        .unwrap_or_default();
    if endpoint == crate::config::MetricsEndpoint::Token {
        routes = routes.route("/metrics", axum::routing::get(metrics_for_token));
    }
    let telemetry = state.telemetry.clone();
    routes
        .merge(dashboard::router(limits.request_timeout))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_read_timeout,
        ))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let request = request.map(|body| deadline::within(body, limits.body_deadline));
                next.run(request).await
            },
        ))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                match head_within(&request, limits) {
                    Ok(()) => next.run(request).await,
                    Err(e) => e.into_response(),
                }
            },
        ))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                observe(telemetry.clone(), request, next)
            },
        ))
        .with_state(state)
}

/// `/metrics` alone, without a token: what `metrics = "open"` serves on its
/// own address.
pub fn open_metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(state): State<AppState>| async move {
                metrics_answer(crate::service::open_telemetry(
                    &state.store,
                    &state.telemetry,
                ))
            }),
        )
        .fallback(not_found)
        .with_state(state)
}

/// `GET /metrics` on the API's address: for `admin` and `monitoring` tokens.
async fn metrics_for_token(
    State(state): State<AppState>,
    caller: crate::service::Caller,
) -> Result<Response, ApiError> {
    let text = crate::service::telemetry(&state.store, &caller, &state.telemetry)?;
    Ok(metrics_answer(text))
}

fn metrics_answer(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, crate::telemetry::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

/// The identity label of a request, for its log line: the `Caller`
/// extractor fills it in when a token is accepted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Who(std::sync::Arc<std::sync::OnceLock<String>>);

impl Who {
    pub(crate) fn set(&self, label: &str) {
        let _ = self.0.set(label.to_string());
    }
}

/// Logs every request at `info` (method, route template, path, status,
/// latency, identity label; never a header or the query, so never a
/// token) and counts it in the telemetry. Handlers' own log lines carry
/// the request's span.
async fn observe(
    telemetry: crate::telemetry::Telemetry,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string());
    let path = request.uri().path().to_string();
    let who = Who::default();
    request.extensions_mut().insert(who.clone());
    let span = tracing::info_span!("request", method = %method, route = route.as_deref().unwrap_or("unmatched"));
    let response = next.run(request).instrument(span).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    telemetry.request(&method, route.as_deref(), status, elapsed);
    tracing::info!(
        method = %method,
        route = route.as_deref().unwrap_or("unmatched"),
        path = %path,
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
        identity = who.0.get().map_or("-", String::as_str),
        "request"
    );
    response
}

/// Every documented route, with the document it makes.
fn api_router() -> OpenApiRouter<AppState> {
    api_router_with(crate::app::Limits::default().request_timeout)
}

/// Every route; each answers within `timeout` but source runs, which go on
/// whether or not their client waits (their record says how they ended).
fn api_router_with(timeout: std::time::Duration) -> OpenApiRouter<AppState> {
    let bounded = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(openapi))
        .merge(showback::router())
        .merge(teams::router())
        .merge(rules::router())
        .merge(usage::router())
        .merge(metrics::router())
        .merge(unit_costs::router())
        .merge(anomalies::router())
        .merge(audit::router())
        .merge(me::router())
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                match within(timeout, next.run(request)).await {
                    Some(response) => response,
                    None => ApiError::TimedOut(timeout.as_secs()).into_response(),
                }
            },
        ));
    OpenApiRouter::with_openapi(doc::base())
        .merge(bounded)
        .merge(imports::router())
}

/// `work`'s output if it completes within `limit`, else `None` (and `work`
/// is dropped). A zero limit is past at once: nothing of `work` runs
/// (tokio's timer would first poll it, and fire only at its next tick).
pub(crate) async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    work: F,
) -> Option<F::Output> {
    if limit.is_zero() {
        return None;
    }
    tokio::time::timeout(limit, work).await.ok()
}

/// Refuses a request whose target or headers exceed `limits`.
fn head_within(
    request: &axum::extract::Request,
    limits: crate::app::Limits,
) -> Result<(), ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > limits.max_uri_bytes {
        return Err(ApiError::UriTooLong {
            bytes: target,
            limit: limits.max_uri_bytes,
        });
    }
    // Each header as sent: `name: value\r\n`.
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > limits.max_header_bytes {
        return Err(ApiError::HeadersTooLarge {
            bytes: headers,
            limit: limits.max_header_bytes,
        });
    }
    Ok(())
}

/// A handler that panicked answers like any internal error: the documented
/// JSON body, the cause in the log only.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!(panic = message, "a request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the cause",
    )
}

/// Health check
///
/// Answers whether the server can reach its database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "getHealth",
    responses(
        (status = 200, description = "The database answers.", body = Health),
        (status = 503, description = "The database cannot be reached.", body = Health),
    ),
)]
async fn healthz(State(state): State<AppState>) -> Response {
    let (database, answer) = crate::service::health(&state.store).await;
    match answer {
        Ok(()) => Json(Health {
            status: "ok",
            database,
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database,
                }),
            )
                .into_response()
        }
    }
}

/// This OpenAPI document
#[utoipa::path(
    get,
    path = "/api/v1/openapi.yaml",
    tag = "operations",
    operation_id = "getOpenApi",
    responses(
        (status = 200, description = "The document, as YAML.", content((String = "application/yaml"))),
    ),
)]
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], doc::yaml()).into_response()
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see /api/v1/openapi.yaml",
    )
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /api/v1/openapi.yaml",
    )
}

/// Whether the client asked for CSV (`format=csv` or `Accept: text/csv`).
fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::bad(
            "format",
            format!("expected `json` or `csv`, found `{other}`"),
        )),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

/// `report` as the client asked: a CSV attachment or JSON.
fn respond<R: crate::present::Report>(csv: bool, report: &R) -> Response {
    if csv {
        csv_attachment(&report.filename(), report.csv())
    } else {
        Json(report.json()).into_response()
    }
}

/// A CSV attachment.
fn csv_attachment(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[test]
    fn expensive_work_takes_a_slot_until_it_is_dropped() {
        let work = Work::new(&crate::app::Limits {
            max_expensive: 1,
            ..Default::default()
        });
        let first = work.slot().unwrap();
        let refused = work.slot().unwrap_err();
        assert!(matches!(refused, ApiError::Unavailable(_)));
        assert!(
            refused
                .to_string()
                .contains("1 previews or source runs are being served")
        );
        drop(first);
        assert!(work.slot().is_ok(), "a dropped request gives its slot back");
    }

    #[tokio::test]
    async fn work_past_its_limit_is_dropped() {
        use std::time::Duration;
        assert_eq!(within(Duration::from_secs(5), async { 7 }).await, Some(7));
        assert_eq!(within(Duration::ZERO, async { 7 }).await, None);
        // Work that never ends is dropped at its limit.
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let forever = async move {
            let _flag = flag;
            std::future::pending::<()>().await
        };
        assert_eq!(within(Duration::from_millis(20), forever).await, None);
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_the_json_500() {
        async fn boom() -> &'static str {
            panic!("overflow")
        }
        // A path in a variable: tests/integration/openapi.rs checks that literal routes are documented.
        let path = "/boom";
        let app: Router = Router::new()
            .route(path, axum::routing::get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
        let response = app
            .oneshot(
                axum::http::Request::get("/boom")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal");
    }
}
