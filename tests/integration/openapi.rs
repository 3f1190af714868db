//! Keeps `api/openapi.yaml` in step with the server.
//!
//! axum does not list its routes, so these tests start the real server on a
//! free port and ask it: every documented path must be served (never the
//! fallback `not_found`), a made-up one must not be, every documented query
//! parameter must be accepted and the server must accept no other, every
//! path must answer the methods it documents and reject the others with
//! `405 method_not_allowed`, the documented error codes must be the ones the
//! server has, and the JSON and CSV the server sends must have the documented
//! shapes.
//!
//! The document is read with plain string processing (indentation and
//! `key: value` lines), so it must keep the block style it is written in:
//! list items indented under their key, enums and `required` as flow lists,
//! multi-line strings as `|` block scalars.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use allot::app::Application;
use allot::store::Store;
use serde_json::Value;

const DOC: &str = include_str!("../../api/openapi.yaml");
const ERROR_RS: &str = include_str!("../../src/http/error.rs");
const HTTP_MOD_RS: &str = include_str!("../../src/http/mod.rs");
const WIRE_RS: &str = include_str!("../../src/http/wire.rs");

// ---------------------------------------------------------------------------
// Reading the document.

/// One non-blank, non-comment line of the document.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    /// Its index in `doc.lines()`.
    no: usize,
    indent: usize,
    text: &'a str,
}

