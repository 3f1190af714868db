//! Telemetry: the counters and histograms a running `allot serve` exposes
//! at `GET /metrics` in Prometheus's text format (prometheus-client).
//!
//! One [`Telemetry`] per application, shared by its HTTP API and its
//! scheduler (never a global: two applications in one process, as in the
//! tests, count apart). What is counted:
//!
//! - HTTP requests by method, route (the matched route template, never the
//!   raw path, so a client cannot invent label values) and status, and
//!   their latency;
//! - failed authentications by reason;
//! - source runs and the rows they read, by source, trigger and outcome;
//! - how long each allocation a run stored took;
//! - anomalies raised (new ones only);
//! - alert deliveries by outcome;
//! - the database pool (read when scraped: [`PoolStats`]).
//!
//! Durations are seconds as `f64`, as Prometheus has them; no money is
//! ever counted here.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of [`Telemetry::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the request latency buckets.
const REQUEST_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds (seconds) of the allocation duration buckets.
const ALLOCATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    source: String,
    trigger: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The database pool as a scrape finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle and in use).
    pub open: u32,
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// What a finished source run did, as telemetry counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunCounted<'a> {
    pub source: &'a str,
    /// `schedule` or `manual`.
    pub trigger: &'static str,
    /// `succeeded` or `failed`.
    pub outcome: &'static str,
    pub rows: u64,
}

/// An application's counters; clones share them.
#[derive(Clone)]
pub struct Telemetry(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    auth_failures: Family<ReasonLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    rows: Family<RunLabels, Counter>,
    allocation: Histogram,
    anomalies: Counter,
    alerts: Family<OutcomeLabels, Counter>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("allot");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its answer, by method and route template",
            latency.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests refused for want of a valid token, by reason",
            auth_failures.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "source_runs",
            "Runs of configured sources, by source, trigger and outcome",
            runs.clone(),
        );
        let rows = Family::<RunLabels, Counter>::default();
        registry.register(
            "source_rows_read",
            "Rows the runs of configured sources read, by source, trigger and outcome",
            rows.clone(),
        );
        let allocation = Histogram::new(ALLOCATION_BUCKETS);
        registry.register(
            "allocation_duration_seconds",
            "Time to allocate and store a month (both views), per month allocated by a run",
            allocation.clone(),
        );
        let anomalies = Counter::default();
        registry.register(
            "anomalies_raised",
            "Anomalies detection found that were not known before",
            anomalies.clone(),
        );
        let alerts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "alert_deliveries",
            "Alert deliveries to webhooks: sent, to be retried, or given up",
            alerts.clone(),
        );
        Telemetry(Arc::new(Inner {
            registry,
            requests,
            latency,
            auth_failures,
            runs,
            rows,
            allocation,
            anomalies,
            alerts,
        }))
    }
}

