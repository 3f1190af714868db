//! `GET /api/v1/anomalies`: stored anomalies, filtered by days, team and
//! status (JSON or CSV); `POST /api/v1/anomalies/{id}/ack`: acknowledge one
//! with a note.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::doc::FormatParam;
use super::params::{Params, date};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::engine::anomaly::AnomalyStatus;
use crate::present;
use crate::present::body::{self, AckRequest};
use crate::service::{self, Caller, ServiceError};
use crate::store::AnomalyFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(acknowledge))
        .layer(axum::extract::DefaultBodyLimit::max(super::ACK_BODY_LIMIT))
}

/// Anomalies (spend spikes, and drops where configured)
///
/// Stored anomalies, newest first. Detection runs after every scheduled
/// import and every allocation, and on demand (`allot anomalies detect
/// --month`). An anomaly is one run of anomalous days of one series: a team
/// (direct and shared cost), a team's service, or a billing account, in one
/// currency, on the configured cost basis. Its figures accumulate over its
/// days; `contributors` name the services, accounts or teams that moved,
/// and `explanation` says it in one sentence. `format=csv` (or `Accept:
/// text/csv`) returns the same list as a CSV attachment.
#[utoipa::path(
    get,
    path = "/api/v1/anomalies",
    tag = "anomalies",
    operation_id = "listAnomalies",
    params(
        ("from" = Option<String>, Query, example = "2024-09-01", format = Date, description = "Only anomalies with a day on or after this date."),
        ("to" = Option<String>, Query, example = "2024-09-30", format = Date, description = "Only anomalies with a day on or before this date."),
        ("team" = Option<String>, Query, example = "payments", description = "Only this team's anomalies (its own and per service), or `unallocated`'s."),
        ("status" = Option<String>, Query, example = "open", pattern = "^(open|acknowledged|withdrawn)$", description = "Without it, open and acknowledged anomalies; `withdrawn` ones (restated data no longer shows them) only when asked for."),
        FormatParam,
    ),
    responses(
        (status = 200, description = "The anomalies. As CSV an attachment named `anomalies.csv`.", content(
            (body::Anomalies = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["from", "to", "team", "status", "format"])?;
    let from = p.optional("from", date)?;
    let to = p.optional("to", date)?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::bad(
            "from",
            format!("`{from}` is after `to` (`{to}`)"),
        ));
    }
    let status = p.optional("status", |s| {
        AnomalyStatus::parse(s)
            .ok_or_else(|| format!("expected `open`, `acknowledged` or `withdrawn`, found `{s}`"))
    })?;
    let team = p.get("team").map(crate::domain::normalise_team_name);
    let csv = wants_csv(p.get("format"), &headers)?;
    let filter = AnomalyFilter {
        from,
        to,
        team,
        status,
    };
    let list = service::anomalies::list(&state.store, &caller, &filter).await?;
    Ok(respond(csv, &present::AnomalyList(&list)))
}

/// Acknowledge an anomaly
///
/// Marks an anomaly `acknowledged`, with a note saying why (a planned load
/// test, a known migration). Acknowledging again replaces the note. Later
/// detection runs keep the status and note; alerts are sent once per
/// anomaly either way.
#[utoipa::path(
    post,
    path = "/api/v1/anomalies/{id}/ack",
    tag = "anomalies",
    operation_id = "acknowledgeAnomaly",
    params(
        ("id" = i64, Path, description = "The anomaly's id."),
    ),
    request_body = AckRequest,
    responses(
        (status = 200, description = "The anomaly, acknowledged.", body = body::Anomaly),
        (status = 400, description = "The id is not a number, or the body is not `{\"note\": \"...\"}` (`invalid_parameter`, `invalid_body`).", body = ErrorBody),
        (status = 404, description = "No anomaly has that id (`unknown_anomaly`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let id = super::params::path("id", id)?;
    let number: i64 = id.parse().map_err(|_| {
        ApiError::bad(
            "id",
            format!("expected an anomaly id (a number), found `{id}`"),
        )
    })?;
    let Json(body) = body.map_err(super::error::body_rejection)?;
    let acked =
        service::anomalies::acknowledge(&state.store, &caller, number, &body.note, Utc::now())
            .await
            .map_err(|e| match e {
                ServiceError::UnknownAnomaly(_) => ApiError::UnknownAnomaly(id),
                other => other.into(),
            })?;
    Ok(Json(present::anomaly_json(&acked)).into_response())
}
