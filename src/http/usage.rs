//! `POST /api/v1/usage`: record usage metrics (the weights of `usage`
//! splits) as JSON; the same records `allot import usage` reads from CSV.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::params::Params;
use super::{ApiError, AppState};
use crate::domain::Month;
use crate::service::usage::UsageInput;
use crate::service::{self, Caller};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/usage", post(record))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageBody {
    records: Vec<RecordBody>,
}

/// One record; `quantity` may be a JSON number or a decimal string (both
/// are read from their exact text, never through a float).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    date: String,
    team: String,
    metric: String,
    quantity: Box<RawValue>,
}

async fn record(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    body: Result<Json<UsageBody>, JsonRejection>,
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
        &Caller::Client,
        &inputs,
        Some(super::error::WRITE_WAIT),
    )
    .await?;
    let list = |months: &[Month]| months.iter().map(Month::to_string).collect::<Vec<_>>();
    Ok(Json(json!({
        "records": summary.records,
        "months": list(&summary.months),
        "changed_months": list(&summary.changed_months),
    }))
    .into_response())
}
