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

/// The document: [`ApiDoc`] with every route the routers register, each
/// `/api/v1` operation requiring a bearer token (and answering 401 and 403).
pub fn document() -> Document {
    let (_, mut api) = super::api_router().split_for_parts();
    secured(&mut api);
    api
}

/// The paths that need no token.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/api/v1/openapi.yaml"];

/// Adds the `token` security scheme, required by every operation but those
/// of [`OPEN_PATHS`], with the 401 and 403 answers it brings.
fn secured(api: &mut Document) {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token (`allot token create --role ROLE`), sent as `Authorization: Bearer allot_...`, or with single sign-on configured a JWT of the identity provider.",
                ))
                .build(),
        ),
    );
    api.security = Some(vec![SecurityRequirement::new(
        "token",
        Vec::<String>::new(),
    )]);
    let error = |text: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(text)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("Error")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let open = OPEN_PATHS.contains(&path.as_str());
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if open {
                op.security = Some(vec![SecurityRequirement::default()]);
                continue;
            }
            let takes_body = op.request_body.is_some();
            let responses = &mut op.responses.responses;
            if takes_body {
                responses.entry("413".into()).or_insert_with(|| {
                    error("The body is over the endpoint's limit (`body_too_large`; the API description lists them).")
                });
            }
            responses.entry("401".into()).or_insert_with(|| {
                error("No token, or one that is unknown, revoked or expired (`unauthenticated`).")
            });
            responses
                .entry("403".into())
                .or_insert_with(|| error("The token's role may not do this (`forbidden`)."));
            responses.entry("503".into()).or_insert_with(|| {
                error("The request took longer than the server's time limit and was stopped (`timed_out`), or the server cannot answer now (`unavailable`, with `Retry-After`): the database is locked by an import, the identity provider's keys cannot be fetched, or as many previews and source runs as allowed are running.")
            });
            responses.entry("429".into()).or_insert_with(|| {
                error("Too many failed authentications from this address in a minute (`too_many_failures`, with `Retry-After`).")
            });
        }
    }
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
