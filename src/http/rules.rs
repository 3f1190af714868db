//! `POST /api/v1/rules/preview`: what a candidate rule set would do to each
//! team's total of an allocated month. Nothing is stored.

use std::path::PathBuf;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::params::doc::{FormatParam, MonthParam};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::domain::Month;
use crate::present::body::PreviewRequest;
use crate::service::Caller;
use crate::{present, rules, service};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview))
        .layer(axum::extract::DefaultBodyLimit::max(
            super::PREVIEW_BODY_LIMIT,
        ))
}

/// Preview a candidate rule set on an allocated month
///
/// Allocates the month again from its stored cost lines with the candidate
/// rules (and the stored allocation's cost basis) and returns, per team and
/// currency, the current total, the candidate total and the difference.
/// Nothing is stored. This is what an operator runs on a pull request that
/// changes rules (`allot rules preview` does the same from a directory).
#[utoipa::path(
    post,
    path = "/api/v1/rules/preview",
    tag = "rules",
    operation_id = "previewRules",
    params(
        MonthParam,
        FormatParam,
    ),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The comparison. As CSV an attachment named `preview-MONTH.csv` with the header row `month,team,currency,current,candidate,difference`.", content(
            (crate::present::body::Preview = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid (`invalid_parameter`) or the body is not an object `{\"files\": {NAME: TEXT}}` of `.toml` files (`invalid_body`).", body = ErrorBody),
        (status = 404, description = "The month is not allocated (`not_allocated`).", body = ErrorBody),
        (status = 422, description = "The candidate rules are invalid (`invalid_rules`); the message lists every error as `rules check` prints it.", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Result<Json<PreviewRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    // Refused before any of the body is checked: checking rules is work
    // only an identity that may preview gets done.
    caller.authorize(service::Action::Preview)?;
    let p = Params::new(query, &["month", "format"])?;
    let month = p.required("month", Month::parse)?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let Json(body) = body.map_err(super::error::body_rejection)?;
    if body.files.is_empty() {
        return Err(ApiError::BadBody(
            "`files` is empty: send at least one rule file".into(),
        ));
    }
    if let Some(name) = body.files.keys().find(|n| !n.ends_with(".toml")) {
        return Err(ApiError::BadBody(format!(
            "file `{name}` is not a `.toml` rule file"
        )));
    }
    let sources: Vec<(PathBuf, String)> = body
        .files
        .into_iter()
        .map(|(n, t)| (PathBuf::from(n), t))
        .collect();
    let rules = rules::check(&sources).map_err(|e| ApiError::InvalidRules(e.to_string()))?;
    // At most a few previews at once, each within its budget; a client
    // that goes away drops the preview with its slot.
    let _slot = state.work.slot()?;
    let budget = state.work.preview_budget;
    let (run, candidate, rows) = super::within(
        budget,
        service::preview(&state.store, &caller, &rules, month),
    )
    .await
    .ok_or(ApiError::TimedOut(budget.as_secs()))??;
    let notes = present::allocation_notes(&candidate);
    let report = present::PreviewReport {
        month,
        cost_basis: run.cost_basis,
        rows: &rows,
        notes: &notes,
    };
    Ok(respond(csv, &report))
}
