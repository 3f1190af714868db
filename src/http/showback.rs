//! `GET /api/v1/showback`: a month's showback as JSON or a CSV attachment.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::params::Params;
use super::{ApiError, AppState, csv_attachment, wants_csv};
use crate::domain::{Month, Period};
use crate::engine::GroupBy;
use crate::service::Caller;
use crate::{present, service};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/showback", get(showback))
}

async fn showback(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["month", "group_by", "period", "format"])?;
    let month = p.required("month", Month::parse)?;
    let group_by = p
        .optional("group_by", str::parse::<GroupBy>)?
        .unwrap_or(GroupBy::Team);
    let period = p
        .optional("period", str::parse::<Period>)?
        .unwrap_or_default();
    let csv = wants_csv(p.get("format"), &headers)?;
    let (run, report) =
        service::showback(&state.store, &Caller::Client, month, group_by, period).await?;
    let stale = service::is_stale(&state.store, &run).await?;
    if stale {
        tracing::warn!(%month, "serving a showback allocated before the latest import");
    }
    if csv {
        Ok(csv_attachment(
            &match period {
                Period::Charge => format!("showback-{month}.csv"),
                Period::Billing => format!("showback-invoice-{month}.csv"),
            },
            present::showback_csv(&report),
        ))
    } else {
        Ok(Json(present::showback_json(&run, &report, stale)).into_response())
    }
}
