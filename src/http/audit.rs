//! `GET /api/v1/audit`: the audit log, for admins.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::doc::FormatParam;
use super::params::{Params, count, date};
use super::{ApiError, AppState, ErrorBody, respond, wants_csv};
use crate::present::body;
use crate::service::{self, Caller};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The audit log
///
/// Who did what, when and from where: tokens created and revoked, usage
/// and metric points recorded, rule previews, source runs (scheduled and
/// by hand), anomalies acknowledged. Newest first. For `admin` tokens
/// only. The log is append-only: allot has no way to change or remove an
/// entry.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "operations",
    operation_id = "listAudit",
    params(
        ("from" = Option<String>, Query, example = "2026-11-01", format = Date, description = "The first day, YYYY-MM-DD (UTC)."),
        ("to" = Option<String>, Query, example = "2026-11-30", format = Date, description = "The last day, YYYY-MM-DD (UTC), included."),
        ("action" = Option<String>, Query, example = "source.run", description = "Only this action."),
        ("actor" = Option<String>, Query, example = "scheduler", description = "Only this actor, as entries name it."),
        ("limit" = Option<u32>, Query, example = 100, minimum = 1, maximum = 10000, description = "How many entries, 1 to 10000 (default 100)."),
        FormatParam,
    ),
    responses(
        (status = 200, description = "The entries, newest first. As CSV an attachment named `audit.csv` with the header row `id,at,actor,role,client,action,target,details`.", content(
            (body::AuditLog = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A query parameter is malformed or unknown (`invalid_parameter`).", body = ErrorBody),
        (status = 500, description = "An unexpected failure (`internal`).", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(query, &["from", "to", "action", "actor", "limit", "format"])?;
    let csv = wants_csv(p.get("format"), &headers)?;
    let midnight = |s: &str| date(s).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
    let from = p.optional("from", midnight)?;
    // `to` is a day included: entries before the next midnight.
    let to = p
        .optional("to", midnight)?
        .map(|t| t + chrono::Duration::days(1));
    let text = |s: &str| {
        (!s.trim().is_empty() && s.len() <= 200)
            .then(|| s.trim().to_string())
            .ok_or(format!(
                "expected 1 to 200 characters, found {} bytes",
                s.len()
            ))
    };
    let action = p.optional("action", text)?;
    let actor = p.optional("actor", text)?;
    let limit = p
        .optional("limit", count(service::audit::MAX_ENTRIES))?
        .unwrap_or(100);
    let entries =
        service::audit::list(&state.store, &caller, from, to, action, actor, limit).await?;
    Ok(respond(csv, &crate::present::AuditLog(entries)))
}
