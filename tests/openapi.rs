//! Keeps `api/openapi.yaml` in step with the server.
//!
//! axum does not list its routes, so these tests start the real server on a
//! free port and ask it: every documented path must be served (never the
//! fallback `not_found`), a made-up one must not be, every documented query
//! parameter must be accepted and the server must accept no other, the
//! documented error codes must be the ones the server has, and the JSON and
//! CSV the server sends must have the documented shapes.
//!
//! The document is read with plain string processing (indentation and
//! `key: value` lines), so it must keep the block style it is written in:
//! list items indented under their key, enums and `required` as flow lists.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use allot::app::Application;
use allot::store::Store;
use serde_json::Value;

const DOC: &str = include_str!("../api/openapi.yaml");
const ERROR_RS: &str = include_str!("../src/http/error.rs");
const HTTP_MOD_RS: &str = include_str!("../src/http/mod.rs");

// ---------------------------------------------------------------------------
// Reading the document.

/// One non-blank, non-comment line of the document.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

fn outline(doc: &str) -> Vec<Line<'_>> {
    doc.lines()
        .filter_map(|l| {
            let text = l.trim_start();
            (!text.is_empty() && !text.starts_with('#')).then(|| Line {
                indent: l.len() - text.len(),
                text: text.trim_end(),
            })
        })
        .collect()
}

/// The entries of a block: each line at the block's smallest indentation,
/// with the lines nested under it.
fn entries<'a, 'b>(block: &'b [Line<'a>]) -> Vec<(Line<'a>, &'b [Line<'a>])> {
    let Some(level) = block.iter().map(|l| l.indent).min() else {
        return Vec::new();
    };
    let starts: Vec<usize> = (0..block.len())
        .filter(|&i| block[i].indent == level)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let end = starts.get(n + 1).copied().unwrap_or(block.len());
            (block[i], &block[i + 1..end])
        })
        .collect()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The key of a `key:` or `key: value` line (also after a list dash).
fn key<'a>(line: &Line<'a>) -> &'a str {
    let t = line.text.strip_prefix("- ").unwrap_or(line.text);
    match t.split_once(": ") {
        Some((k, _)) => unquote(k),
        None => unquote(t.strip_suffix(':').unwrap_or(t)),
    }
}

/// The scalar value of a `key: value` line.
fn value<'a>(line: &Line<'a>) -> Option<&'a str> {
    let t = line.text.strip_prefix("- ").unwrap_or(line.text);
    t.split_once(": ").map(|(_, v)| unquote(v))
}

fn child<'a, 'b>(block: &'b [Line<'a>], k: &str) -> Option<&'b [Line<'a>]> {
    entries(block)
        .into_iter()
        .find(|(l, _)| key(l) == k)
        .map(|(_, rest)| rest)
}

fn child_value<'a>(block: &[Line<'a>], k: &str) -> Option<&'a str> {
    entries(block)
        .into_iter()
        .find(|(l, _)| key(l) == k)
        .and_then(|(l, _)| value(&l))
}

fn at<'a, 'b>(block: &'b [Line<'a>], keys: &[&str]) -> &'b [Line<'a>] {
    keys.iter().fold(block, |b, k| {
        child(b, k).unwrap_or_else(|| panic!("api/openapi.yaml: no `{}`", keys.join(" > ")))
    })
}

/// `[a, 'b,c']` -> `["a", "b,c"]`.
fn flow_list(v: &str) -> Vec<String> {
    let inner = v
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("expected a flow list `[...]`, found `{v}`"));
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in inner.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => items.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    items
}

/// A documented parameter.
#[derive(Debug)]
struct Param {
    name: String,
    location: String,
    required: bool,
    example: Option<String>,
    enum_values: Vec<String>,
}

/// A documented operation.
struct Op<'d> {
    path: String,
    method: String,
    params: Vec<Param>,
    /// The operation's lines (`parameters`, `responses`, ...).
    block: &'d [Line<'static>],
}

impl<'d> Op<'d> {
    fn query_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.location == "query")
    }

    /// The documented response (resolving `$ref`) for a status code.
    fn response(&self, doc: &'d [Line<'static>], status: u16) -> Option<&'d [Line<'static>]> {
        let responses = child(self.block, "responses").expect("operation without responses");
        let r = child(responses, &status.to_string())?;
        Some(match child_value(r, "$ref") {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                at(doc, &["components", "responses", name])
            }
            None => r,
        })
    }
}

