//! `GET /api/v1/unit-costs`: a metric's unit costs for one scope, month by
//! month; `GET /api/v1/unit-costs/summary`: every metric and scope of a
//! month against the month before. JSON or a CSV attachment.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::params::doc::{FormatParam, MonthParam};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::domain::{MetricScope, Month, SCOPE_EXPECTED};
use crate::service::{self, Caller};

/// `scope`: absent or empty for the organisation.
fn scope_param(p: &Params) -> Result<MetricScope, ApiError> {
    Ok(p.optional("scope", |s| {
        MetricScope::parse(s).ok_or_else(|| format!("expected {SCOPE_EXPECTED}, found `{s}`"))
    })?
    .unwrap_or(MetricScope::Organisation))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(series))
        .routes(routes!(summary))
        .routes(routes!(explain))
}

/// A metric's unit costs, month by month
///
/// For each month from `from` to `to` and each currency: the scope's
/// allocated cost (direct plus shared, as the showback rounds it), the
/// metric's value (its days aggregated as the metric declares), the unit
/// cost (cost per unit of the metric, six significant digits) and its
/// change from the month before and from a year before, in percent. A
/// month without a unit cost says why in `status` and has `null` figures;
/// a change is `null` unless both months have a unit cost.
#[utoipa::path(
    get,
    path = "/api/v1/unit-costs",
    tag = "unit costs",
    operation_id = "getUnitCosts",
    params(
        ("metric" = String, Query, example = "orders", description = "A metric declared with `[[metric]]` in allot.toml."),
        ("from" = String, Query, example = "2025-01", pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", description = "The first month, `YYYY-MM`."),
        ("to" = Option<String>, Query, example = "2025-12", pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", description = "The last month, `YYYY-MM` (at most 120 months after `from`); defaults to `from`."),
        ("scope" = Option<String>, Query, example = "team:checkout", description = "`team:NAME`, `group:NAME` (a group of the rules' `[groups]`) or `environment:NAME`; absent or empty for the whole organisation (every cost, `unallocated` included)."),
        FormatParam,
    ),
    responses(
        (status = 200, description = "The series. As CSV an attachment named `unit-costs-METRIC-SCOPE-FROM-TO.csv` with the header row `month,metric,scope,currency,cost,metric_value,unit_cost,mom_change_pct,yoy_change_pct,status`.", content(
            (crate::present::body::UnitCosts = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown, or the range is reversed or too long (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "The metric is not declared (`unknown_metric`), the team is not known (`unknown_team`) or the group is not declared (`unknown_group`).", body = ErrorBody),
        (status = 422, description = "A group was asked for and the configured rules are invalid (`invalid_rules`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn series(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["metric", "from", "to", "scope", "format"])?;
    let metric = p.required("metric", |s| Ok::<_, String>(s.to_string()))?;
    let from = p.required("from", Month::parse)?;
    let to = p.optional("to", Month::parse)?.unwrap_or(from);
    let scope = scope_param(&p)?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let settings = state.settings();
    let series =
        service::unit_costs::series(&state.store, &caller, &settings, &metric, &scope, from, to)
            .await?;
    Ok(respond(csv, &series))
}

/// Unit costs of a month, against the month before
///
/// Every metric and scope that has points in the month or the month
/// before: both months' unit costs (per currency), the change in percent,
/// and the largest movers of the cost side (for a team its services, for
/// the organisation, a group or an environment its teams), so a director
/// sees whether a unit cost moved with spend or with volume.
#[utoipa::path(
    get,
    path = "/api/v1/unit-costs/summary",
    tag = "unit costs",
    operation_id = "getUnitCostSummary",
    params(MonthParam, FormatParam),
    responses(
        (status = 200, description = "The summary. As CSV an attachment named `unit-costs-summary-YYYY-MM.csv` with the header row `month,metric,scope,currency,unit_cost,previous_unit_cost,change_pct,status,movers` (movers as `name +1.00; other -0.50`).", content(
            (crate::present::body::UnitCostSummary = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 422, description = "A group has points and the configured rules are invalid (`invalid_rules`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["month", "format"])?;
    let month = p.required("month", Month::parse)?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let settings = state.settings();
    let summary = service::unit_costs::summary(&state.store, &caller, &settings, month).await?;
    Ok(respond(csv, &summary))
}

/// One month's unit cost taken apart
///
/// The unit cost of `metric` for `scope` in `month`, per currency, with
/// the cost items that add up to its cost (per team: direct cost by rule
/// and each pool share with its method; for an environment, the direct
/// cost in it by rule and the shared cost attributed to it) and the metric
/// points its value was made of.
#[utoipa::path(
    get,
    path = "/api/v1/unit-costs/explain",
    tag = "unit costs",
    operation_id = "explainUnitCost",
    params(
        ("metric" = String, Query, example = "orders", description = "A metric declared with `[[metric]]` in allot.toml."),
        MonthParam,
        ("scope" = Option<String>, Query, example = "team:checkout", description = "`team:NAME`, `group:NAME` or `environment:NAME`; absent or empty for the organisation."),
        FormatParam,
    ),
    responses(
        (status = 200, description = "The explanation. As CSV an attachment named `unit-cost-explain-METRIC-SCOPE-YYYY-MM.csv` with the header row `month,metric,currency,team,source,from,amount`, one row per item.", content(
            (crate::present::body::UnitCostExplanation = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is missing, malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 404, description = "The metric is not declared (`unknown_metric`), the team is not known (`unknown_team`) or the group is not declared (`unknown_group`).", body = ErrorBody),
        (status = 422, description = "A group was asked for and the configured rules are invalid (`invalid_rules`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["metric", "month", "scope", "format"])?;
    let metric = p.required("metric", |s| Ok::<_, String>(s.to_string()))?;
    let month = p.required("month", Month::parse)?;
    let scope = scope_param(&p)?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let settings = state.settings();
    let explanation =
        service::unit_costs::explain(&state.store, &caller, &settings, &metric, &scope, month)
            .await?;
    Ok(respond(csv, &explanation))
}