/// `method` as a label: the standard methods, or `other` (a client cannot
/// make up label values).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Telemetry {
    /// Counts a request answered `status` after `elapsed`. `route` is the
    /// matched route template (`None`: no route matched, counted as
    /// `unmatched`).
    pub fn request(
        &self,
        method: &axum::http::Method,
        route: Option<&str>,
        status: u16,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        let route = route.unwrap_or("unmatched").to_string();
        self.0
            .latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.0
            .requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Counts a failed authentication; `reason` is one of a fixed set.
    pub fn auth_failure(&self, reason: &'static str) {
        self.0
            .auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a finished source run and the rows it read.
    pub fn run(&self, run: RunCounted<'_>) {
        let labels = RunLabels {
            source: run.source.to_string(),
            trigger: run.trigger,
            outcome: run.outcome,
        };
        self.0.runs.get_or_create(&labels).inc();
        self.0.rows.get_or_create(&labels).inc_by(run.rows);
    }

    /// Records how long allocating a month took.
    pub fn allocation(&self, elapsed: Duration) {
        self.0.allocation.observe(elapsed.as_secs_f64());
    }

    /// Counts `new` anomalies raised.
    pub fn anomalies_raised(&self, new: u64) {
        self.0.anomalies.inc_by(new);
    }

    /// Counts alert deliveries: `sent`, `retrying` (to be tried again) and
    /// `given_up`.
    pub fn alerts(&self, sent: u64, retrying: u64, given_up: u64) {
        for (outcome, n) in [
            ("sent", sent),
            ("retrying", retrying),
            ("given_up", given_up),
        ] {
            let counter = self.0.alerts.get_or_create(&OutcomeLabels { outcome });
            counter.inc_by(n);
        }
    }

    /// Everything counted, and `pool` as it is now, in Prometheus's text
    /// format ([`CONTENT_TYPE`]).
    pub fn encode(&self, pool: PoolStats) -> String {
        // The pool's figures are read at the scrape, into a registry of
        // their own: nothing stale is kept between scrapes.
        let mut now = Registry::with_prefix("allot");
        let connections = Family::<StateLabels, Gauge>::default();
        let in_use = pool.open.saturating_sub(pool.idle);
        connections
            .get_or_create(&StateLabels { state: "idle" })
            .set(i64::from(pool.idle));
        connections
            .get_or_create(&StateLabels { state: "in_use" })
            .set(i64::from(in_use));
        now.register(
            "db_connections",
            "Database pool connections, idle and in use",
            connections,
        );
        let max = Gauge::<i64>::default();
        max.set(i64::from(pool.max));
        now.register(
            "db_connections_max",
            "The most connections the database pool opens",
            max,
        );
        let info = prometheus_client::metrics::info::Info::new(vec![(
            "version",
            env!("CARGO_PKG_VERSION"),
        )]);
        now.register("build", "The running allot", info);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.0.registry);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &now);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolStats {
        PoolStats {
            open: 3,
            idle: 1,
            max: 8,
        }
    }

    #[test]
    fn what_is_counted_is_in_the_text_with_bounded_labels() {
        let t = Telemetry::default();
        let get = axum::http::Method::GET;
        t.request(
            &get,
            Some("/api/v1/showback"),
            200,
            Duration::from_millis(3),
        );
        t.request(
            &get,
            Some("/api/v1/showback"),
            200,
            Duration::from_millis(30),
        );
        let odd = axum::http::Method::from_bytes(b"BREW").unwrap();
        t.request(&odd, None, 404, Duration::from_millis(1));
        t.run(RunCounted {
            source: "bill",
            trigger: "schedule",
            outcome: "succeeded",
            rows: 408,
        });
        t.allocation(Duration::from_millis(120));
        t.anomalies_raised(2);
        t.alerts(1, 0, 0);
        t.auth_failure("invalid");
        let text = t.encode(pool());
        for line in [
            "allot_http_requests_total{method=\"GET\",route=\"/api/v1/showback\",status=\"200\"} 2",
            "allot_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1",
            "allot_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/showback\",le=\"0.005\"} 1",
            "allot_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/showback\"} 2",
            "allot_source_runs_total{source=\"bill\",trigger=\"schedule\",outcome=\"succeeded\"} 1",
            "allot_source_rows_read_total{source=\"bill\",trigger=\"schedule\",outcome=\"succeeded\"} 408",
            "allot_allocation_duration_seconds_bucket{le=\"0.25\"} 1",
            "allot_anomalies_raised_total 2",
            "allot_alert_deliveries_total{outcome=\"sent\"} 1",
            "allot_auth_failures_total{reason=\"invalid\"} 1",
            "allot_db_connections{state=\"in_use\"} 2",
            "allot_db_connections{state=\"idle\"} 1",
            "allot_db_connections_max 8",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(
            text.contains("# TYPE allot_http_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(text.contains("allot_build_info{version=\""), "{text}");
    }

    #[test]
    fn applications_count_apart() {
        let (a, b) = (Telemetry::default(), Telemetry::default());
        a.anomalies_raised(5);
        assert!(a.encode(pool()).contains("allot_anomalies_raised_total 5"));
        assert!(b.encode(pool()).contains("allot_anomalies_raised_total 0"));
        let shared = a.clone();
        shared.anomalies_raised(1);
        assert!(a.encode(pool()).contains("allot_anomalies_raised_total 6"));
    }
}
