//! Prometheus metric source: each configured PromQL query is read through
//! the HTTP API (`/api/v1/query_range`, one step per UTC day) over the
//! last complete days. The value of day D is the query evaluated at the
//! last millisecond of D (23:59:59.999 UTC), so a `[1d]` range covers that
//! day, its midnight sample included and the next day's excluded, on
//! Prometheus 2 (whose ranges include both ends) as on 3:
//! `sum by (team) (increase(orders_total[1d]))` gives each team's orders
//! of the day. With a `scope_label`, each series' value of that label
//! names its team, group or environment; without, the query must return
//! at most one series: the organisation's. Answers are bounded (time,
//! bytes, series, points), a sample at a time that was not asked for or an
//! answer with warnings (partial data) is refused, and every value is
//! checked as a file row is; nothing is stored here (`service::metrics`
//! stores the whole batch at once).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::prelude::ToPrimitive;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::ImportError;
use super::metrics::{Collected, MetricQuery};
use crate::domain::{MetricDef, MetricName, MetricPoint};

/// The longest answer read from Prometheus for one query.
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// The most series one query may return.
pub const MAX_SERIES: usize = 20_000;
/// How long one query may take, connection included.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// The days a run reads: the `days` complete UTC days before `today`.
pub fn window(today: NaiveDate, days: u32) -> (NaiveDate, NaiveDate) {
    let last = today.pred_opt().unwrap_or(today);
    let first = last - chrono::Duration::days(i64::from(days.max(1)) - 1);
    (first, last)
}

/// A client for Prometheus's API.
pub fn client() -> Result<reqwest::Client, ImportError> {
    reqwest::Client::builder()
        .timeout(QUERY_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ImportError::Remote {
            service: "prometheus".into(),
            message: format!("cannot build an HTTP client: {e}"),
        })
}

/// An API answer (<https://prometheus.io/docs/prometheus/latest/querying/api/>).
#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Matrix>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Matrix {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(serde_json::Number, String)>,
}

