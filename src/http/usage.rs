//! `POST /api/v1/usage`: record usage metrics (the weights of `usage`
//! splits) as JSON; the same records `allot import usage` reads from CSV.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::{ApiError, AppState, ErrorBody};
use crate::domain::Month;
use crate::present::body::{UsageRequest, UsageResult};
use crate::service::usage::UsageInput;
use crate::service::{self, Caller};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::RECORDS_BODY_LIMIT,
        ))
}

/// Record usage metrics
///
/// Records usage metrics, the weights of `usage` pool splits: the same
/// records `allot import usage FILE` reads from CSV. `date` is a day
/// (`YYYY-MM-DD`) or a month (`YYYY-MM`, recorded on its first day). A
/// record for a date, team and metric already stored replaces it, so
/// sending the same records twice changes nothing; a body holds one record
/// per date, team and metric. All records are checked before any is
/// stored. `quantity` is a JSON number or a decimal string, read from its
/// exact text.
#[utoipa::path(
    post,
    path = "/api/v1/usage",
    tag = "usage",
    operation_id = "recordUsage",
    request_body = UsageRequest,
    responses(
        (status = 200, description = "What was stored.", body = UsageResult),
        (status = 400, description = "A record is invalid (`invalid_body`); the message names it, e.g. `records[1].quantity`. Nothing is stored.", body = ErrorBody),
        (status = 503, description = "The database's write lock was not free within 3 seconds (`unavailable`; on SQLite an import holds it until it commits). Nothing was stored; retry after the `Retry-After` seconds.", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Json<UsageRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let Json(body) = body.map_err(super::error::body_rejection)?;
    let inputs: Vec<UsageInput> = body
        .records
        .iter()
        .map(|r| {
            let raw = r.quantity.get();
            UsageInput {
                date: r.date.clone(),
                team: r.team.clone(),
                metric: r.metric.clone(),
                quantity: serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()),
            }
        })
        .collect();
    let summary = service::usage::record(
        &state.store,
        &caller,
        &inputs,
        Some(super::error::WRITE_WAIT),
    )
    .await?;
    let list = |months: &[Month]| months.iter().map(Month::to_string).collect::<Vec<_>>();
    Ok(Json(UsageResult {
        records: summary.records,
        months: list(&summary.months),
        changed_months: list(&summary.changed_months),
    })
    .into_response())
}
