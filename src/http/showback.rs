//! `GET /api/v1/showback`: a month's showback as JSON or a CSV attachment;
//! `GET /api/v1/months`: the months allocated.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::params::doc::{FormatParam, MonthParam, PeriodParam};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::domain::{Month, Period};
use crate::engine::GroupBy;
use crate::service::Caller;
use crate::service::reports::ShowbackBy;
use crate::{present, service};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(showback))
        .routes(routes!(months))
}

/// The allocated months
///
/// Every month with a charge-month allocation, oldest first, with when it
/// was allocated, its cost basis and whether an input changed since: the
/// months a showback, team-cost or unit-cost request can ask for.
#[utoipa::path(
    get,
    path = "/api/v1/months",
    tag = "reports",
    operation_id = "listMonths",
    responses(
        (status = 200, description = "The months, oldest first.", body = present::body::Months),
        (status = 400, description = "A query parameter was given (`invalid_parameter`): this takes none.", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn months(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let months = service::reports::allocated_months(&state.store, &caller).await?;
    let body = present::body::Months {
        months: months
            .iter()
            .map(|m| present::body::AllocatedMonth {
                month: m.run.month.to_string(),
                allocated_at: present::timestamp(m.run.allocated_at),
                cost_basis: m.run.cost_basis.as_str(),
                stale: m.stale(),
            })
            .collect(),
    };
    Ok(axum::Json(body).into_response())
}

/// Showback of an allocated month
///
/// The cost of every team in one allocated month, per currency. Rows are
/// ordered by currency, then team name, with `unallocated` last; every
/// currency present has an `unallocated` row, even when it is `0.00`. The
/// month must have been allocated first (`allot allocate --month YYYY-MM`).
/// A month whose invoice holds only charges of other months answers
/// `not_allocated` for `period=charge` and says to ask for `period=billing`.
#[utoipa::path(
    get,
    path = "/api/v1/showback",
    tag = "reports",
    operation_id = "getShowback",
    params(
        MonthParam,
        ("group_by" = Option<String>, Query, example = "team", pattern = "^(team|team,service|team,environment|group)$", description = "`team` (the default) gives one row per team and currency; `team,service` one row per team, service and currency (and adds the `service` field and column); `team,environment` one row per team, environment and currency (the rules' `[environment]` tag; a team's shared cost is attributed to its environments in proportion to its direct cost in each), adding the `environment` field and column; `group` one row per group of the rules' `[groups]` and currency, each the exact sum of its teams' rows (a `GroupShowback`)."),
        PeriodParam,
        FormatParam,
    ),
    responses(
        (status = 200, description = "The showback. As CSV an attachment named `showback-YYYY-MM.csv` (`showback-invoice-YYYY-MM.csv` with `period=billing`) with the header row `month,team,currency,cost_basis,direct_cost,shared_cost,total_cost`, with `group_by=team,service` `month,team,service,currency,cost_basis,direct_cost,shared_cost,total_cost`, with `group_by=team,environment` `month,team,environment,currency,cost_basis,direct_cost,shared_cost,total_cost`; with `group_by=group` named `showback-groups-YYYY-MM.csv`, header `month,group,teams,currency,cost_basis,direct_cost,shared_cost,total_cost` (teams separated by spaces).", content(
            (crate::present::body::AnyShowback = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "The month has not been allocated (`not_allocated`).", body = ErrorBody),
        (status = 422, description = "`group_by=group` was asked for and the configured rules are invalid (`invalid_rules`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`); the cause is in the server log only.", body = ErrorBody),
    ),
)]
async fn showback(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["month", "group_by", "period", "format"])?;
    let month = p.required("month", Month::parse)?;
    let by = p
        .optional("group_by", str::parse::<ShowbackBy>)?
        .unwrap_or(ShowbackBy::Rows(GroupBy::Team));
    let period = p
        .optional("period", str::parse::<Period>)?
        .unwrap_or_default();
    let csv = wants_csv(p.get("format"), &headers)?;
    let group_by = match by {
        ShowbackBy::Rows(group_by) => group_by,
        ShowbackBy::Group => {
            let settings = state.settings();
            let (run, report) =
                service::reports::group_showback(&state.store, &caller, &settings, month, period)
                    .await?;
            let stale = service::is_stale(&state.store, &run).await?;
            let report = present::GroupShowbackReport {
                run: &run,
                showback: &report,
                stale,
            };
            return Ok(respond(csv, &report));
        }
    };
    let (run, report) = service::showback(&state.store, &caller, month, group_by, period).await?;
    let stale = service::is_stale(&state.store, &run).await?;
    if stale {
        tracing::warn!(%month, "serving a showback allocated before the latest import");
    }
    let report = present::ShowbackReport {
        run: &run,
        showback: &report,
        stale,
    };
    Ok(respond(csv, &report))
}
