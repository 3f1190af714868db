//! `GET /api/v1/anomalies`: stored anomalies, filtered by days, team and
//! status (JSON or CSV); `POST /api/v1/anomalies/{id}/ack`: acknowledge one
//! with a note.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use super::params::{Params, date};
use super::{ApiError, AppState, csv_attachment, wants_csv};
use crate::engine::anomaly::AnomalyStatus;
use crate::present;
use crate::service::{self, Caller, ServiceError};
use crate::store::AnomalyFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/anomalies", get(list))
        .route("/api/v1/anomalies/{id}/ack", post(acknowledge))
}

async fn list(
    State(state): State<AppState>,
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
    let list = service::anomalies::list(&state.store, &Caller::Client, &filter).await?;
    if csv {
        Ok(csv_attachment(
            "anomalies.csv",
            present::anomalies_csv(&list),
        ))
    } else {
        Ok(Json(present::anomalies_json(&list)).into_response())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Json<AckBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let Path(id) = id.map_err(|e| super::error::path_rejection("id", e))?;
    let number: i64 = id.parse().map_err(|_| {
        ApiError::bad(
            "id",
            format!("expected an anomaly id (a number), found `{id}`"),
        )
    })?;
    let Json(body) = body.map_err(super::error::body_rejection)?;
    let acked = service::anomalies::acknowledge(
        &state.store,
        &Caller::Client,
        number,
        &body.note,
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        ServiceError::UnknownAnomaly(_) => ApiError::UnknownAnomaly(id),
        other => other.into(),
    })?;
    Ok(Json(present::anomaly_json(&acked)).into_response())
}
