//! `GET /api/v1/whoami`: who the token speaks for and what it may see, so
//! that a client (the dashboard, a script checking its token) need not guess.

use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::params::Params;
use super::{ApiError, AppState, ErrorBody};
use crate::present::body;
use crate::service::Caller;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(whoami))
}

/// The caller's identity
///
/// The label, the role and, for a group role, the teams of the group that
/// the token's requests see. Any valid token may ask.
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "operations",
    operation_id = "whoami",
    responses(
        (status = 200, description = "The identity.", body = body::WhoAmI),
        (status = 400, description = "A query parameter was given (`invalid_parameter`): this takes none.", body = ErrorBody),
    ),
)]
async fn whoami(
    caller: Caller,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    Params::new(query, &[])?;
    let who = match &caller {
        Caller::Operator => body::WhoAmI {
            label: "operator".to_string(),
            role: "admin".to_string(),
            sees_all: true,
            teams: Vec::new(),
        },
        Caller::Identity(i) => body::WhoAmI {
            label: i.label.clone(),
            role: i.role.to_string(),
            sees_all: caller.sees_all(),
            teams: i.teams.iter().map(|t| t.to_string()).collect(),
        },
    };
    Ok(Json(who).into_response())
}
