//! `POST /api/v1/usage`: record usage metrics (the weights of `usage`
//! splits) as JSON; the same records `allot import usage` reads from CSV.

use std::collections::HashSet;

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
use crate::domain::{Month, UsageRecord};
use crate::importers::usage::parse_record;

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
    let mut records: Vec<UsageRecord> = Vec::with_capacity(body.records.len());
    let mut seen = HashSet::new();
    for (i, r) in body.records.iter().enumerate() {
        let raw = r.quantity.get();
        let quantity = serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string());
        let record =
            parse_record(&r.date, &r.team, &r.metric, &quantity).map_err(|(field, expected)| {
                let found = match field {
                    "date" => r.date.as_str(),
                    "team" => r.team.as_str(),
                    "metric" => r.metric.as_str(),
                    _ => quantity.as_str(),
                };
                ApiError::BadBody(format!(
                    "records[{i}].{field}: expected {expected}, found `{found}`"
                ))
            })?;
        if !seen.insert((record.date, record.team.clone(), record.metric.clone())) {
            return Err(ApiError::BadBody(format!(
                "records[{i}]: a second record for {} {} {}; send one per date, team and metric",
                record.date, record.team, record.metric
            )));
        }
        records.push(record);
    }
    let changed: Vec<String> = state
        .store
        .upsert_usage_waiting(&records, Some(super::error::WRITE_WAIT))
        .await?
        .iter()
        .map(Month::to_string)
        .collect();
    let mut months: Vec<String> = records
        .iter()
        .map(|r| Month::of(r.date).to_string())
        .collect();
    months.sort();
    months.dedup();
    Ok(
        Json(json!({"records": records.len(), "months": months, "changed_months": changed}))
            .into_response(),
    )
}
