//! `GET /api/v1/teams/{team}/costs`: one team's costs by day or month;
//! `GET /api/v1/teams/{team}/explain`: what it received in a month, and why.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Datelike, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::doc::{FormatParam, MonthParam, PeriodParam};
use super::params::{Params, date};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::domain::{Month, Period};
use crate::engine::Granularity;
use crate::service;
use crate::service::Caller;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(costs))
        .routes(routes!(explain))
}

/// One team's costs by day or month
///
/// The allocated costs of one team (or of `unallocated`) over an inclusive
/// date range, one point per period and currency, each split by service.
/// Only periods with allocated cost appear. Points are ordered by currency,
/// then period. A month's point is the team's row of that month's showback,
/// and its services the team's `group_by=team,service` rows, to the cent.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/costs",
    tag = "reports",
    operation_id = "getTeamCosts",
    params(
        ("team" = String, Path, description = "A team name (trimmed and matched case-insensitively), or `unallocated` for costs no rule assigns. A team is known when the allocation rules of some allocated month declare it or it has allocated cost; any other name is `404 unknown_team`."),
        ("from" = Option<String>, Query, example = "2024-09-01", format = Date, description = "First day of the range (inclusive), `YYYY-MM-DD`. Defaults to the first day of the month of `to`. Must not be after `to`."),
        ("to" = Option<String>, Query, example = "2024-09-30", format = Date, description = "Last day of the range (inclusive), `YYYY-MM-DD`. Defaults to today (UTC)."),
        ("granularity" = Option<String>, Query, example = "day", pattern = "^(day|month)$", description = "`day` (the default) gives one point per day; `month` one point per calendar month, whose `start` is the first day of that month."),
        FormatParam,
    ),
    responses(
        (status = 200, description = "The team's costs. As CSV an attachment named `TEAM-costs-FROM-TO.csv` with the header row `team,start,currency,service,cost`, one row per period, currency and service.", content(
            (crate::present::body::TeamCosts = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "The team is not known (`unknown_team`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn costs(
    State(state): State<AppState>,
    caller: Caller,
    team: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let team = super::params::path("team", team)?;
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
    let costs = service::team_costs(&state.store, &caller, &team, from, to, granularity).await?;
    Ok(respond(csv, &costs))
}

/// What a team received in a month, and why
///
/// Every amount the team (or `unallocated`) received in the allocation of a
/// month: its direct cost grouped by the rule that matched, and each pool
/// share with the pool, its split method, the team's weight and the total
/// weight. Amounts are rounded to cents so that a currency's items add up
/// to the team's showback `total_cost`; `exact_amount` keeps the exact
/// figure.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/explain",
    tag = "reports",
    operation_id = "explainTeam",
    params(
        ("team" = String, Path, description = "A team name (trimmed and matched case-insensitively), or `unallocated` for costs no rule assigns. A team is known when the allocation rules of some allocated month declare it or it has allocated cost; any other name is `404 unknown_team`."),
        MonthParam,
        PeriodParam,
        FormatParam,
    ),
    responses(
        (status = 200, description = "The explanation. As CSV an attachment named `TEAM-explain-MONTH.csv` with the header row `month,team,currency,source,rule,pool,method,weight,total_weight,lines,amount`.", content(
            (crate::present::body::Explanation = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "The team is not known (`unknown_team`) or the month is not allocated (`not_allocated`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    team: Result<Path<String>, PathRejection>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let team = super::params::path("team", team)?;
    let p = Params::new(query, &["month", "period", "format"])?;
    let month = p.required("month", Month::parse)?;
    let period = p
        .optional("period", str::parse::<Period>)?
        .unwrap_or_default();
    let csv = wants_csv(p.get("format"), &headers)?;
    let (_, explanation) = service::explain(&state.store, &caller, month, &team, period).await?;
    Ok(respond(csv, &explanation))
}