/// Reads every query of a source from the Prometheus at `base` over the
/// days `first..=last`, checked against `declared`. `name` is the source's.
pub async fn fetch(
    client: &reqwest::Client,
    name: &str,
    base: &str,
    queries: &[MetricQuery],
    declared: &BTreeMap<MetricName, MetricDef>,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<Vec<MetricPoint>, ImportError> {
    let mut points = Collected::new(declared, format!("prometheus source `{name}`"));
    let mut days = HashMap::new();
    let mut day = first;
    while day <= last {
        days.insert(evaluated_at(day), day);
        day = day.succ_opt().unwrap_or(last + chrono::Duration::days(1));
    }
    let shown = shown(base);
    for q in queries {
        let answer = query_range(client, base, &shown, &q.query, (first, last))
            .await
            .map_err(|message| points.error(format!("metric `{}`: {message}", q.metric)))?;
        add_series(&mut points, q, answer, &days)?;
    }
    Ok(points.into_points())
}

/// The Unix time in milliseconds at which day `day` is evaluated: its last
/// millisecond.
fn evaluated_at(day: NaiveDate) -> i64 {
    day.succ_opt()
        .unwrap_or(day)
        .and_time(NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
        - 1
}

/// Milliseconds as the API writes seconds: `1796255999.999`.
fn seconds(millis: i64) -> String {
    format!("{}.{:03}", millis.div_euclid(1000), millis.rem_euclid(1000))
}

/// `base` without user name or password, for messages.
pub fn shown(base: &str) -> String {
    match reqwest::Url::parse(base) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "the configured URL".to_string(),
    }
}

/// One `query_range` request, its answer bounded and decoded.
async fn query_range(
    client: &reqwest::Client,
    base: &str,
    shown: &str,
    query: &str,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<Vec<Series>, String> {
    let target = format!("{}/api/v1/query_range", base.trim_end_matches('/'));
    // Messages name the server without its credentials.
    let url = format!("{shown}/api/v1/query_range");
    let mut response = client
        .get(&target)
        .query(&[
            ("query", query),
            ("start", &seconds(evaluated_at(first))),
            ("end", &seconds(evaluated_at(last))),
            ("step", "86400"),
            // Thanos and Cortex: fail rather than answer with some stores missing.
            ("partial_response", "false"),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach `{url}`: {}", without_url(&e)))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("`{url}` stopped answering: {}", without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the answer is larger than {} MiB: narrow the query (aggregate with `sum by (...)`) or lower `lookback_days`",
                MAX_RESPONSE_BYTES >> 20
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "`{url}` answered HTTP {status} with something other than Prometheus's API JSON ({e}): check that `url` is the Prometheus base URL"
        )
    })?;
    if answer.status != "success" {
        return Err(format!(
            "Prometheus refused the query ({}): {}",
            answer.error_type.as_deref().unwrap_or("error"),
            answer.error.as_deref().unwrap_or("no message")
        ));
    }
    if !answer.warnings.is_empty() {
        return Err(format!(
            "Prometheus answered with warnings, so the data may be partial: {}",
            answer.warnings.join("; ")
        ));
    }
    let matrix = answer
        .data
        .ok_or_else(|| "Prometheus answered success without data".to_string())?;
    if matrix.result_type != "matrix" {
        return Err(format!(
            "expected a range vector (matrix) answer, found `{}`",
            matrix.result_type
        ));
    }
    if matrix.result.len() > MAX_SERIES {
        return Err(format!(
            "the query returned {} series, more than {MAX_SERIES}: aggregate it with `sum by (...)`",
            matrix.result.len()
        ));
    }
    Ok(matrix.result)
}

/// An HTTP error's text without its URL (the query string is long).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The labels of a series as PromQL writes them: `{team="checkout"}`.
fn labels(series: &Series) -> String {
    let inner: Vec<String> = series
        .metric
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Adds the points of one query's series.
fn add_series(
    points: &mut Collected<'_>,
    q: &MetricQuery,
    answer: Vec<Series>,
    days: &HashMap<i64, NaiveDate>,
) -> Result<(), ImportError> {
    let mut scopes: BTreeMap<String, String> = BTreeMap::new();
    for series in &answer {
        let scope = match &q.scope {
            Some(label) => {
                let value = series.metric.get(&label.label).ok_or_else(|| {
                    points.error(format!(
                        "metric `{}`: the series {} has no label `{}`: keep it in the query's `by (...)` or remove `scope_label`",
                        q.metric,
                        labels(series),
                        label.label
                    ))
                })?;
                label.scope_of(value)
            }
            None => String::new(),
        };
        if let Some(other) = scopes.insert(scope.clone(), labels(series)) {
            let hint = match &q.scope {
                Some(label) => format!("aggregate them with `sum by ({}) (...)`", label.label),
                None => "aggregate them with `sum(...)`, or set `scope_label` to the label that names each series' team".to_string(),
            };
            return Err(points.error(format!(
                "metric `{}`: the series {other} and {} are both {}: {hint}",
                q.metric,
                labels(series),
                if scope.is_empty() {
                    "the organisation".to_string()
                } else {
                    format!("scope `{scope}`")
                }
            )));
        }
        for (at, value) in &series.values {
            // Only the times asked for: each is one day's end.
            let day = at
                .to_string()
                .parse::<rust_decimal::Decimal>()
                .ok()
                .and_then(|t| (t * rust_decimal::Decimal::ONE_THOUSAND).round().to_i64())
                .and_then(|ms| days.get(&ms).copied())
                .ok_or_else(|| {
                    points.error(format!(
                        "metric `{}`: the series {} has a sample at `{at}`, which is not the end of a day asked for",
                        q.metric,
                        labels(series)
                    ))
                })?;
            let place = || format!("metric `{}` series {} on {day}", q.metric, labels(series));
            if matches!(value.as_str(), "NaN" | "+Inf" | "-Inf" | "Inf") {
                return Err(points.error(format!(
                    "{}: the value is `{value}`: make the query return a number every day (for a ratio, guard its divisor)",
                    place()
                )));
            }
            points.push(&day.to_string(), &q.metric, value, &scope, place)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reads_the_complete_days_before_today() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let (first, last) = window(today, 35);
        assert_eq!(last, NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 10, 29).unwrap());
        assert_eq!(window(today, 1), (last, last));
        // Day D is evaluated at its last millisecond.
        assert_eq!(seconds(evaluated_at(last)), "1796255999.999");
        assert_eq!(
            chrono::DateTime::from_timestamp_millis(evaluated_at(last))
                .unwrap()
                .to_string(),
            "2026-12-02 23:59:59.999 UTC"
        );
    }

    #[test]
    fn messages_show_the_server_without_its_credentials() {
        assert_eq!(shown("http://user:s3cret@prom:9090"), "http://prom:9090");
        assert_eq!(
            shown("https://prom.internal/prometheus"),
            "https://prom.internal/prometheus"
        );
        assert_eq!(shown("not a url"), "the configured URL");
    }

    #[test]
    fn a_sample_at_a_time_not_asked_for_is_refused_without_a_panic() {
        let declared: BTreeMap<MetricName, MetricDef> = [(
            MetricName::parse("orders").unwrap(),
            MetricDef {
                name: MetricName::parse("orders").unwrap(),
                unit: "order".into(),
                description: String::new(),
                aggregation: crate::domain::Aggregation::Sum,
            },
        )]
        .into();
        let q = MetricQuery {
            metric: MetricName::parse("orders").unwrap(),
            query: "x".into(),
            scope: None,
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let days: HashMap<i64, NaiveDate> = [(evaluated_at(day), day)].into();
        let series = |at: &str| {
            let json = format!("{{\"metric\": {{}}, \"values\": [[{at}, \"5\"]]}}");
            vec![serde_json::from_str::<Series>(&json).unwrap()]
        };
        let mut points = Collected::new(&declared, "test".into());
        add_series(&mut points, &q, series("1796255999.999"), &days).unwrap();
        assert_eq!(points.len(), 1);
        for at in [
            "1600041600",
            "-1e300",
            "-9223372036854775808",
            "1e300",
            "1796256000",
        ] {
            let mut points = Collected::new(&declared, "test".into());
            let e = add_series(&mut points, &q, series(at), &days).unwrap_err();
            assert!(
                e.to_string()
                    .contains("which is not the end of a day asked for"),
                "{at}: {e}"
            );
        }
    }
}
