//! `POST /api/v1/rules/preview`: what a candidate rule set would do to each
//! team's total of an allocated month. Nothing is stored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::params::Params;
use super::{ApiError, AppState, csv_attachment, wants_csv};
use crate::domain::Month;
use crate::service::Caller;
use crate::{present, rules, service};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/rules/preview", post(preview))
}

/// The candidate rule files, by file name (`*.toml`), read in name order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    files: BTreeMap<String, String>,
}

async fn preview(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Result<Json<PreviewBody>, JsonRejection>,
) -> Result<Response, ApiError> {
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
    let (run, candidate, rows) =
        service::preview(&state.store, &Caller::Client, &rules, month).await?;
    if csv {
        Ok(csv_attachment(
            &format!("preview-{month}.csv"),
            present::preview_csv(month, &rows),
        ))
    } else {
        let notes = present::allocation_notes(&candidate);
        Ok(Json(present::preview_json(month, run.cost_basis, &rows, &notes)).into_response())
    }
}