fn outline(doc: &str) -> Vec<Line<'_>> {
    doc.lines()
        .enumerate()
        .filter_map(|(no, l)| {
            let text = l.trim_start();
            (!text.is_empty() && !text.starts_with('#')).then(|| Line {
                no,
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

/// The text of the `key: |` block scalar on `line`, read from the raw
/// document (the outline drops blank and `#` lines, which are text here),
/// with YAML's default "clip" chomping: one final line break.
fn block_scalar(line: &Line<'_>) -> String {
    let raw: Vec<&str> = DOC.lines().collect();
    let body: Vec<&str> = raw[line.no + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > line.indent)
        .copied()
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text: Vec<&str> = body.iter().map(|l| l.get(indent..).unwrap_or("")).collect();
    while text.last().is_some_and(|l| l.trim().is_empty()) {
        text.pop();
    }
    text.join("\n") + "\n"
}

/// A block of `key: value` lines (such as an `example`) as JSON: nested
/// mappings, `|` block scalars, flow lists of strings, and scalars (quoted
/// or plain strings, `null`, `true`, `false`, integers).
fn yaml_value(block: &[Line<'_>]) -> Value {
    let mut map = serde_json::Map::new();
    for (l, rest) in entries(block) {
        assert!(
            !l.text.starts_with("- "),
            "api/openapi.yaml line {}: teach this test block lists in examples",
            l.no + 1
        );
        let raw = l.text.split_once(": ").map(|(_, v)| v.trim());
        let v = match raw {
            None => yaml_value(rest),
            Some("|") => Value::String(block_scalar(&l)),
            Some(s) if s.starts_with('|') || s.starts_with('>') => panic!(
                "api/openapi.yaml line {}: teach this test the block scalar `{s}`",
                l.no + 1
            ),
            Some(s) if s.starts_with('[') => {
                Value::Array(flow_list(s).into_iter().map(Value::String).collect())
            }
            Some(s) if s.starts_with(['\'', '"']) => Value::String(unquote(s).to_string()),
            Some("null" | "~") => Value::Null,
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            Some(s) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(s.to_string())),
        };
        map.insert(key(&l).to_string(), v);
    }
    Value::Object(map)
}

/// The methods this test knows, lower case as the document writes them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

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

    /// The schema of the documented `application/json` request body.
    fn request_schema(&self) -> Option<&'d [Line<'static>]> {
        let content = child(child(self.block, "requestBody")?, "content")?;
        let types: Vec<&str> = entries(content).iter().map(|(l, _)| key(l)).collect();
        assert_eq!(
            types,
            ["application/json"],
            "{} {}: teach this test request bodies other than JSON",
            self.method,
            self.path
        );
        child(child(content, "application/json")?, "schema")
    }

    /// The body this test sends when it calls the operation: the documented
    /// request body example; for a `post` that documents a body but no
    /// example, a minimal valid rule set; nothing otherwise.
    fn request_body(&self) -> Option<Value> {
        let json = child(self.block, "requestBody")
            .and_then(|b| child(b, "content"))
            .and_then(|c| child(c, "application/json"));
        // An example written inline is JSON (valid YAML flow syntax).
        let inline = json
            .and_then(|j| child_value(j, "example"))
            .filter(|v| v.starts_with('{'))
            .map(|v| serde_json::from_str::<Value>(v).expect("an inline JSON example"));
        let example = inline.or_else(|| json.and_then(|j| child(j, "example")).map(yaml_value));
        match example {
            Some(body) => Some(body),
            None if self.method == "post" && child(self.block, "requestBody").is_some() => {
                Some(minimal_rules())
            }
            None => None,
        }
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
            assert!(
                METHODS.contains(&key(&method_line)),
                "{}: teach this test the path item field `{}`",
                key(&path_line),
                key(&method_line)
            );
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
    fn url(&self, op: &Op<'_>, path_values: &[(&str, &str)]) -> String {
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
        op: &Op<'_>,
        path_values: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method(&op.method), self.url(op, path_values))
            .query(query)
    }

    /// Calls a documented operation with its documented method (and, for
    /// one that takes a body, [`Op::request_body`]); see [`Server::call_with`].
    async fn call(
        &self,
        doc: &[Line<'static>],
        op: &Op<'_>,
        path_values: &[(&str, &str)],
        query: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.request(op, path_values, query);
        if let Some(body) = op.request_body() {
            request = request.json(&body);
        }
        self.call_with(doc, op, request).await
    }

    /// Sends a request for a documented operation and checks that the
    /// server routes it (the answer is neither the fallback's `not_found`
    /// nor `method_not_allowed`) and that the status and content type of the
    /// answer are documented for the operation.
    async fn call_with(
        &self,
        doc: &[Line<'static>],
        op: &Op<'_>,
        request: reqwest::RequestBuilder,
    ) -> Reply {
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
        let response = op.response(doc, reply.status).unwrap_or_else(|| {
            panic!(
                "{what}: status not documented for {} {}",
                op.method, op.path
            )
        });
        if let Some(content) = child(response, "content") {
            let documented: Vec<&str> = entries(content).iter().map(|(l, _)| key(l)).collect();
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
fn path_values(op: &Op<'_>) -> Vec<(&'static str, &'static str)> {
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
// uses: $ref, object with additionalProperties, array, boolean, integer,
// string with enum, format and pattern, nullable).

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
            // `additionalProperties`: absent or `false` (no other fields),
            // `true` (any), or a schema for every other field's value.
            let additional = match child_value(schema, "additionalProperties") {
                None => child(schema, "additionalProperties").map(Some),
                Some("false") => None,
                Some("true") => Some(None),
                Some(other) => panic!("{at_}: teach this test `additionalProperties: {other}`"),
            };
            for (k, field) in obj {
                if documented.contains(&k.as_str()) {
                    continue;
                }
                match additional {
                    Some(Some(sub)) => check_schema(doc, sub, field, &format!("{at_}.{k}")),
                    Some(None) => {}
                    None => panic!("{at_}: field `{k}` is not documented ({documented:?})"),
                }
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
        Some("integer") => {
            assert!(
                v.is_i64() || v.is_u64(),
                "{at_}: expected an integer, found {v}"
            );
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

/// A schema of `components/schemas`.
fn schema<'d>(doc: &'d [Line<'static>], name: &str) -> &'d [Line<'static>] {
    at(doc, &["components", "schemas", name])
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
        // What this test sends as a body is what the document says to send.
        if let Some(body) = op.request_body() {
            let schema = op.request_schema().unwrap_or_else(|| {
                panic!(
                    "{} {}: a body is sent but none is documented",
                    op.method, op.path
                )
            });
            check_schema(
                &doc,
                schema,
                &body,
                &format!("{} {} request body", op.method, op.path),
            );
        }
        let reply = server
            .call(&doc, op, &path_values(op), &required_query(op))
            .await;
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
    let mut by_path: BTreeMap<&str, (&Op<'_>, BTreeSet<&str>)> = BTreeMap::new();
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
            check_schema(
                &doc,
                schema(&doc, "Error"),
                &reply.json(),
                &format!("{m} {path}"),
            );
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
    let dir = tempfile::tempdir().unwrap();
    let prepared = allot::demo::prepare(&dir.path().join("demo.db"))
        .await
        .expect("prepare the demo database");
    let store = prepared.store.clone();
    let server = Server::start(prepared.store).await;
    let month = allot::demo::MONTH;

    let health = server.call(&doc, op("/healthz"), &[], &[]).await;
    assert_eq!(health.status, 200);
    check_schema(&doc, schema(&doc, "Health"), &health.json(), "healthz");

    let showback = op("/api/v1/showback");
    let showback_headers = documented_csv_headers(&doc, showback);
    for group_by in ["team", "team,service"] {
        let q = [("month", month), ("group_by", group_by)];
        let json = server.call(&doc, showback, &[], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, schema(&doc, "Showback"), &v, "showback");
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
        .call(&doc, showback, &[], &[("month", "2001-01")])
        .await;
    assert_eq!(not_allocated.code().as_deref(), Some("not_allocated"));
    check_schema(&doc, schema(&doc, "Error"), &not_allocated.json(), "error");

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
        check_schema(&doc, schema(&doc, "TeamCosts"), &v, "team costs");
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
    check_schema(&doc, schema(&doc, "Error"), &unknown.json(), "error");

    // Explanations: a team's direct cost by rule (payments), lines no rule
    // matched (`rule: null`, unallocated), as JSON and CSV, and both 404s.
    let explain = op("/api/v1/teams/{team}/explain");
    let explain_headers = documented_csv_headers(&doc, explain);
    for team in ["payments", "unallocated"] {
        let q = [("month", month)];
        let json = server.call(&doc, explain, &[("team", team)], &q).await;
        assert_eq!(json.status, 200, "{}", json.body);
        let v = json.json();
        check_schema(&doc, schema(&doc, "Explanation"), &v, "explanation");
        assert!(!v["items"].as_array().unwrap().is_empty(), "{v}");

        let csv = server
            .call(&doc, explain, &[("team", team)], &[q[0], ("format", "csv")])
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
            .call(&doc, explain, &[("team", team)], &[("month", m)])
            .await;
        assert_eq!(reply.code().as_deref(), Some(code), "{}", reply.body);
        check_schema(&doc, schema(&doc, "Error"), &reply.json(), "error");
    }

    // Previews: the shipped rules, read from disk, change nothing in the
    // month the demo allocated with them.
    let preview = op("/api/v1/rules/preview");
    let preview_headers = documented_csv_headers(&doc, preview);
    let request_schema = preview.request_schema().expect("a documented request body");
    let shipped = serde_json::json!({ "files": shipped_rule_files() });
    check_schema(&doc, request_schema, &shipped, "preview request");
    let q = [("month", month)];
    let json = server
        .call_with(
            &doc,
            preview,
            server.request(preview, &[], &q).json(&shipped),
        )
        .await;
    assert_eq!(json.status, 200, "{}", json.body);
    let v = json.json();
    check_schema(&doc, schema(&doc, "Preview"), &v, "preview");
    let rows = v["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    assert!(
        rows.iter().all(|r| r["difference"] == "0.00"),
        "the rules the month was allocated with change nothing: {v}"
    );
    let csv = server
        .call_with(
            &doc,
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
            &doc,
            preview,
            server
                .request(preview, &[], &q)
                .header(reqwest::header::ACCEPT, "text/csv")
                .json(&shipped),
        )
        .await;
    assert_eq!(accept.body, csv.body, "Accept: text/csv selects CSV");

    // The documented example body is a rule set the server accepts.
    let example = server.call(&doc, preview, &[], &q).await;
    assert_eq!(example.status, 200, "{}", example.body);
    check_schema(&doc, schema(&doc, "Preview"), &example.json(), "preview");

    // Invalid candidates (422), bad bodies (400) and an unallocated month
    // (404) are documented errors.
    let bad_rules =
        serde_json::json!({"files": {"r.toml": "[[rule]]\nname = \"a\"\nteam = \"Bad Team\"\n"}});
    check_schema(&doc, request_schema, &bad_rules, "preview request");
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
        let reply = server.call_with(&doc, preview, request).await;
        assert_eq!(
            (reply.status, reply.code().as_deref()),
            (status, Some(code)),
            "{}: {}",
            reply.what,
            reply.body
        );
        check_schema(&doc, schema(&doc, "Error"), &reply.json(), "error");
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
        .call(&doc, explain, &[("team", "payments")], &[("month", month)])
        .await;
    assert_eq!(json.status, 200, "{}", json.body);
    let v = json.json();
    check_schema(&doc, schema(&doc, "Explanation"), &v, "explanation");
    let items = v["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["source"] == "pool")
            && items.iter().any(|i| i["source"] == "direct"),
        "payments has direct cost and a pool share: {v}"
    );
    let csv = server
        .call(
            &doc,
            explain,
            &[("team", "payments")],
            &[("month", month), ("format", "csv")],
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    let header = csv.body.lines().next().unwrap_or_default();
    assert!(explain_headers.contains(header), "{header}");
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

    // The codes `ApiError` maps to (`(StatusCode::..., "code")`, possibly
    // across lines), the router's fallback (`"code": "..."`) and the
    // bodies given to hyper's own errors (`http::wire`: a `"code",` line).
    let mut served = BTreeSet::new();
    for part in ERROR_RS.split("(StatusCode::").skip(1) {
        let literal = part
            .split_once(',')
            .and_then(|(_, rest)| rest.trim_start().strip_prefix('"'))
            .and_then(|r| r.split('"').next());
        if let Some(c) = literal {
            served.insert(c.to_string());
        }
    }
    for part in HTTP_MOD_RS.split("\"code\": \"").skip(1) {
        served.insert(part.split('"').next().unwrap_or_default().to_string());
    }
    let wire = WIRE_RS.split("#[cfg(test)]").next().unwrap_or_default();
    for line in wire.lines().map(str::trim) {
        let literal = line.strip_prefix('"').and_then(|l| l.strip_suffix("\","));
        if let Some(c) =
            literal.filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        {
            served.insert(c.to_string());
        }
    }
    assert_eq!(
        documented, served,
        "error codes: documented vs. src/http/error.rs and the fallback in src/http/mod.rs"
    );
    for c in &documented {
        assert!(
            [ERROR_RS, HTTP_MOD_RS, WIRE_RS]
                .iter()
                .any(|s| s.contains(&format!("\"{c}\""))),
            "error code `{c}` is documented but not in src/http/"
        );
    }
}

/// Every route the server declares (`.route("PATH", METHOD(handler))` in
/// `src/http/`) is documented with that method, and every documented
/// operation is declared: a new endpoint cannot ship undocumented.
#[test]
fn documented_operations_are_exactly_the_declared_routes() {
    let doc = outline(DOC);
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|op| (op.path.clone(), op.method.clone()))
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for chunk in source.split(".route(\"").skip(1) {
            let (path, rest) = chunk.split_once('"').unwrap();
            let rest = rest.trim_start_matches(',').trim_start();
            let method = rest.split('(').next().unwrap().trim().to_string();
            declared.insert((path.to_string(), method));
        }
    }
    assert!(declared.len() >= 7, "routes found: {declared:?}");
    assert_eq!(
        documented, declared,
        "documented operations vs `.route(...)` in src/http"
    );
}
