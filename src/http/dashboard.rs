//! The dashboard: a page, its script and style and the vendored charting
//! library (`dashboard/vendor/README.md`), embedded in the binary and served
//! at `/` and under `/dashboard/`. The page signs in with a token and calls
//! the JSON API like any client; nothing is fetched from elsewhere.
//!
//! Without JavaScript the page offers a form that posts the token to `/`,
//! which answers the month's showback as plain HTML tables.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, AppState};
use crate::domain::{Month, Period};
use crate::engine::{GroupBy, Showback};
use crate::service;

const HTML: &str = "text/html; charset=utf-8";
const INDEX: &str = include_str!("dashboard/index.html");

/// The page's files: path, content type, content.
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "/dashboard/app.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/app.js"),
    ),
    (
        "/dashboard/app.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/app.css"),
    ),
    (
        "/dashboard/vendor/chart.umd.min.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/vendor/chart.umd.min.js"),
    ),
    (
        "/dashboard/vendor/LICENSE-chart.js.md",
        "text/plain; charset=utf-8",
        include_str!("dashboard/vendor/LICENSE-chart.js.md"),
    ),
];

/// The largest sign-in form (a token and a month).
pub const FORM_BODY_LIMIT: usize = 16 << 10;

/// What the page may load and where it may send: only this server.
/// `style-src 'self'` still lets script set styles through the CSSOM
/// (`element.style.width`: Chart.js sizes its canvases so), but no inline
/// `<style>` and no `style` attribute, in markup or set from script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes, outside the API document; the sign-in form is
/// answered within `timeout`, as the API is.
pub fn router(timeout: std::time::Duration) -> Router<AppState> {
    let tables = move |state: State<AppState>, request: axum::extract::Request| async move {
        match super::within(timeout, tables(state, request)).await {
            Some(response) => response,
            None => error_page(ApiError::TimedOut(timeout.as_secs())),
        }
    };
    let mut router = Router::new().route("/", get(|| async { asset(HTML, INDEX) }).post(tables));
    for (path, content_type, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router.layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn html_response(status: StatusCode, html: String) -> Response {
    secured((status, [(header::CONTENT_TYPE, HTML)], html).into_response())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    secured(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// The no-JavaScript sign-in form.
#[derive(Debug, serde::Deserialize)]
struct SignIn {
    token: String,
    #[serde(default)]
    month: String,
}

/// `POST /`: the showback of the month asked for (the latest allocated
/// one when none is) as HTML tables, for the identity of the posted token.
/// Refused when a browser says another site sent it: a page elsewhere
/// could otherwise post bad tokens until the client's address is held back.
async fn tables(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    use axum::extract::FromRequest;
    if let Err(e) = same_site(request.headers()) {
        return error_page(e);
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let who = request.extensions().get::<super::Who>().cloned();
    let answer = match Form::<SignIn>::from_request(request, &state).await {
        Ok(Form(form)) => showback_tables(&state, ip, form, who.as_ref()).await,
        Err(e) => Err(ApiError::BadBody(format!(
            "{}; post `token` (and optionally `month`, YYYY-MM) as a form",
            e.body_text()
        ))),
    };
    match answer {
        Ok(html) => {
            let mut response = html_response(StatusCode::OK, html);
            // Figures of one identity: not to be kept on disk.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => error_page(e),
    }
}

/// Whether a form post came from this site: browsers say where a request
/// came from in `Sec-Fetch-Site` (and `Origin`); a client that sends
/// neither (curl) is no browser and passes.
fn same_site(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let refused = || {
        ApiError::Forbidden(
            "the sign-in form was posted from another site; open the dashboard at this server's own address"
                .to_string(),
        )
    };
    match headers.get("sec-fetch-site").map(HeaderValue::to_str) {
        None | Some(Ok("same-origin" | "none")) => {}
        Some(_) => return Err(refused()),
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, h)| h);
        if origin.is_none() || origin != host {
            return Err(refused());
        }
    }
    Ok(())
}

/// An error as an HTML page, with the status, headers (`Retry-After`,
/// `WWW-Authenticate`) and message the API would answer it with.
fn error_page(e: ApiError) -> Response {
    let mut response = html_response(
        e.status(),
        document("allot", &error_body(&e.public_message())),
    );
    e.add_headers(response.headers_mut());
    response
}

async fn showback_tables(
    state: &AppState,
    ip: IpAddr,
    form: SignIn,
    who: Option<&super::Who>,
) -> Result<String, ApiError> {
    let bearer = format!("Bearer {}", form.token.trim());
    let caller = super::auth::authenticate(state, ip, Some(&bearer), who).await?;
    let month = match form.month.trim() {
        "" => service::reports::allocated_months(&state.store, &caller)
            .await?
            .last()
            .map(|m| m.run.month)
            .ok_or_else(|| {
                ApiError::NotAllocated(
                    "no month has been allocated yet; run `allot allocate --month YYYY-MM`"
                        .to_string(),
                )
            })?,
        m => Month::parse(m).map_err(|e| ApiError::BadParameter {
            param: "month".to_string(),
            message: e.to_string(),
        })?,
    };
    let (run, report) =
        service::showback(&state.store, &caller, month, GroupBy::Team, Period::Charge).await?;
    let stale = service::is_stale(&state.store, &run).await?;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Showback {month}</h1><p>Cost basis: {}. Signed in as {}.{}</p>",
        escape(run.cost_basis.as_str()),
        escape(caller.label()),
        if stale {
            " <strong>An input changed after this month was allocated: these figures are stale until it is allocated again.</strong>"
        } else {
            ""
        }
    );
    body.push_str(&showback_html(&report));
    body.push_str("<p><a href=\"/\">Back</a></p>");
    Ok(document(&format!("allot showback {month}"), &body))
}

/// One table per currency: each row's direct, shared and total cost, then
/// the currency's total.
fn showback_html(report: &Showback) -> String {
    let mut out = String::new();
    for (currency, total) in &report.totals {
        let _ = write!(
            out,
            "<table><caption>{}</caption><thead><tr><th>team</th>\
             <th class=\"num\">direct</th><th class=\"num\">shared</th>\
             <th class=\"num\">total</th></tr></thead><tbody>",
            escape(currency.as_str()),
        );
        for row in report.rows.iter().filter(|r| r.currency == *currency) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td>\
                 <td class=\"num\">{:.2}</td></tr>",
                escape(&row.owner.to_string()),
                row.direct_cost,
                row.shared_cost,
                row.total_cost,
            );
        }
        let _ = write!(
            out,
            "<tr class=\"total\"><td>total</td><td></td><td></td><td class=\"num\">{total:.2}</td></tr>\
             </tbody></table>"
        );
    }
    if report.totals.is_empty() {
        out.push_str("<p>Nothing this identity may see was allocated in the month.</p>");
    }
    out
}

fn error_body(message: &str) -> String {
    format!(
        "<h1>Cannot show the showback</h1><p class=\"error\">{}</p><p><a href=\"/\">Back</a></p>",
        escape(message)
    )
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/dashboard/app.css\"></head>\
         <body><main class=\"page\">{body}</main></body></html>",
        escape(title)
    )
}

/// Text as HTML: the five characters that could start markup escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