fn operations<'d>(doc: &'d [Line<'static>]) -> Vec<Op<'d>> {
    let mut ops = Vec::new();
    for (path_line, path_block) in entries(at(doc, &["paths"])) {
        for (method_line, block) in entries(path_block) {
            let mut params = Vec::new();
            for (head, rest) in entries(child(block, "parameters").unwrap_or(&[])) {
                assert!(
                    head.text.starts_with("- "),
                    "parameters of {} must be a block list",
                    key(&path_line)
                );
                // The dash line is the item's first field.
                let mut fields = vec![(key(&head), value(&head))];
                fields.extend(entries(rest).iter().map(|(l, _)| (key(l), value(l))));
                let field = |k: &str| {
                    fields
                        .iter()
                        .find(|(fk, _)| *fk == k)
                        .and_then(|(_, v)| *v)
                        .map(str::to_string)
                };
                params.push(Param {
                    name: field("name").expect("parameter without name"),
                    location: field("in").expect("parameter without `in`"),
                    required: field("required").as_deref() == Some("true"),
                    example: field("example"),
                    enum_values: child(rest, "schema")
                        .and_then(|s| child_value(s, "enum"))
                        .map(flow_list)
                        .unwrap_or_default(),
                });
            }
            ops.push(Op {
                path: key(&path_line).to_string(),
                method: key(&method_line).to_string(),
                params,
                block,
            });
        }
    }
    assert!(!ops.is_empty(), "api/openapi.yaml documents no paths");
    ops
}

// ---------------------------------------------------------------------------
// Talking to the server.

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
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
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(store: Store) -> Server {
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let app = Application::build(store, listen).await.expect("bind");
        let addr = app.local_addr().expect("local address");
        tokio::spawn(app.run_until(std::future::pending()));
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
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
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// GETs a documented operation and checks that the server routes it
    /// (the answer is not the fallback's `not_found`) and that the status
    /// and content type of the answer are documented for it.
    async fn call(
        &self,
        doc: &[Line<'static>],
        op: &Op<'_>,
        path_values: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Reply {
        let mut path = op.path.clone();
        for (name, v) in path_values {
            path = path.replace(&format!("{{{name}}}"), v);
        }
        assert!(!path.contains('{'), "{path}: no value for a path parameter");
        let reply = self.get(&path, query).await;
        let what = format!("GET {path} {query:?} -> {} {}", reply.status, reply.body);
        assert_ne!(
            reply.code().as_deref(),
            Some("not_found"),
            "{what}: {} is documented but the server has no such route",
            op.path
        );
        let response = op
            .response(doc, reply.status)
            .unwrap_or_else(|| panic!("{what}: status not documented for {}", op.path));
        if let Some(content) = child(response, "content") {
            let documented: Vec<&str> = entries(content).iter().map(|(l, _)| key(l)).collect();
            let actual = reply
                .content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            assert!(
                documented.contains(&actual),
                "{what}: content type `{actual}` not documented ({documented:?})"
            );
        }
        reply
    }
}

/// Values for the path parameters of the documented paths.
fn path_values(op: &Op<'_>) -> Vec<(&'static str, &'static str)> {
    op.params
        .iter()
        .filter(|p| p.location == "path")
        .map(|p| match p.name.as_str() {
            "team" => ("team", "unallocated"),
            other => panic!("{}: teach this test a value for `{{{other}}}`", op.path),
        })
        .collect()
}

/// The required query parameters at their documented examples.
fn required_query<'p>(op: &'p Op<'_>) -> Vec<(&'p str, &'p str)> {
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

// ---------------------------------------------------------------------------
// Checking values against the documented schemas (the subset this document
// uses: $ref, object, array, boolean, string with enum, format and pattern,
// nullable).

fn check_schema(doc: &[Line<'_>], schema: &[Line<'_>], v: &Value, at_: &str) {
    if let Some(reference) = child_value(schema, "$ref") {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return check_schema(doc, at(doc, &["components", "schemas", name]), v, at_);
    }
    if v.is_null() {
        assert_eq!(
            child_value(schema, "nullable"),
            Some("true"),
            "{at_}: null, but the schema is not nullable"
        );
        return;
    }
    match child_value(schema, "type") {
        Some("object") => {
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("{at_}: expected an object, found {v}"));
            let props = child(schema, "properties").unwrap_or(&[]);
            let documented: Vec<&str> = entries(props).iter().map(|(l, _)| key(l)).collect();
            for k in obj.keys() {
                assert!(
                    documented.contains(&k.as_str()),
                    "{at_}: field `{k}` is not documented ({documented:?})"
                );
            }
            for r in child_value(schema, "required")
                .map(flow_list)
                .unwrap_or_default()
            {
                assert!(obj.contains_key(&r), "{at_}: required field `{r}` missing");
            }
            for (l, sub) in entries(props) {
                if let Some(field) = obj.get(key(&l)) {
                    check_schema(doc, sub, field, &format!("{at_}.{}", key(&l)));
                }
            }
        }
        Some("boolean") => {
            assert!(v.is_boolean(), "{at_}: expected a boolean, found {v}");
        }
        Some("array") => {
            let items = child(schema, "items").expect("array without items");
            let arr = v
                .as_array()
                .unwrap_or_else(|| panic!("{at_}: expected an array, found {v}"));
            for (i, e) in arr.iter().enumerate() {
                check_schema(doc, items, e, &format!("{at_}[{i}]"));
            }
        }
        Some("string") => {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("{at_}: expected a string, found {v}"));
            if let Some(values) = child_value(schema, "enum").map(flow_list) {
                assert!(
                    values.iter().any(|e| e == s),
                    "{at_}: `{s}` not in {values:?}"
                );
            }
            match child_value(schema, "format") {
                None => {}
                Some("date") => {
                    assert!(
                        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
                        "{at_}: `{s}` is not a date"
                    );
                }
                Some("date-time") => {
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                        "{at_}: `{s}` is not a date-time"
                    );
                }
                Some(other) => panic!("{at_}: teach this test the format `{other}`"),
            }
            if let Some(pattern) = child_value(schema, "pattern") {
                assert!(
                    matches_pattern(pattern, s),
                    "{at_}: `{s}` does not match `{pattern}`"
                );
            }
        }
        other => panic!("{at_}: teach this test the schema type {other:?}"),
    }
}

