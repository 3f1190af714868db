//! `GET /api/v1/teams/{team}/costs`: one team's costs by day or month;
//! `GET /api/v1/teams/{team}/explain`: what it received in a month, and why.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, Utc};

use super::params::{Params, date};
use super::{ApiError, AppState, csv_attachment, wants_csv};
use crate::domain::{Month, Period};
use crate::engine::Granularity;
use crate::service::Caller;
use crate::{present, service};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/teams/{team}/costs", get(costs))
        .route("/api/v1/teams/{team}/explain", get(explain))
}

async fn costs(
    State(state): State<AppState>,
    team: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(team) = team.map_err(|e| super::error::path_rejection("team", e))?;
    let p = Params::new(query, &["from", "to", "granularity", "format"])?;
    let to = p
        .optional("to", date)?
        .unwrap_or_else(|| Utc::now().date_naive());
    let from = p
        .optional("from", date)?
        .unwrap_or_else(|| to.with_day(1).unwrap_or(to));
    if from > to {
        return Err(ApiError::bad(
            "from",
            format!("`{from}` is after `to` (`{to}`)"),
        ));
    }
    let granularity = p
        .optional("granularity", str::parse::<Granularity>)?
        .unwrap_or(Granularity::Day);
    let csv = wants_csv(p.get("format"), &headers)?;
    let costs =
        service::team_costs(&state.store, &Caller::Client, &team, from, to, granularity).await?;
    if csv {
        Ok(csv_attachment(
            &format!("{}-costs-{from}-{to}.csv", costs.owner.name()),
            present::team_costs_csv(&costs),
        ))
    } else {
        Ok(Json(present::team_costs_json(&costs)).into_response())
    }
}

async fn explain(
    State(state): State<AppState>,
    team: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(team) = team.map_err(|e| super::error::path_rejection("team", e))?;
    let p = Params::new(query, &["month", "period", "format"])?;
    let month = p.required("month", Month::parse)?;
    let period = p
        .optional("period", str::parse::<Period>)?
        .unwrap_or_default();
    let csv = wants_csv(p.get("format"), &headers)?;
    let (_, explanation) =
        service::explain(&state.store, &Caller::Client, month, &team, period).await?;
    if csv {
        Ok(csv_attachment(
            &format!("{}-explain-{month}.csv", explanation.owner.name()),
            present::explanation_csv(&explanation),
        ))
    } else {
        Ok(Json(present::explanation_json(&explanation)).into_response())
    }
}
