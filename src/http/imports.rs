//! `GET /api/v1/imports`: the latest import runs; `POST
//! /api/v1/imports/{source}/run`: run a configured source now.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::params::Params;
use super::{ApiError, AppState};
use crate::service::runs::Outcome;
use crate::service::{self, Caller};
use crate::store::ImportRun;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/imports", get(list))
        .route("/api/v1/imports/{source}/run", post(run))
}

fn run_json(r: &ImportRun) -> Value {
    json!({
        "id": r.id,
        "source": r.source,
        "trigger": r.trigger.as_str(),
        "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "finished_at": r.finished_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "status": r.status.as_str(),
        "rows": r.rows_read,
        "months": r.months.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        "error": r.error,
    })
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["limit"])?;
    let limit = p
        .optional("limit", |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or(format!("expected a number from 1 to 1000, found `{s}`"))
        })?
        .unwrap_or(50);
    let runs =
        service::runs::list(&state.store, &Caller::Client, limit, chrono::Utc::now()).await?;
    Ok(Json(json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>()})).into_response())
}

async fn run(
    State(state): State<AppState>,
    source: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Path(name) = source.map_err(|e| super::error::path_rejection("source", e))?;
    Params::new(query, &[])?;
    let settings = state
        .settings
        .clone()
        .ok_or_else(|| ApiError::UnknownSource(name.clone()))?;
    match service::runs::run_source(&state.store, &Caller::Client, &settings, &name).await? {
        Outcome::Ran(run) => Ok(Json(run_json(&run)).into_response()),
        Outcome::Busy => Err(ApiError::Busy(name)),
    }
}
