//! Keeps the API and its generated OpenAPI document (`http::doc`) true to
//! each other, and `api/openapi.yaml` true to the document.
//!
//! The routes are registered from the same `#[utoipa::path]` attributes the
//! document is made of, so these tests check what that cannot: the
//! committed file is the generated document (`ALLOT_BLESS=1 cargo test`
//! rewrites it), every documented operation answers with a documented
//! status and content type, exactly the documented query parameters are
//! accepted, other methods get `405 method_not_allowed`, and every JSON
//! body the server sends validates against its documented schema (with the
//! `jsonschema` crate, OpenAPI 3.1 schemas being JSON Schema 2020-12).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use allot::app::Application;
use allot::store::Store;
use serde_json::{Value, json};

use crate::common::contract::{check_against, check_schema, document};

/// The methods this test knows, lower case as the document writes them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A documented parameter.
#[derive(Debug)]
struct Param {
    name: String,
    location: String,
    required: bool,
    example: Option<String>,
    /// The values its `pattern` allows, when it is an alternation of words
    /// (`^(a|b)$`).
    enum_values: Vec<String>,
}

/// A documented operation.
struct Op {
    path: String,
    method: String,
    params: Vec<Param>,
    operation: Value,
}

impl Op {
    fn query_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.location == "query")
    }

    /// The schema of the documented `application/json` request body.
    fn request_schema(&self) -> Option<&Value> {
        let content = self.operation.get("requestBody")?.get("content")?;
        let types: Vec<&String> = content.as_object()?.keys().collect();
        assert_eq!(
            types,
            ["application/json"],
            "{} {}: teach this test request bodies other than JSON",
            self.method,
            self.path
        );
        content["application/json"].get("schema")
    }

    /// The body this test sends when it calls the operation, for those
    /// that take one.
    fn request_body(&self) -> Option<Value> {
        self.request_schema()?;
        Some(match self.path.as_str() {
            "/api/v1/rules/preview" => minimal_rules(),
            "/api/v1/usage" => json!({"records": [
                {"date": "2024-09-01", "team": "payments", "metric": "cpu_core_hours", "quantity": "3.25"},
                {"date": "2024-09", "team": "search", "metric": "cpu_core_hours", "quantity": 12},
            ]}),
            "/api/v1/anomalies/{id}/ack" => json!({"note": "a planned load test"}),
            "/api/v1/metrics" => json!({"points": [
                {"date": "2024-09-01", "metric": "orders", "value": "1200"},
                {"date": "2024-09", "metric": "orders", "value": 40, "scope": "team:payments"},
            ]}),
            other => panic!("{other}: teach this test a request body"),
        })
    }

    /// The documented response for a status code.
    fn response(&self, status: u16) -> Option<&Value> {
        self.operation["responses"].get(status.to_string())
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(
                METHODS.contains(&method.as_str()),
                "{path}: teach this test the path item field `{method}`"
            );
            let params = operation["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| Param {
                    name: p["name"].as_str().expect("a parameter's name").to_string(),
                    location: p["in"].as_str().expect("a parameter's `in`").to_string(),
                    required: p["required"] == true,
                    example: p
                        .get("example")
                        .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string)),
                    enum_values: p["schema"]["pattern"]
                        .as_str()
                        .and_then(|pattern| pattern.strip_prefix("^("))
                        .and_then(|p| p.strip_suffix(")$"))
                        .map(|alternatives| alternatives.split('|').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
                .collect();
            ops.push(Op {
                path: path.clone(),
                method: method.clone(),
                params,
                operation: operation.clone(),
            });
        }
    }
    assert!(!ops.is_empty(), "the document has no paths");
    ops
}

// ---------------------------------------------------------------------------
// Talking to the server.

