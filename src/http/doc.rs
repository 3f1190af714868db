//! The OpenAPI document, generated from the code: each handler's
//! `#[utoipa::path]` (routes, parameters, responses), the response types of
//! `present::body` and [`ErrorBody`], and the overview in
//! `api/description.md`. The routers register handlers through
//! `utoipa_axum::routes!`, so a route is served exactly when it is
//! documented. `api/openapi.yaml` is this document, committed; a test fails
//! when they differ (`ALLOT_BLESS=1 cargo test` rewrites it).

use std::sync::OnceLock;

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;

use super::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "allot",
        description = include_str!("../../api/description.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "http://127.0.0.1:8080", description = "`allot serve` / `allot demo` default listen address")),
    tags(
        (name = "reports", description = "Showback, team costs and explanations."),
        (name = "rules", description = "Candidate rules, previewed."),
        (name = "usage", description = "Usage figures, the weights of `usage` splits."),
        (name = "unit costs", description = "Business metrics and the unit costs they give: cost per order, per deployment, per customer."),
        (name = "imports", description = "Runs of configured sources."),
        (name = "anomalies", description = "Spend spikes (and drops) and their acknowledgements."),
        (name = "operations", description = "Health and this document."),
    ),
    components(schemas(ErrorBody)),
)]
struct ApiDoc;

/// The document: [`ApiDoc`] with every route the routers register.
pub fn document() -> Document {
    let (_, api) = super::api_router().split_for_parts();
    api
}

/// The document as YAML, built once.
pub fn yaml() -> &'static str {
    static YAML: OnceLock<String> = OnceLock::new();
    YAML.get_or_init(|| {
        document()
            .to_yaml()
            .unwrap_or_else(|e| format!("# the document cannot be written: {e}\n"))
    })
}

/// The router's base: the document's info, tags and shared components.
pub(super) fn base() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}
