//! `GET /api/v1/metrics`: the declared business metrics;
//! `POST /api/v1/metrics`: record metric points as JSON, the same points
//! `allot import metrics` reads from CSV.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::params::doc::FormatParam;
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::present::body::{MetricMonth, MetricsRequest, MetricsResult};
use crate::service::metrics::PointInput;
use crate::service::{self, Caller};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, record))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::RECORDS_BODY_LIMIT,
        ))
}

/// The declared business metrics
///
/// The metrics declared with `[[metric]]` in allot.toml, by name: what
/// unit costs can be asked for.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "unit costs",
    operation_id = "listMetrics",
    params(FormatParam),
    responses(
        (status = 200, description = "The metrics. As CSV an attachment named `metrics.csv` with the header row `name,unit,aggregation,description`.", content(
            (crate::present::body::Metrics = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    // Any identity may read the definitions.
    _caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["format"])?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let settings = state.settings();
    let list = crate::present::MetricList(settings.metrics.values().collect());
    Ok(respond(csv, &list))
}

/// Record business-metric points
///
/// Records metric points, the volumes unit costs divide by: the same
/// points `allot import metrics FILE` reads from CSV. `date` is a day
/// (`YYYY-MM-DD`) or a month (`YYYY-MM`: the month's value, which then
/// stands for the month instead of its days'). `scope` is absent or empty
/// for the organisation, else `team:NAME`, `group:NAME` or
/// `environment:NAME`. A point sent again with the same value changes
/// nothing; with another value it replaces the stored one. Every point is
/// checked before any is stored; a body that gives one point two values is
/// refused. `value` is a JSON number or a decimal string, read from its
/// exact text.
#[utoipa::path(
    post,
    path = "/api/v1/metrics",
    tag = "unit costs",
    operation_id = "recordMetrics",
    request_body = MetricsRequest,
    responses(
        (status = 200, description = "What was stored.", body = MetricsResult),
        (status = 400, description = "A point is invalid or names an undeclared metric (`invalid_body`); the message names it, e.g. `points[1].value`. Nothing is stored.", body = ErrorBody),
        (status = 503, description = "The database's write lock was not free in time (`unavailable`); retry after the `Retry-After` seconds.", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Json<MetricsRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let Json(body) = body.map_err(super::error::body_rejection)?;
    let inputs: Vec<PointInput> = body
        .points
        .iter()
        .map(|p| {
            let raw = p.value.get();
            PointInput {
                date: p.date.clone(),
                metric: p.metric.clone(),
                value: serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()),
                scope: p.scope.clone().unwrap_or_default(),
            }
        })
        .collect();
    let settings = state.settings();
    let summary =
        service::metrics::record(&state.store, &caller, &settings.metrics, &inputs).await?;
    Ok(Json(MetricsResult {
        points: summary.points,
        added: summary.added,
        replaced: summary.replaced,
        unchanged: summary.unchanged,
        changed: summary
            .changed
            .iter()
            .map(|(metric, month)| MetricMonth {
                metric: metric.to_string(),
                month: month.to_string(),
            })
            .collect(),
    })
    .into_response())
}