struct Reply {
    /// `METHOD URL -> STATUS`, for messages.
    what: String,
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.what, self.body))
    }

    /// `error.code` of a JSON error body.
    fn code(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.body).ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }

    fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The media type of the answer, without parameters.
    fn media_type(&self) -> &str {
        self.content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(store: Store) -> Server {
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // The metric the documented examples name.
        let config = allot::config::FileConfig::parse(
            std::path::Path::new("allot.toml"),
            "[[metric]]\nname = \"orders\"\nunit = \"order\"\n",
        )
        .expect("a valid configuration");
        let app = Application::build(store.clone(), listen)
            .await
            .expect("bind")
            .with_settings(config.settings(None, None, None, None));
        let addr = app.local_addr().expect("local address");
        let client = crate::common::admin_client(&store, &app).await;
        tokio::spawn(app.run_until(std::future::pending()));
        Server {
            base: format!("http://{addr}"),
            client,
        }
    }

    /// A server over a fresh, empty SQLite database.
    async fn empty(dir: &tempfile::TempDir) -> Server {
        let url = format!("sqlite://{}", dir.path().join("allot.db").display());
        let store = Store::connect(&url).await.expect("connect to SQLite");
        Server::start(store).await
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let (client, request) = request.build_split();
        let request = request.expect("request");
        let what = format!("{} {}", request.method(), request.url());
        let response = client.execute(request).await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        Reply {
            what: format!("{what} -> {status}"),
            status,
            content_type,
            headers,
            body,
        }
    }

    /// The URL of a documented path with values for its path parameters.
    fn url(&self, op: &Op, path_values: &[(&str, &str)]) -> String {
        let mut path = op.path.clone();
        for (name, v) in path_values {
            path = path.replace(&format!("{{{name}}}"), v);
        }
        assert!(!path.contains('{'), "{path}: no value for a path parameter");
        format!("{}{path}", self.base)
    }

    /// A request with the operation's documented method, and no body.
    fn request(
        &self,
        op: &Op,
        path_values: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method(&op.method), self.url(op, path_values))
            .query(query)
    }

    /// Calls a documented operation with its documented method (and, for
    /// one that takes a body, [`Op::request_body`]); see [`Server::call_with`].
    async fn call(&self, op: &Op, path_values: &[(&str, &str)], query: &[(&str, &str)]) -> Reply {
        let mut request = self.request(op, path_values, query);
        if let Some(body) = op.request_body() {
            request = request.json(&body);
        }
        self.call_with(op, request).await
    }

    /// Sends a request for a documented operation and checks that the
    /// server routes it (the answer is neither the fallback's `not_found`
    /// nor `method_not_allowed`) and that the status and content type of the
    /// answer are documented for the operation.
    async fn call_with(&self, op: &Op, request: reqwest::RequestBuilder) -> Reply {
        let reply = self.send(request).await;
        let what = format!("{} {}", reply.what, reply.body);
        assert!(
            what.starts_with(&format!("{} ", op.method.to_uppercase())),
            "{what}: {} documents {}",
            op.path,
            op.method
        );
        assert_ne!(
            reply.code().as_deref(),
            Some("not_found"),
            "{what}: {} is documented but the server has no such route",
            op.path
        );
        assert_ne!(
            reply.code().as_deref(),
            Some("method_not_allowed"),
            "{what}: {} {} is documented but the server does not route that method",
            op.method,
            op.path
        );
        let response = op.response(reply.status).unwrap_or_else(|| {
            panic!(
                "{what}: status not documented for {} {}",
                op.method, op.path
            )
        });
        if let Some(content) = response.get("content").and_then(Value::as_object) {
            let documented: Vec<&str> = content.keys().map(String::as_str).collect();
            let actual = reply.media_type();
            assert!(
                documented.contains(&actual),
                "{what}: content type `{actual}` not documented ({documented:?})"
            );
        }
        reply
    }
}

fn method(m: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).expect("an HTTP method")
}

/// The smallest rule set `rules check` accepts.
fn minimal_rules() -> Value {
    serde_json::json!({"files": {"r.toml": "[[rule]]\nname = \"a\"\nteam = \"a\"\n"}})
}

/// The shipped rule files (`allocation-rules/*.toml`), read from disk, as a
/// preview request's `files`: file name -> text.
fn shipped_rule_files() -> serde_json::Map<String, Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("allocation-rules");
    let mut files = serde_json::Map::new();
    for entry in std::fs::read_dir(&dir).expect("allocation-rules/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("a rule file");
            files.insert(name, Value::String(text));
        }
    }
    assert!(!files.is_empty(), "no rule files in {}", dir.display());
    files
}

