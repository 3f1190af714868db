//! `GET /api/v1/imports`: the latest import runs; `POST
//! /api/v1/imports/{source}/run`: run a configured source now.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::{Params, count};
use super::{ApiError, AppState, ErrorBody};
use crate::present::{body, timestamp};
use crate::service::runs::Outcome;
use crate::service::{self, Caller};
use crate::store::ImportRun;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(run))
}

fn run_json(r: &ImportRun) -> body::ImportRun {
    body::ImportRun {
        id: r.id,
        source: r.source.clone(),
        trigger: r.trigger.as_str(),
        started_at: timestamp(r.started_at),
        finished_at: r.finished_at.map(timestamp),
        status: r.status.as_str(),
        rows: r.rows_read,
        months: r.months.iter().map(|m| m.to_string()).collect(),
        error: r.error.clone(),
    }
}

/// The latest import runs
///
/// Every run of a configured `[[source]]` (allot.toml), scheduled or
/// started by hand, newest first: when it started and finished, how it
/// ended, how many rows it read, which months it changed or re-allocated
/// (every stale month is), and the error of a failed run.
#[utoipa::path(
    get,
    path = "/api/v1/imports",
    tag = "imports",
    operation_id = "listImports",
    params(
        ("limit" = Option<u32>, Query, example = 50, minimum = 1, maximum = 1000, description = "How many runs, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "The runs, newest first.", body = body::ImportRuns),
        (status = 400, description = "A query parameter is malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["limit"])?;
    let limit = p.optional("limit", count(1000))?.unwrap_or(50);
    let runs = service::runs::list(&state.store, &caller, limit, chrono::Utc::now()).await?;
    Ok(Json(body::ImportRuns {
        runs: runs.iter().map(run_json).collect(),
    })
    .into_response())
}

/// Run a configured source now
///
/// Imports the source now (as its schedule would), re-allocates every stale
/// month, records the run and returns it. A source never runs twice at
/// once, across every replica sharing the database: while it runs, this
/// answers 409 `busy`.
#[utoipa::path(
    post,
    path = "/api/v1/imports/{source}/run",
    tag = "imports",
    operation_id = "runImport",
    params(
        ("source" = String, Path, description = "The `name` of a `[[source]]` in allot.toml."),
    ),
    responses(
        (status = 200, description = "The run, finished (its `status` says whether it succeeded).", body = body::ImportRun),
        (status = 400, description = "The source's name is over 1024 bytes long (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "No source of that name is configured (`unknown_source`).", body = ErrorBody),
        (status = 409, description = "The source is being imported now (`busy`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn run(
    State(state): State<AppState>,
    caller: Caller,
    source: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let name = super::params::path("source", source)?;
    Params::new(query, &[])?;
    let settings = state
        .settings
        .clone()
        .ok_or_else(|| ApiError::UnknownSource(name.clone()))?;
    caller.authorize(service::Action::RunSource)?;
    let _slot = state.work.slot()?;
    match service::runs::run_source(&state.store, &caller, &settings, &name, &state.telemetry)
        .await?
    {
        Outcome::Ran(run) => Ok(Json(run_json(&run)).into_response()),
        Outcome::Busy => Err(ApiError::Busy(name)),
    }
}