/// The document's patterns, checked without a regex engine.
fn matches_pattern(pattern: &str, s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match pattern {
        r"^-?[0-9]+\.[0-9]{2}$" => {
            let unsigned = s.strip_prefix('-').unwrap_or(s);
            matches!(unsigned.split_once('.'), Some((i, f)) if digits(i) && digits(f) && f.len() == 2)
        }
        r"^[0-9]{4}-(0[1-9]|1[0-2])$" => {
            matches!(s.split_once('-'), Some((y, m)) if y.len() == 4 && digits(y)
                && m.len() == 2 && digits(m) && (1..=12).contains(&m.parse::<u32>().unwrap_or(0)))
        }
        r"^[A-Z]{3}$" => s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()),
        other => panic!("teach this test the pattern `{other}`"),
    }
}

/// The first lines (CSV headers) of an operation's documented `text/csv`
/// examples.
fn documented_csv_headers(doc: &[Line<'static>], op: &Op<'_>) -> BTreeSet<String> {
    let csv = op
        .response(doc, 200)
        .and_then(|r| child(r, "content"))
        .and_then(|c| child(c, "text/csv"))
        .unwrap_or_else(|| panic!("{}: no text/csv response documented", op.path));
    let mut bodies = Vec::new();
    if let Some(example) = child(csv, "example") {
        bodies.push(example);
    }
    for (_, named) in entries(child(csv, "examples").unwrap_or(&[])) {
        bodies.extend(child(named, "value"));
    }
    bodies
        .iter()
        .filter_map(|b| b.first().map(|l| l.text.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn every_documented_path_is_served_and_nothing_else() {
    let doc = outline(DOC);
    assert_eq!(child_value(&doc, "openapi"), Some("3.0.3"));
    let ops = operations(&doc);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::empty(&dir).await;

    for op in &ops {
        assert_eq!(op.method, "get", "{}: the server only serves GET", op.path);
        let reply = server
            .call(&doc, op, &path_values(op), &required_query(op))
            .await;
        assert_ne!(
            reply.code().as_deref(),
            Some("not_found"),
            "{} is documented but falls through to the fallback: {}",
            op.path,
            reply.body
        );
        assert!(
            reply.status != 400 && reply.status < 500,
            "GET {} with its required parameters: {} {}",
            op.path,
            reply.status,
            reply.body
        );
        // Only GET (and HEAD) are routed; other methods are 405, not 404.
        let path = path_values(op).iter().fold(op.path.clone(), |p, (n, v)| {
            p.replace(&format!("{{{n}}}"), v)
        });
        let post = server
            .send(server.client.post(format!("{}{path}", server.base)))
            .await;
        assert_eq!(post.status, 405, "POST {path}: {}", post.body);
    }

    let documented: BTreeSet<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    for made_up in [
        "/api/v1/nonexistent",
        "/api/v1/showback/extra",
        "/api/v1/teams/unallocated",
        "/api/v2/showback",
    ] {
        assert!(!documented.contains(made_up));
        let reply = server.get(made_up, &[]).await;
        assert_eq!(reply.status, 404, "{made_up}: {}", reply.body);
        assert_eq!(reply.code().as_deref(), Some("not_found"), "{made_up}");
    }

    // The served document is this file.
    let served = server.get("/api/v1/openapi.yaml", &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type, "application/yaml");
    assert!(
        served.body == DOC,
        "the served document differs from api/openapi.yaml"
    );
}

#[tokio::test]
async fn documented_query_parameters_are_exactly_the_accepted_ones() {
    let doc = outline(DOC);
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
        let reply = server.call(&doc, op, &pv, &all).await;
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
                let reply = server.call(&doc, op, &pv, &q).await;
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
            let reply = server.call(&doc, op, &pv, &q).await;
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
        let reply = server.call(&doc, op, &pv, &q).await;
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
    let doc = outline(DOC);
    let ops = operations(&doc);
    let op = |path: &str| {
        ops.iter()
            .find(|o| o.path == path)
            .unwrap_or_else(|| panic!("{path} is not documented"))
    };
    let schema = |name: &str| at(&doc, &["components", "schemas", name]);
    let dir = tempfile::tempdir().unwrap();
    let prepared = allot::demo::prepare(&dir.path().join("demo.db"))
        .await
        .expect("prepare the demo database");
    let server = Server::start(prepared.store).await;
    let month = allot::demo::MONTH;

    let health = server.call(&doc, op("/healthz"), &[], &[]).await;
    assert_eq!(health.status, 200);
    check_schema(&doc, schema("Health"), &health.json(), "healthz");

    let showback = op("/api/v1/showback");
    let showback_headers = documented_csv_headers(&doc, showback);
    for group_by in ["team", "team,service"] {
        let q = [("month", month), ("group_by", group_by)];
        let json = server.call(&doc, showback, &[], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, schema("Showback"), &v, "showback");
        assert!(!v["rows"].as_array().unwrap().is_empty());

        let csv = server
            .call(&doc, showback, &[], &[q[0], q[1], ("format", "csv")])
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
    let not_allocated = server
        .call(&doc, showback, &[], &[("month", "1999-01")])
        .await;
    assert_eq!(not_allocated.code().as_deref(), Some("not_allocated"));
    check_schema(&doc, schema("Error"), &not_allocated.json(), "error");

    let costs = op("/api/v1/teams/{team}/costs");
    let costs_headers = documented_csv_headers(&doc, costs);
    let first = format!("{month}-01");
    for granularity in ["day", "month"] {
        let q = [
            ("from", first.as_str()),
            ("to", "2026-10-31"),
            ("granularity", granularity),
        ];
        let json = server.call(&doc, costs, &[("team", "payments")], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, schema("TeamCosts"), &v, "team costs");
        assert!(!v["points"].as_array().unwrap().is_empty());

        let csv = server
            .call(
                &doc,
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
    let unknown = server
        .call(&doc, costs, &[("team", "no-such-team")], &[])
        .await;
    assert_eq!(unknown.code().as_deref(), Some("unknown_team"));
    check_schema(&doc, schema("Error"), &unknown.json(), "error");
}

#[test]
fn documented_error_codes_are_the_servers() {
    let doc = outline(DOC);
    let code = at(
        &doc,
        &[
            "components",
            "schemas",
            "Error",
            "properties",
            "error",
            "properties",
            "code",
        ],
    );
    let documented: BTreeSet<String> = flow_list(child_value(code, "enum").expect("code enum"))
        .into_iter()
        .collect();

    // The codes `ApiError` maps to (`(StatusCode::..., "code")` lines) and
    // the router's fallback (`"code": "..."`).
    let mut served = BTreeSet::new();
    for line in ERROR_RS.lines().filter(|l| l.contains("StatusCode::")) {
        if let Some(c) = line.split('"').nth(1) {
            served.insert(c.to_string());
        }
    }
    for part in HTTP_MOD_RS.split("\"code\": \"").skip(1) {
        served.insert(part.split('"').next().unwrap_or_default().to_string());
    }
    assert_eq!(
        documented, served,
        "error codes: documented vs. src/http/error.rs and the fallback in src/http/mod.rs"
    );
    for c in &documented {
        assert!(
            ERROR_RS.contains(&format!("\"{c}\"")) || HTTP_MOD_RS.contains(&format!("\"{c}\"")),
            "error code `{c}` is documented but not in src/http/"
        );
    }
}