/// Values for the path parameters of the documented paths.
fn path_values(op: &Op) -> Vec<(&'static str, &'static str)> {
    op.params
        .iter()
        .filter(|p| p.location == "path")
        .map(|p| match p.name.as_str() {
            "team" => ("team", "unallocated"),
            "source" => ("source", "no-such-source"),
            "id" => ("id", "999999"),
            other => panic!("{}: teach this test a value for `{{{other}}}`", op.path),
        })
        .collect()
}

/// The required query parameters at their documented examples.
fn required_query(op: &Op) -> Vec<(&str, &str)> {
    op.query_params()
        .filter(|p| p.required)
        .map(|p| {
            let example = p
                .example
                .as_deref()
                .unwrap_or_else(|| panic!("{}: required `{}` has no example", op.path, p.name));
            (p.name.as_str(), example)
        })
        .collect()
}

/// The CSV header rows an operation's 200 response documents: the
/// back-quoted texts of its description that look like header rows.
fn documented_csv_headers(op: &Op) -> BTreeSet<String> {
    let description = op
        .response(200)
        .and_then(|r| r["description"].as_str())
        .unwrap_or_default();
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains(',') && !s.contains('.') && !s.contains('='))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("api/openapi.yaml");
    let generated = allot::http::doc::yaml();
    if std::env::var_os("ALLOT_BLESS").is_some() {
        std::fs::write(&path, generated).expect("write api/openapi.yaml");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "api/openapi.yaml is not the document the code generates; run `ALLOT_BLESS=1 cargo test openapi` and commit the file"
    );
}

#[test]
fn every_error_code_the_server_answers_with_is_documented() {
    let doc = document();
    let documented: BTreeSet<&str> =
        doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
            .as_array()
            .expect("the error codes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
    let served: BTreeSet<&str> = allot::http::ERROR_CODES.into_iter().collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn every_documented_path_is_served_and_nothing_else() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::empty(&dir).await;

    for op in &ops {
        // What this test sends as a body is what the document says to send.
        if let Some(body) = op.request_body() {
            let schema = op.request_schema().unwrap_or_else(|| {
                panic!(
                    "{} {}: a body is sent but none is documented",
                    op.method, op.path
                )
            });
            check_against(
                &doc,
                schema,
                &body,
                &format!("{} {} request body", op.method, op.path),
            );
        }
        let reply = server.call(op, &path_values(op), &required_query(op)).await;
        // On an empty database the answer may be a 404 (unknown team, month
        // not allocated), but the request itself (parameters and body) is
        // valid.
        assert!(
            ![400, 422].contains(&reply.status) && reply.status < 500,
            "{} with its required parameters: {}",
            reply.what,
            reply.body
        );
    }

    // Every path answers exactly its documented methods (GET also answers
    // HEAD); any other method is a JSON `405 method_not_allowed` with an
    // `Allow` header listing the documented ones.
    let mut by_path: BTreeMap<&str, (&Op, BTreeSet<&str>)> = BTreeMap::new();
    for op in &ops {
        by_path
            .entry(op.path.as_str())
            .or_insert_with(|| (op, BTreeSet::new()))
            .1
            .insert(op.method.as_str());
    }
    for (path, (op, documented)) in &by_path {
        let url = server.url(op, &path_values(op));
        let mut allowed: BTreeSet<String> = documented.iter().map(|m| m.to_uppercase()).collect();
        if documented.contains("get") {
            allowed.insert("HEAD".into());
            let head = server.send(server.client.head(&url)).await;
            assert_ne!(head.status, 405, "{}: GET routes answer HEAD", head.what);
        }
        for m in METHODS.iter().filter(|m| !documented.contains(*m)) {
            let reply = server.send(server.client.request(method(m), &url)).await;
            let what = format!("{} (documented: {documented:?}) {}", reply.what, reply.body);
            assert_eq!(reply.status, 405, "{what}");
            assert_eq!(reply.media_type(), "application/json", "{what}");
            assert_eq!(
                reply.code().as_deref(),
                Some("method_not_allowed"),
                "{what}"
            );
            check_schema(&doc, "Error", &reply.json(), &format!("{m} {path}"));
            let allow: BTreeSet<String> = reply
                .headers
                .get(reqwest::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{what}: no `Allow` header"))
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            assert_eq!(allow, allowed, "{what}: `Allow`");
        }
    }

    let documented: BTreeSet<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    for made_up in [
        "/api/v1/nonexistent",
        "/api/v1/showback/extra",
        "/api/v1/teams/unallocated",
        "/api/v1/teams/unallocated/explain/extra",
        "/api/v1/rules",
        "/api/v1/rules/preview/extra",
        "/api/v2/showback",
    ] {
        assert!(!documented.contains(made_up));
        for m in ["get", "post"] {
            let url = format!("{}{made_up}", server.base);
            let reply = server.send(server.client.request(method(m), url)).await;
            assert_eq!(reply.status, 404, "{}: {}", reply.what, reply.body);
            assert_eq!(reply.code().as_deref(), Some("not_found"), "{}", reply.what);
        }
    }

    // The served document is the generated one.
    let served = server.get("/api/v1/openapi.yaml", &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type, "application/yaml");
    assert!(
        served.body == allot::http::doc::yaml(),
        "the served document differs from the generated one"
    );
}

#[tokio::test]
async fn documented_query_parameters_are_exactly_the_accepted_ones() {
    let doc = document();
    let ops = operations(&doc);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::empty(&dir).await;

    for op in &ops {
        // Path parameters: documented exactly when in the path.
        let in_path: BTreeSet<String> = op
            .path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
            .collect();
        let documented_path: BTreeSet<String> = op
            .params
            .iter()
            .filter(|p| p.location == "path")
            .inspect(|p| assert!(p.required, "{}: path parameters are required", op.path))
            .map(|p| p.name.clone())
            .collect();
        assert_eq!(in_path, documented_path, "{}: path parameters", op.path);

        let pv = path_values(op);
        let required = required_query(op);
        let documented: BTreeSet<&str> = op.query_params().map(|p| p.name.as_str()).collect();
        if documented.is_empty() {
            continue;
        }

        // Every documented parameter at its example is accepted.
        let all: Vec<(&str, &str)> = op
            .query_params()
            .map(|p| {
                let example = p.example.as_deref().unwrap_or_else(|| {
                    panic!("{}: query parameter `{}` has no example", op.path, p.name)
                });
                (p.name.as_str(), example)
            })
            .collect();
        let reply = server.call(op, &pv, &all).await;
        assert_ne!(reply.status, 400, "{} {all:?}: {}", op.path, reply.body);

        // Every documented enum value is accepted.
        for p in op.query_params() {
            for e in &p.enum_values {
                let mut q: Vec<(&str, &str)> = required
                    .iter()
                    .filter(|(n, _)| *n != p.name)
                    .copied()
                    .collect();
                q.push((&p.name, e));
                let reply = server.call(op, &pv, &q).await;
                assert_ne!(reply.status, 400, "{} {q:?}: {}", op.path, reply.body);
            }
        }

        // A missing required parameter is named.
        for (name, _) in &required {
            let q: Vec<(&str, &str)> = required
                .iter()
                .filter(|(n, _)| n != name)
                .copied()
                .collect();
            let reply = server.call(op, &pv, &q).await;
            assert_eq!(
                reply.status, 400,
                "{} without {name}: {}",
                op.path, reply.body
            );
            assert_eq!(reply.code().as_deref(), Some("invalid_parameter"));
            assert_eq!(reply.message(), format!("parameter `{name}`: is required"));
        }

        // An unknown parameter is rejected, and the server's list of the
        // parameters it accepts is the documented one.
        let mut q = required.clone();
        q.push(("no_such_parameter", "1"));
        let reply = server.call(op, &pv, &q).await;
        assert_eq!(reply.status, 400, "{} {q:?}: {}", op.path, reply.body);
        assert_eq!(reply.code().as_deref(), Some("invalid_parameter"));
        let message = reply.message();
        let accepted: BTreeSet<&str> = message
            .split_once("unknown parameter; this endpoint accepts ")
            .unwrap_or_else(|| panic!("{}: unexpected message `{message}`", op.path))
            .1
            .split(", ")
            .collect();
        assert_eq!(
            accepted, documented,
            "{}: the server accepts {accepted:?}, the document lists {documented:?}",
            op.path
        );
    }
}

#[tokio::test]
async fn responses_have_the_documented_shapes() {
    let doc = document();
    let ops = operations(&doc);
    let op = |path: &str| {
        ops.iter()
            .find(|o| o.path == path)
            .unwrap_or_else(|| panic!("{path} is not documented"))
    };
    let dir = tempfile::tempdir().unwrap();
    let prepared = allot::demo::prepare(&dir.path().join("demo.db"))
        .await
        .expect("prepare the demo database");
    let store = prepared.store.clone();
    let server = Server::start(prepared.store).await;
    let month = allot::demo::MONTH;

    let health = server.call(op("/healthz"), &[], &[]).await;
    assert_eq!(health.status, 200);
    check_schema(&doc, "Health", &health.json(), "healthz");

    let months = server.call(op("/api/v1/months"), &[], &[]).await;
    assert_eq!(months.status, 200, "{}", months.body);
    let v = months.json();
    check_schema(&doc, "Months", &v, "months");
    let listed: Vec<&str> = v["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(
        (listed.len(), listed.last()),
        (14, Some(&month)),
        "{listed:?}"
    );
    let whoami = server.call(op("/api/v1/whoami"), &[], &[]).await;
    assert_eq!(whoami.status, 200, "{}", whoami.body);
    check_schema(&doc, "WhoAmI", &whoami.json(), "whoami");

    let showback = op("/api/v1/showback");
    let showback_headers = documented_csv_headers(showback);
    for group_by in ["team", "team,service"] {
        let q = [("month", month), ("group_by", group_by)];
        let json = server.call(showback, &[], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, "Showback", &v, "showback");
        assert!(!v["rows"].as_array().unwrap().is_empty());

        let csv = server
            .call(showback, &[], &[q[0], q[1], ("format", "csv")])
            .await;
        assert_eq!(csv.status, 200);
        let header = csv.body.lines().next().unwrap_or_default();
        assert!(
            showback_headers.contains(header),
            "showback CSV header `{header}` is not among the documented {showback_headers:?}"
        );
        let accept = server
            .send(
                server
                    .client
                    .get(format!("{}/api/v1/showback", server.base))
                    .query(&q)
                    .header(reqwest::header::ACCEPT, "text/csv"),
            )
            .await;
        assert_eq!(accept.body, csv.body, "Accept: text/csv selects CSV");
    }
    let not_allocated = server.call(showback, &[], &[("month", "2001-01")]).await;
    assert_eq!(not_allocated.code().as_deref(), Some("not_allocated"));
    check_schema(&doc, "Error", &not_allocated.json(), "error");

    let costs = op("/api/v1/teams/{team}/costs");
    let costs_headers = documented_csv_headers(costs);
    let first = format!("{month}-01");
    for granularity in ["day", "month"] {
        let q = [
            ("from", first.as_str()),
            ("to", "2026-10-31"),
            ("granularity", granularity),
        ];
        let json = server.call(costs, &[("team", "payments")], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, "TeamCosts", &v, "team costs");
        assert!(!v["points"].as_array().unwrap().is_empty());

        let csv = server
            .call(
                costs,
                &[("team", "payments")],
                &[q[0], q[1], q[2], ("format", "csv")],
            )
            .await;
        assert_eq!(csv.status, 200);
        let header = csv.body.lines().next().unwrap_or_default();
        assert!(
            costs_headers.contains(header),
            "team costs CSV header `{header}` is not among the documented {costs_headers:?}"
        );
    }
    let unknown = server.call(costs, &[("team", "no-such-team")], &[]).await;
    assert_eq!(unknown.code().as_deref(), Some("unknown_team"));
    check_schema(&doc, "Error", &unknown.json(), "error");

    // Explanations: a team's direct cost by rule (payments), lines no rule
    // matched (`rule: null`, unallocated), as JSON and CSV, and both 404s.
    let explain = op("/api/v1/teams/{team}/explain");
    let explain_headers = documented_csv_headers(explain);
    for team in ["payments", "unallocated"] {
        let q = [("month", month)];
        let json = server.call(explain, &[("team", team)], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, "Explanation", &v, "explanation");
        assert!(!v["items"].as_array().unwrap().is_empty(), "{v}");

        let csv = server
            .call(explain, &[("team", team)], &[q[0], ("format", "csv")])
            .await;
        assert_eq!(csv.status, 200);
        let header = csv.body.lines().next().unwrap_or_default();
        assert!(
            explain_headers.contains(header),
            "explanation CSV header `{header}` is not among the documented {explain_headers:?}"
        );
    }
    for (team, m, code) in [
        ("no-such-team", month, "unknown_team"),
        ("payments", "2001-01", "not_allocated"),
    ] {
        let reply = server
            .call(explain, &[("team", team)], &[("month", m)])
            .await;
        assert_eq!(reply.code().as_deref(), Some(code), "{}", reply.body);
        check_schema(&doc, "Error", &reply.json(), "error");
    }

    // Previews: the shipped rules, read from disk, change nothing in the
    // month the demo allocated with them.
    let preview = op("/api/v1/rules/preview");
    let preview_headers = documented_csv_headers(preview);
    let request_schema = preview.request_schema().expect("a documented request body");
    let shipped = serde_json::json!({ "files": shipped_rule_files() });
    check_against(&doc, request_schema, &shipped, "preview request");
    let q = [("month", month)];
    let json = server
        .call_with(preview, server.request(preview, &[], &q).json(&shipped))
        .await;
    assert_eq!(json.status, 200, "{}", json.body);
    let v = json.json();
    check_schema(&doc, "Preview", &v, "preview");
    let rows = v["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    assert!(
        rows.iter().all(|r| r["difference"] == "0.00"),
        "the rules the month was allocated with change nothing: {v}"
    );
    let csv = server
        .call_with(
            preview,
            server
                .request(preview, &[], &[q[0], ("format", "csv")])
                .json(&shipped),
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    let header = csv.body.lines().next().unwrap_or_default();
    assert!(
        preview_headers.contains(header),
        "preview CSV header `{header}` is not among the documented {preview_headers:?}"
    );
    let accept = server
        .call_with(
            preview,
            server
                .request(preview, &[], &q)
                .header(reqwest::header::ACCEPT, "text/csv")
                .json(&shipped),
        )
        .await;
    assert_eq!(accept.body, csv.body, "Accept: text/csv selects CSV");

    // The documented example body is a rule set the server accepts.
    let example = server.call(preview, &[], &q).await;
    assert_eq!(example.status, 200, "{}", example.body);
    check_schema(&doc, "Preview", &example.json(), "preview");

    // Invalid candidates (422), bad bodies (400) and an unallocated month
    // (404) are documented errors.
    let bad_rules =
        serde_json::json!({"files": {"r.toml": "[[rule]]\nname = \"a\"\nteam = \"Bad Team\"\n"}});
    check_against(&doc, request_schema, &bad_rules, "preview request");
    let cases: [(reqwest::RequestBuilder, u16, &str); 4] = [
        (
            server.request(preview, &[], &q).json(&bad_rules),
            422,
            "invalid_rules",
        ),
        (
            server
                .request(preview, &[], &q)
                .json(&serde_json::json!({"files": {}})),
            400,
            "invalid_body",
        ),
        (
            server
                .request(preview, &[], &q)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("not json"),
            400,
            "invalid_body",
        ),
        (
            server
                .request(preview, &[], &[("month", "2001-01")])
                .json(&shipped),
            404,
            "not_allocated",
        ),
    ];
    for (request, status, code) in cases {
        let reply = server.call_with(preview, request).await;
        assert_eq!(
            (reply.status, reply.code().as_deref()),
            (status, Some(code)),
            "{}: {}",
            reply.what,
            reply.body
        );
        check_schema(&doc, "Error", &reply.json(), "error");
    }

    // Pool shares: allocate the month again with the lines no rule matched
    // sent to a pool, and explain a team that receives a share.
    let mut sources: Vec<(std::path::PathBuf, String)> = shipped_rule_files()
        .into_iter()
        .map(|(name, text)| (name.into(), text.as_str().unwrap().to_string()))
        .collect();
    sources.push((
        "99-pool.toml".into(),
        r#"[[pool]]
name = "leftovers"
method = "proportional"
targets = ["payments", "search"]

[[rule]]
name = "leftovers"
pool = "leftovers"
"#
        .to_string(),
    ));
    let rules = allot::rules::check(&sources).unwrap_or_else(|e| panic!("the pool rules: {e}"));
    allot::service::allocate_month(
        &store,
        &rules,
        allot::domain::Month::parse(month).unwrap(),
        allot::domain::CostBasis::Effective,
    )
    .await
    .expect("allocate with a pool");
    let json = server
        .call(explain, &[("team", "payments")], &[("month", month)])
        .await;
    assert_eq!(json.status, 200, "{}", json.body);
    let v = json.json();
    check_schema(&doc, "Explanation", &v, "explanation");
    let items = v["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["source"] == "pool")
            && items.iter().any(|i| i["source"] == "direct"),
        "payments has direct cost and a pool share: {v}"
    );
    let csv = server
        .call(
            explain,
            &[("team", "payments")],
            &[("month", month), ("format", "csv")],
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    let header = csv.body.lines().next().unwrap_or_default();
    assert!(explain_headers.contains(header), "{header}");
}

/// Values a hostile client puts in parameters: SQL, wildcards, escapes,
/// control and bidirectional characters, paths, and long values (within
/// the URI limit).
fn hostile_values() -> Vec<String> {
    vec![
        "' OR '1'='1".into(),
        "\"; DROP TABLE cost_lines; --".into(),
        "2026-10' UNION SELECT secret_hash FROM api_tokens --".into(),
        "%".into(),
        "_".into(),
        "\\".into(),
        "\0".into(),
        "../../etc/passwd".into(),
        "\u{202e}lanigiro".into(),
        "x".repeat(10_000),
        "9".repeat(4_000),
    ]
}

/// Every character but ASCII letters and digits, percent-encoded.
fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Each hostile value in each parameter of each documented operation (the
/// others at their examples), on a database holding the demo month: every
/// answer is a documented client error or success, never a 5xx, and the
/// data is intact afterwards (nothing was injected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_in_every_parameter_are_refused_never_a_500() {
    let doc = document();
    let ops = operations(&doc);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("allot.db").display());
    let store = Store::connect(&url).await.unwrap();
    crate::common::allocated_demo(&store).await;
    let server = Server::start(store).await;
    let before = server
        .get("/api/v1/showback", &[("month", "2026-10")])
        .await
        .json();
    let mut calls = 0;
    for op in &ops {
        let pv = path_values(op);
        let required = required_query(op);
        for p in &op.params {
            for value in hostile_values() {
                let reply = if p.location == "path" {
                    let encoded = percent_encoded(&value);
                    let pv: Vec<(&str, &str)> = pv
                        .iter()
                        .map(|(n, v)| {
                            if *n == p.name {
                                (*n, encoded.as_str())
                            } else {
                                (*n, *v)
                            }
                        })
                        .collect();
                    server.call(op, &pv, &required).await
                } else {
                    let mut q: Vec<(&str, &str)> = required
                        .iter()
                        .filter(|(n, _)| *n != p.name)
                        .copied()
                        .collect();
                    q.push((p.name.as_str(), value.as_str()));
                    server.call(op, &pv, &q).await
                };
                calls += 1;
                let shown: String = value.chars().take(40).collect();
                assert!(
                    reply.status < 500,
                    "{} `{}` = `{shown}`: {} {}",
                    op.path,
                    p.name,
                    reply.status,
                    reply.body
                );
                if reply.status >= 400 {
                    assert!(
                        reply.code().is_some(),
                        "{}: not the documented error body: {}",
                        op.path,
                        reply.body
                    );
                    assert!(
                        reply.body.len() < 4_000,
                        "{} `{}`: an answer of {} bytes echoes the value",
                        op.path,
                        p.name,
                        reply.body.len()
                    );
                }
            }
        }
    }
    assert!(
        calls > 100,
        "only {calls} calls: the document lost its parameters?"
    );
    let after = server
        .get("/api/v1/showback", &[("month", "2026-10")])
        .await
        .json();
    assert_eq!(before["totals"], after["totals"], "the data is intact");
}
