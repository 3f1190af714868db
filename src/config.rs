//! Configuration: `allot.toml` (optional), overridden by environment
//! variables and command-line flags. Typed once here; the rest of the
//! program never reads settings itself.
//!
//! ```toml
//! database_url = "postgres://allot@db/allot"
//! listen = "0.0.0.0:8080"
//!
//! [allocation]
//! cost_basis = "effective"   # effective | billed | list
//! rules = "allocation-rules"
//!
//! [[source]]                 # imported on a schedule by `allot serve`
//! name = "aws-cur"
//! kind = "cur"               # cur | focus | cost-explorer (then no path; group_by = ["tag:team", "service"]) | metrics-csv
//! path = "/data/cur/current" # a file, a directory of exports, or s3://bucket/prefix
//! schedule = "0 0 3 * * *"   # cron with seconds: every day at 03:00 UTC
//! retries = 3                # after a failure, retried after 1, 2, 4 ... minutes
//!
//! [[source]]                 # business metrics pulled from Prometheus
//! name = "prometheus"
//! kind = "prometheus"
//! url = "http://prometheus.internal:9090"
//! schedule = "0 30 0 * * *"
//! lookback_days = 35         # the complete UTC days each run reads (default 35)
//! [[source.metric]]
//! metric = "deployments"     # a declared `[[metric]]`
//! query = "sum by (team) (increase(deploys_total[1d]))"
//! scope_label = "team"       # each series' `team` label gives its scope
//! scope_kind = "team"        # team (default) | group | environment
//!
//! [[source]]                 # business metrics from a PostgreSQL database
//! name = "shop-db"
//! kind = "sql"
//! url_env = "SHOP_DB_URL"    # or url = "postgres://..."
//! schedule = "0 45 0 * * *"
//! [[source.metric]]
//! metric = "orders"          # the query returns date, value[, scope]
//! query = "select created_at::date, count(*) from orders group by 1"
//!
//! [import]                   # input bounds (defaults shown); see docs/importers.md
//! max_record_bytes = 1048576 # the longest row of a CSV export
//! max_field_bytes = 65536    # the longest cell
//!
//! [anomalies]                # defaults shown; see docs/anomalies.md
//! sensitivity = 4            # robust spreads a day must be away from its expected value
//! min_impact = 5             # least impact per day, in the series' currency
//! min_impact_percent = 15    # least impact per day, in % of the expected value
//! drops = false              # flag drops as well as spikes
//! new_spend = false          # one anomaly per billing account whose spend starts
//! [anomalies.teams.payments] # per-team overrides
//! min_impact = 100
//!
//! [[metric]]                 # business metrics for unit costs; see docs/unit-costs.md
//! name = "orders"            # lower-case letters, digits, `_` and `-`
//! unit = "order"             # unit costs are per one of it
//! description = "Completed checkout orders"
//! aggregation = "sum"        # sum | average | last: how days make a month (default sum)
//!
//! [server]                 # bounds on clients (defaults shown); see docs/operations.md
//! request_timeout_seconds = 60 # a request's whole time (source runs go on regardless)
//! preview_budget_seconds = 30  # a rules preview's computing time
//! max_expensive = 2          # previews and source runs served at once
//! max_connections = 512
//! header_read_timeout_seconds = 10 # a request head's time; also the keep-alive idle time
//!
//! [auth]
//! token_key_file = "allot.key" # the key API tokens are hashed with (created when
//!                              # missing; ALLOT_TOKEN_KEY=64 hex digits instead)
//! [auth.oidc]                # single sign-on; see docs/access.md
//! issuer = "https://login.example.com"
//! audience = "allot"
//! [auth.oidc.roles]          # a value of the `groups` claim -> a role
//! "allot-admins" = "admin"
//! "team-payments" = "team:payments"
//!
//! [[webhook]]                # alerts for new anomalies
//! name = "payments-slack"
//! url = "https://hooks.slack.com/services/..."
//! format = "slack"           # slack | generic
//! teams = ["payments"]       # omit for every team
//! accounts = false           # billing-account anomalies (default: true when `teams` is omitted)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::alerts::{Webhook, WebhookFormat};
use crate::domain::{Aggregation, CostBasis, MetricDef, MetricName, TeamId};
use crate::engine::anomaly::{AnomalySettings, Thresholds};
use crate::importers::Limits;
use crate::importers::metrics::MetricQuery;
use crate::rules::DEFAULT_RULES_DIR;
use crate::store::DEFAULT_DATABASE_URL;

/// The configuration file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "allot.toml";

/// What can be wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}; see the configuration section of README.md")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// `allot.toml` as written; every setting is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub allocation: AllocationConfig,
    #[serde(default)]
    pub import: ImportConfig,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub anomalies: AnomaliesConfig,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default, rename = "metric")]
    pub metrics: Vec<MetricConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub server: ServerConfig,
}

/// `[server]` as written: bounds on what clients can make `allot serve` do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub request_timeout_seconds: Option<u64>,
    pub preview_budget_seconds: Option<u64>,
    pub max_expensive: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_seconds: Option<u64>,
    /// `GET /metrics`: `token` (the default), `open` or `off`.
    pub metrics: Option<String>,
    /// Where `metrics = "open"` serves `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
}

/// Where and to whom `allot serve` answers `GET /metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// On the API's address, to tokens of role `admin` or `monitoring`.
    #[default]
    Token,
    /// On an address of its own (only there), without a token: for a
    /// scraper on a network the API's clients do not reach.
    Open(SocketAddr),
    /// Nowhere.
    Off,
}

impl ServerConfig {
    fn metrics_endpoint(&self) -> Result<MetricsEndpoint, String> {
        match (self.metrics.as_deref().map(str::trim), self.metrics_listen) {
            (None | Some("token"), None) => Ok(MetricsEndpoint::Token),
            (Some("off"), None) => Ok(MetricsEndpoint::Off),
            (Some("open"), Some(at)) => Ok(MetricsEndpoint::Open(at)),
            (Some("open"), None) => Err(
                "`server.metrics` is `open` without `server.metrics_listen`: name the address to serve `/metrics` on, such as \"127.0.0.1:9464\"".into(),
            ),
            (None | Some("token" | "off"), Some(at)) => Err(format!(
                "`server.metrics_listen` is `{at}` but `server.metrics` is not `open`: set `metrics = \"open\"` to serve `/metrics` there, or remove `metrics_listen`"
            )),
            (Some(other), _) => Err(format!(
                "`server.metrics` is `{other}`: expected `token` (on the API's address, for `admin` and `monitoring` tokens), `open` (on `metrics_listen`, without a token) or `off`"
            )),
        }
    }

    fn limits(&self) -> Result<crate::app::Limits, String> {
        use std::time::Duration;
        let defaults = crate::app::Limits::default();
        let seconds = |value: Option<u64>, name: &str, default: Duration, max: u64| match value {
            None => Ok(default),
            Some(s) if (1..=max).contains(&s) => Ok(Duration::from_secs(s)),
            Some(s) => Err(format!(
                "`server.{name}` is {s}: expected 1 to {max} seconds"
            )),
        };
        let count = |value: Option<usize>, name: &str, default: usize, max: usize| match value {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err(format!("`server.{name}` is {n}: expected 1 to {max}")),
        };
        Ok(crate::app::Limits {
            request_timeout: seconds(
                self.request_timeout_seconds,
                "request_timeout_seconds",
                defaults.request_timeout,
                3600,
            )?,
            preview_budget: seconds(
                self.preview_budget_seconds,
                "preview_budget_seconds",
                defaults.preview_budget,
                3600,
            )?,
            header_read_timeout: seconds(
                self.header_read_timeout_seconds,
                "header_read_timeout_seconds",
                defaults.header_read_timeout,
                300,
            )?,
            max_expensive: count(
                self.max_expensive,
                "max_expensive",
                defaults.max_expensive,
                64,
            )?,
            max_connections: count(
                self.max_connections,
                "max_connections",
                defaults.max_connections,
                100_000,
            )?,
            ..defaults
        })
    }
}

/// `[auth]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The file holding the key API tokens are hashed with (created when
    /// missing); `ALLOT_TOKEN_KEY` instead gives the key itself.
    pub token_key_file: Option<PathBuf>,
    /// Single sign-on: bearer JWTs of the company's identity provider.
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: OneOrMany,
    pub jwks_url: Option<String>,
    pub role_claim: Option<String>,
    pub label_claim: Option<String>,
    pub algorithms: Option<Vec<String>>,
    pub leeway_seconds: Option<u64>,
    pub jwks_refresh_seconds: Option<u64>,
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

/// A setting written as one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Single sign-on as checked: bearer JWTs signed by the identity provider
/// at `issuer`, for one of `audiences`, whose `role_claim` names a key of
/// `roles` (see `service::oidc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oidc {
    /// The `iss` every token must carry, exactly.
    pub issuer: String,
    /// The `aud` values accepted (a token must name one).
    pub audiences: Vec<String>,
    /// Where the signing keys are; `None`: from the issuer's
    /// `/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// The claim (a string or a list of strings) whose values map to roles;
    /// a dotted path (`realm_access.roles`) reaches into objects.
    pub role_claim: String,
    /// The claim the audit log and request logs name the caller by, after
    /// `sub`.
    pub label_claim: String,
    /// The signature algorithms accepted (asymmetric ones only).
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_refresh: std::time::Duration,
    /// Claim value -> role.
    pub roles: BTreeMap<String, crate::service::Role>,
}

/// Defaults and bounds of `[auth.oidc]`.
pub const DEFAULT_ROLE_CLAIM: &str = "groups";
pub const DEFAULT_LABEL_CLAIM: &str = "email";
pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
pub const MAX_LEEWAY_SECONDS: u64 = 300;
pub const DEFAULT_JWKS_REFRESH_SECONDS: u64 = 3600;
pub const MIN_JWKS_REFRESH_SECONDS: u64 = 60;

/// Whether `url` may be fetched for keys: HTTPS, or HTTP to this machine
/// only (an identity provider's keys over plain HTTP could be replaced on
/// the way).
pub fn trusted_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => match parsed.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        },
        _ => false,
    }
}

impl OidcConfig {
    fn checked(&self) -> Result<Oidc, String> {
        use jsonwebtoken::{Algorithm, AlgorithmFamily};
        let issuer = self.issuer.trim().to_string();
        if !trusted_url(&issuer) {
            return Err(format!(
                "`auth.oidc.issuer` `{issuer}` is not an `https://` URL (plain `http://` only to this machine)"
            ));
        }
        if let Some(url) = &self.jwks_url
            && !trusted_url(url)
        {
            return Err(format!(
                "`auth.oidc.jwks_url` `{url}` is not an `https://` URL (plain `http://` only to this machine)"
            ));
        }
        let audiences = match &self.audience {
            OneOrMany::One(a) => vec![a.clone()],
            OneOrMany::Many(list) => list.clone(),
        };
        if audiences.is_empty() || audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(
                "`auth.oidc.audience` is empty: give the audience (client id) tokens for allot carry"
                    .into(),
            );
        }
        let names = self
            .algorithms
            .clone()
            .unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]);
        let mut algorithms = Vec::new();
        for name in &names {
            let alg: Algorithm = name.parse().map_err(|_| {
                format!("`auth.oidc.algorithms`: unknown algorithm `{name}`: expected RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA")
            })?;
            if alg.family() == AlgorithmFamily::Hmac {
                return Err(format!(
                    "`auth.oidc.algorithms`: `{name}` signs with a shared secret, which a key set cannot publish: use RS256, ES256 or another public-key algorithm"
                ));
            }
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err(
                "`auth.oidc.algorithms` is empty: accept at least one, for example `[\"RS256\"]`"
                    .into(),
            );
        }
        let leeway_seconds = self.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS);
        if leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(format!(
                "`auth.oidc.leeway_seconds` is {leeway_seconds}: at most {MAX_LEEWAY_SECONDS} (the clock skew allowed on expiry)"
            ));
        }
        let refresh = self
            .jwks_refresh_seconds
            .unwrap_or(DEFAULT_JWKS_REFRESH_SECONDS);
        if refresh < MIN_JWKS_REFRESH_SECONDS {
            return Err(format!(
                "`auth.oidc.jwks_refresh_seconds` is {refresh}: at least {MIN_JWKS_REFRESH_SECONDS} (keys the identity provider adds are fetched at once anyway)"
            ));
        }
        let mut roles = BTreeMap::new();
        for (value, role) in &self.roles {
            let parsed = crate::service::Role::parse(role).ok_or_else(|| {
                format!(
                    "`auth.oidc.roles`: `{value}` maps to `{role}`, expected {}",
                    crate::service::ROLE_EXPECTED
                )
            })?;
            roles.insert(value.clone(), parsed);
        }
        if roles.is_empty() {
            return Err("`[auth.oidc.roles]` maps no claim value to a role: add for example `\"allot-admins\" = \"admin\"`".into());
        }
        let claim = |c: &Option<String>, default: &str| {
            c.as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or(default)
                .to_string()
        };
        Ok(Oidc {
            issuer,
            audiences,
            jwks_url: self.jwks_url.clone(),
            role_claim: claim(&self.role_claim, DEFAULT_ROLE_CLAIM),
            label_claim: claim(&self.label_claim, DEFAULT_LABEL_CLAIM),
            algorithms,
            leeway_seconds,
            jwks_refresh: std::time::Duration::from_secs(refresh),
            roles,
        })
    }
}

/// Where the token key is kept when neither `ALLOT_TOKEN_KEY` nor
/// `auth.token_key_file` says otherwise.
pub const DEFAULT_TOKEN_KEY_FILE: &str = "allot.key";

/// One `[[metric]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    pub name: String,
    pub unit: String,
    #[serde(default)]
    pub description: String,
    /// `sum` (default), `average` or `last`.
    pub aggregation: Option<String>,
}

impl MetricConfig {
    fn checked(&self) -> Result<MetricDef, String> {
        let name = MetricName::parse(&self.name).map_err(|e| format!("metric: {e}"))?;
        let unit = self.unit.trim();
        if unit.is_empty() || unit.len() > 64 {
            return Err(format!(
                "metric `{name}`: expected a `unit` of 1 to 64 characters, such as \"order\""
            ));
        }
        let aggregation = match self.aggregation.as_deref() {
            None => Aggregation::Sum,
            Some(a) => Aggregation::parse(a).ok_or_else(|| {
                format!(
                    "metric `{name}`: expected aggregation `sum`, `average` or `last`, found `{a}`"
                )
            })?,
        };
        if self.description.len() > 1024 {
            return Err(format!(
                "metric `{name}`: the description is longer than 1024 bytes"
            ));
        }
        Ok(MetricDef {
            name,
            unit: unit.to_string(),
            description: self.description.trim().to_string(),
            aggregation,
        })
    }
}

/// A decimal setting written as a number or a string (`3`, `2.5`, `"2.5"`).
/// A TOML float is read from its shortest round-trip text, which is the
/// literal as written for up to 15 significant digits, so `2.5` is exactly
/// 2.5; the value is never used as a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigDecimal(pub Decimal);

impl<'de> Deserialize<'de> for ConfigDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Text(t) => t,
        };
        text.trim()
            .parse::<Decimal>()
            .ok()
            .filter(|v| *v >= Decimal::ZERO)
            .map(ConfigDecimal)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "expected a non-negative number such as `3` or `2.5`, found `{text}`"
                ))
            })
    }
}

/// Thresholds as written: every one optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsConfig {
    pub sensitivity: Option<ConfigDecimal>,
    pub min_impact: Option<ConfigDecimal>,
    pub min_impact_percent: Option<ConfigDecimal>,
    pub drops: Option<bool>,
}

impl ThresholdsConfig {
    fn over(&self, base: &Thresholds) -> Thresholds {
        Thresholds {
            sensitivity: self.sensitivity.map_or(base.sensitivity, |v| v.0),
            min_impact: self.min_impact.map_or(base.min_impact, |v| v.0),
            min_impact_percent: self
                .min_impact_percent
                .map_or(base.min_impact_percent, |v| v.0),
            drops: self.drops.unwrap_or(base.drops),
        }
    }
}

/// `[anomalies]` as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomaliesConfig {
    pub sensitivity: Option<ConfigDecimal>,
    pub min_impact: Option<ConfigDecimal>,
    pub min_impact_percent: Option<ConfigDecimal>,
    pub drops: Option<bool>,
    pub new_spend: Option<bool>,
    #[serde(default)]
    pub teams: BTreeMap<String, ThresholdsConfig>,
}

impl AnomaliesConfig {
    fn settings(&self) -> Result<AnomalySettings, String> {
        let defaults = ThresholdsConfig {
            sensitivity: self.sensitivity,
            min_impact: self.min_impact,
            min_impact_percent: self.min_impact_percent,
            drops: self.drops,
        }
        .over(&Thresholds::default());
        if defaults.sensitivity.is_zero() {
            return Err("`anomalies.sensitivity` must be above 0".into());
        }
        let mut teams = BTreeMap::new();
        for (name, t) in &self.teams {
            let team = TeamId::parse(name).map_err(|e| format!("`anomalies.teams.{name}`: {e}"))?;
            let thresholds = t.over(&defaults);
            if thresholds.sensitivity.is_zero() {
                return Err(format!(
                    "`anomalies.teams.{name}.sensitivity` must be above 0"
                ));
            }
            teams.insert(team, thresholds);
        }
        Ok(AnomalySettings {
            defaults,
            teams,
            new_spend: self.new_spend.unwrap_or(false),
        })
    }
}

/// One `[[webhook]]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    pub format: Option<String>,
    pub teams: Option<Vec<String>>,
    pub accounts: Option<bool>,
}

impl WebhookConfig {
    fn checked(&self) -> Result<Webhook, String> {
        let format = match &self.format {
            None => WebhookFormat::Generic,
            Some(f) => WebhookFormat::parse(f.trim()).ok_or_else(|| {
                format!(
                    "webhook `{}`: expected format `slack` or `generic`, found `{f}`",
                    self.name
                )
            })?,
        };
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err(format!(
                "webhook `{}`: expected an http(s) url, found `{}`",
                self.name, self.url
            ));
        }
        let teams = match &self.teams {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|t| {
                        let t = crate::domain::normalise_team_name(t);
                        if t == crate::domain::UNALLOCATED {
                            Ok(t)
                        } else {
                            TeamId::parse(&t)
                                .map(|id| id.as_str().to_string())
                                .map_err(|e| format!("webhook `{}`: {e}", self.name))
                        }
                    })
                    .collect::<Result<BTreeSet<String>, String>>()?,
            ),
        };
        Ok(Webhook {
            name: self.name.clone(),
            url: self.url.clone(),
            format,
            accounts: self.accounts.unwrap_or(teams.is_none()),
            teams,
        })
    }
}

/// One `[[source]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: String,
    /// Required for `focus` and `cur`.
    pub path: Option<PathBuf>,
    /// `cost-explorer` only: up to two of `tag:KEY`, `service`, `account`.
    pub group_by: Option<Vec<String>>,
    pub schedule: String,
    pub retries: Option<u32>,
    pub retry_after_seconds: Option<u64>,
    /// For `s3://` paths: an S3-compatible endpoint instead of AWS's.
    pub endpoint_url: Option<String>,
    /// `prometheus` (its base URL) and `sql` (a PostgreSQL URL).
    pub url: Option<String>,
    /// `sql`: the environment variable holding the URL instead of `url`.
    pub url_env: Option<String>,
    /// `prometheus`: the complete UTC days each run reads.
    pub lookback_days: Option<u32>,
    /// `prometheus` and `sql`: one query per metric.
    #[serde(default, rename = "metric")]
    pub metrics: Vec<MetricQueryConfig>,
}

/// One `[[source.metric]]` of a `prometheus` or `sql` source, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricQueryConfig {
    pub metric: String,
    pub query: String,
    /// `prometheus`: the label whose value gives each series' scope.
    pub scope_label: Option<String>,
    /// `prometheus`: what the label names (`team`, `group`, `environment`).
    pub scope_kind: Option<String>,
}

/// What a source holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Focus,
    Cur,
    /// AWS Cost Explorer: each run fetches the days that can still change.
    CostExplorer,
    /// Business-metric CSV files (`allot import metrics`): a file, a
    /// directory of `.csv` files or an S3 prefix.
    MetricsCsv,
    /// Business metrics read from Prometheus's HTTP API, a day at a time.
    Prometheus,
    /// Business metrics returned by queries on a PostgreSQL database.
    Sql,
}

/// A checked import source.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// A file, a directory whose `.csv`, `.csv.gz` and `.parquet` files are
    /// one export, or `s3://bucket/prefix`.
    pub path: PathBuf,
    pub endpoint_url: Option<String>,
    /// `CostExplorer` only.
    pub group_by: Vec<crate::importers::cost_explorer::GroupKey>,
    pub schedule: cron::Schedule,
    /// Attempts after a failed run, with doubling waits from `retry_after`.
    pub retries: u32,
    pub retry_after: std::time::Duration,
    /// `Prometheus` and `Sql`: where and what to read.
    pub pull: Option<MetricPull>,
}

/// Where a `prometheus` or `sql` source reads its metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricPull {
    pub url: SourceUrl,
    pub queries: Vec<MetricQuery>,
    /// `Prometheus`: the complete UTC days each run reads, ending yesterday.
    pub lookback_days: u32,
}

/// A source's URL, written out or read from the environment when a run
/// starts (so a password need not be in allot.toml).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUrl {
    Literal(String),
    Env(String),
}

impl SourceUrl {
    /// The URL now, or why there is none.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            SourceUrl::Literal(url) => Ok(url.clone()),
            SourceUrl::Env(var) => match std::env::var(var) {
                Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_string()),
                _ => Err(format!(
                    "the environment variable `{var}` (the source's `url_env`) is not set: set it to the database URL"
                )),
            },
        }
    }
}

/// Whether `url` is what a `kind` source reads: an http(s) base URL
/// without a query string for Prometheus, a PostgreSQL URL for SQL.
pub fn url_fits(kind: SourceKind, url: &str) -> bool {
    match kind {
        SourceKind::Prometheus => {
            (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(['?', '#'])
        }
        _ => url.starts_with("postgres://") || url.starts_with("postgresql://"),
    }
}

/// The default and the most of `lookback_days`.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 35;
pub const MAX_LOOKBACK_DAYS: u32 = 1100;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationConfig {
    pub cost_basis: Option<String>,
    pub rules: Option<PathBuf>,
}

/// `[import]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    pub max_record_bytes: Option<u64>,
    pub max_field_bytes: Option<usize>,
}

impl ImportConfig {
    fn limits(&self) -> Result<Limits, String> {
        let defaults = Limits::default();
        let limits = Limits {
            max_record_bytes: self.max_record_bytes.unwrap_or(defaults.max_record_bytes),
            max_field_bytes: self.max_field_bytes.unwrap_or(defaults.max_field_bytes),
        };
        if !(1024..=(1 << 30)).contains(&limits.max_record_bytes) {
            return Err("`import.max_record_bytes` must be between 1024 and 1073741824".into());
        }
        if limits.max_field_bytes < 256 || limits.max_field_bytes as u64 > limits.max_record_bytes {
            return Err(
                "`import.max_field_bytes` must be at least 256 and at most `import.max_record_bytes`"
                    .into(),
            );
        }
        Ok(limits)
    }
}

/// The settings in force, after file, environment and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub database_url: String,
    pub listen: SocketAddr,
    pub cost_basis: CostBasis,
    pub rules_dir: PathBuf,
    pub sources: Vec<Source>,
    pub import_limits: Limits,
    pub anomalies: AnomalySettings,
    pub webhooks: Vec<Webhook>,
    /// The declared business metrics, by name.
    pub metrics: BTreeMap<MetricName, MetricDef>,
    /// The file holding the token key (see `service::tokens`).
    pub token_key_file: PathBuf,
    /// Single sign-on, when `[auth.oidc]` is configured.
    pub oidc: Option<Oidc>,
    /// What `allot serve` bounds each client to (`[server]`).
    pub server: crate::app::Limits,
    /// `GET /metrics`, from `[server]`.
    pub metrics_endpoint: MetricsEndpoint,
}

impl Settings {
    /// How importers read files under these settings.
    pub fn read_options(
        &self,
        progress: crate::importers::Progress,
    ) -> crate::importers::ReadOptions {
        crate::importers::ReadOptions {
            progress,
            limits: self.import_limits,
            run: None,
        }
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.path == other.path
            && self.retries == other.retries
            && self.pull == other.pull
    }
}

impl Eq for Source {}

impl FileConfig {
    /// Reads `path`; with `required` false a missing file is an empty config.
    pub fn load(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(FileConfig::default());
            }
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        FileConfig::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let config: FileConfig = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().to_string(),
            )
        })?;
        if let Some(basis) = &config.allocation.cost_basis {
            basis.parse::<CostBasis>().map_err(|message| {
                let at = text.find("cost_basis").unwrap_or(0);
                invalid(at, message)
            })?;
        }
        let mut names = std::collections::BTreeSet::new();
        for source in &config.sources {
            let at = text.find(&format!("\"{}\"", source.name)).unwrap_or(0);
            if !names.insert(source.name.as_str()) {
                return Err(invalid(
                    at,
                    format!("source `{}` is declared twice", source.name),
                ));
            }
            source.checked().map_err(|message| invalid(at, message))?;
        }
        config
            .import
            .limits()
            .map_err(|message| invalid(text.find("[import").unwrap_or(0), message))?;
        config
            .anomalies
            .settings()
            .map_err(|message| invalid(text.find("[anomalies").unwrap_or(0), message))?;
        let mut hooks = std::collections::BTreeSet::new();
        for hook in &config.webhooks {
            let at = text.find(&format!("\"{}\"", hook.name)).unwrap_or(0);
            if !hooks.insert(hook.name.as_str()) {
                return Err(invalid(
                    at,
                    format!("webhook `{}` is declared twice", hook.name),
                ));
            }
            hook.checked().map_err(|message| invalid(at, message))?;
        }
        let mut metrics = BTreeSet::new();
        for metric in &config.metrics {
            let at = text.find(&format!("\"{}\"", metric.name)).unwrap_or(0);
            let def = metric.checked().map_err(|message| invalid(at, message))?;
            if !metrics.insert(def.name.clone()) {
                return Err(invalid(
                    at,
                    format!("metric `{}` is declared twice", def.name),
                ));
            }
        }
        config
            .server
            .limits()
            .map_err(|message| invalid(text.find("[server").unwrap_or(0), message))?;
        config
            .server
            .metrics_endpoint()
            .map_err(|message| invalid(text.find("[server").unwrap_or(0), message))?;
        if let Some(oidc) = &config.auth.oidc {
            oidc.checked()
                .map_err(|message| invalid(text.find("[auth.oidc").unwrap_or(0), message))?;
        }
        for source in &config.sources {
            let at = text.find(&format!("\"{}\"", source.name)).unwrap_or(0);
            let pulled = source.checked().ok().and_then(|s| s.pull);
            for query in pulled.iter().flat_map(|p| &p.queries) {
                if !metrics.contains(&query.metric) {
                    return Err(invalid(
                        at,
                        format!(
                            "source `{}`: metric `{}` is not declared: declare it with `[[metric]]`",
                            source.name, query.metric
                        ),
                    ));
                }
            }
        }
        Ok(config)
    }

    /// The checked sources.
    pub fn sources(&self) -> Vec<Source> {
        self.sources
            .iter()
            .filter_map(|s| s.checked().ok())
            .collect()
    }

    /// Fills what flags and environment (`Some`) did not set from this file,
    /// then from the defaults.
    pub fn settings(
        &self,
        database_url: Option<String>,
        listen: Option<SocketAddr>,
        cost_basis: Option<CostBasis>,
        rules_dir: Option<PathBuf>,
    ) -> Settings {
        Settings {
            database_url: database_url
                .or_else(|| self.database_url.clone())
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            listen: listen
                .or(self.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            cost_basis: cost_basis
                .or_else(|| {
                    self.allocation
                        .cost_basis
                        .as_deref()
                        .and_then(|b| b.parse().ok())
                })
                .unwrap_or_default(),
            rules_dir: rules_dir
                .or_else(|| self.allocation.rules.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RULES_DIR)),
            sources: self.sources(),
            import_limits: self.import.limits().unwrap_or_default(),
            anomalies: self.anomalies.settings().unwrap_or_default(),
            webhooks: self
                .webhooks
                .iter()
                .filter_map(|w| w.checked().ok())
                .collect(),
            metrics: self
                .metrics
                .iter()
                .filter_map(|m| m.checked().ok())
                .map(|m| (m.name.clone(), m))
                .collect(),
            token_key_file: self
                .auth
                .token_key_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_TOKEN_KEY_FILE)),
            oidc: self.auth.oidc.as_ref().and_then(|o| o.checked().ok()),
            server: self.server.limits().unwrap_or_default(),
            metrics_endpoint: self.server.metrics_endpoint().unwrap_or_default(),
        }
    }
}

impl SourceConfig {
    fn checked(&self) -> Result<Source, String> {
        use std::str::FromStr;
        let kind = match self.kind.trim() {
            "focus" => SourceKind::Focus,
            "cur" => SourceKind::Cur,
            "cost-explorer" => SourceKind::CostExplorer,
            "metrics-csv" => SourceKind::MetricsCsv,
            "prometheus" => SourceKind::Prometheus,
            "sql" => SourceKind::Sql,
            other => {
                return Err(format!(
                    "source `{}`: expected kind `focus`, `cur`, `cost-explorer`, `metrics-csv`, `prometheus` or `sql`, found `{other}`",
                    self.name
                ));
            }
        };
        let pull = self.pull(kind)?;
        let path = match (&self.path, kind) {
            (Some(_), SourceKind::Prometheus | SourceKind::Sql) => {
                return Err(format!(
                    "source `{}`: a `{}` source has a `url`, not a `path`",
                    self.name,
                    self.kind.trim()
                ));
            }
            (Some(path), _) => path.clone(),
            (None, SourceKind::CostExplorer | SourceKind::Prometheus | SourceKind::Sql) => {
                PathBuf::new()
            }
            (None, _) => {
                return Err(format!(
                    "source `{}`: expected a `path` (a file, a directory or s3://bucket/prefix)",
                    self.name
                ));
            }
        };
        let group_by = match (&self.group_by, kind) {
            (Some(keys), SourceKind::CostExplorer) => keys
                .iter()
                .map(|k| k.parse())
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| format!("source `{}`: {e}", self.name))?,
            (Some(_), _) => {
                return Err(format!(
                    "source `{}`: `group_by` is for `cost-explorer` sources",
                    self.name
                ));
            }
            (None, _) => vec![
                crate::importers::cost_explorer::GroupKey::Tag("team".into()),
                crate::importers::cost_explorer::GroupKey::Service,
            ],
        };
        let schedule = cron::Schedule::from_str(&self.schedule).map_err(|e| {
            format!(
                "source `{}`: expected a cron schedule with seconds such as `0 0 3 * * *`, found `{}` ({e})",
                self.name, self.schedule
            )
        })?;
        Ok(Source {
            name: self.name.clone(),
            kind,
            path,
            endpoint_url: self.endpoint_url.clone(),
            group_by,
            schedule,
            retries: self.retries.unwrap_or(3),
            retry_after: std::time::Duration::from_secs(self.retry_after_seconds.unwrap_or(60)),
            pull,
        })
    }

    /// The URL and queries of a `prometheus` or `sql` source; an error for
    /// them on any other kind.
    fn pull(&self, kind: SourceKind) -> Result<Option<MetricPull>, String> {
        use crate::importers::metrics::ScopeLabel;
        let name = &self.name;
        let pulls = matches!(kind, SourceKind::Prometheus | SourceKind::Sql);
        if pulls && self.endpoint_url.is_some() {
            return Err(format!(
                "source `{name}`: `endpoint_url` is for S3 paths and Cost Explorer; a `{}` source has only a `url`",
                self.kind.trim()
            ));
        }
        if !pulls {
            if self.url.is_some() || self.url_env.is_some() || !self.metrics.is_empty() {
                return Err(format!(
                    "source `{name}`: `url`, `url_env` and `[[source.metric]]` are for `prometheus` and `sql` sources"
                ));
            }
            if self.lookback_days.is_some() {
                return Err(format!(
                    "source `{name}`: `lookback_days` is for `prometheus` sources"
                ));
            }
            return Ok(None);
        }
        let url = match (&self.url, &self.url_env, kind) {
            (Some(_), Some(_), _) => {
                return Err(format!(
                    "source `{name}`: give `url` or `url_env`, not both"
                ));
            }
            (None, Some(var), _) => {
                let valid =
                    !var.is_empty() && var.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
                if !valid {
                    return Err(format!(
                        "source `{name}`: expected `url_env` to name an environment variable such as \"SHOP_DB_URL\", found `{var}`"
                    ));
                }
                SourceUrl::Env(var.clone())
            }
            (Some(url), None, kind) => {
                let url = url.trim();
                let ok = url_fits(kind, url);
                if !ok {
                    let expected = if kind == SourceKind::Prometheus {
                        "an http:// or https:// base URL without a query string, such as \"http://prometheus:9090\""
                    } else {
                        "a PostgreSQL URL such as \"postgres://reader@shop-db/shop\""
                    };
                    return Err(format!(
                        "source `{name}`: expected `url` to be {expected}, found `{}`",
                        crate::store::redact(url)
                    ));
                }
                SourceUrl::Literal(url.trim_end_matches('/').to_string())
            }
            (None, None, SourceKind::Prometheus) => {
                return Err(format!(
                    "source `{name}`: expected a `url` such as \"http://prometheus:9090\""
                ));
            }
            (None, None, _) => {
                return Err(format!(
                    "source `{name}`: expected a `url` (postgres://...) or a `url_env` naming the environment variable that holds it"
                ));
            }
        };
        let lookback_days = match (self.lookback_days, kind) {
            (Some(_), SourceKind::Sql) => {
                return Err(format!(
                    "source `{name}`: `lookback_days` is for `prometheus` sources; an `sql` source's query chooses its days"
                ));
            }
            (Some(days), _) if !(1..=MAX_LOOKBACK_DAYS).contains(&days) => {
                return Err(format!(
                    "source `{name}`: `lookback_days` must be between 1 and {MAX_LOOKBACK_DAYS}, found {days}"
                ));
            }
            (days, _) => days.unwrap_or(DEFAULT_LOOKBACK_DAYS),
        };
        if self.metrics.is_empty() {
            return Err(format!(
                "source `{name}`: expected at least one `[[source.metric]]` with a `metric` and a `query`"
            ));
        }
        let mut queries = Vec::with_capacity(self.metrics.len());
        for q in &self.metrics {
            let metric = MetricName::parse(&q.metric)
                .map_err(|e| format!("source `{name}`: `[[source.metric]]`: {e}"))?;
            let query = q.query.trim();
            if query.is_empty() || query.len() > 65536 {
                return Err(format!(
                    "source `{name}`: metric `{metric}`: expected a `query` of 1 to 65536 bytes"
                ));
            }
            let scope = match (&q.scope_label, &q.scope_kind, kind) {
                (Some(_), _, SourceKind::Sql) | (None, Some(_), SourceKind::Sql) => {
                    return Err(format!(
                        "source `{name}`: metric `{metric}`: `scope_label` and `scope_kind` are for `prometheus` sources; an `sql` query returns the scope as its third column"
                    ));
                }
                (None, Some(_), _) => {
                    return Err(format!(
                        "source `{name}`: metric `{metric}`: `scope_kind` needs a `scope_label`"
                    ));
                }
                (None, None, _) => None,
                (Some(label), kind, _) => Some(
                    ScopeLabel::new(label, kind.as_deref())
                        .map_err(|e| format!("source `{name}`: metric `{metric}`: {e}"))?,
                ),
            };
            queries.push(MetricQuery {
                metric,
                query: query.to_string(),
                scope,
            });
        }
        Ok(Some(MetricPull {
            url,
            queries,
            lookback_days,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sign_on_settings_are_checked() {
        let parse = |oidc: &str| {
            FileConfig::parse(
                Path::new("allot.toml"),
                &format!("[auth.oidc]\n{oidc}\n[auth.oidc.roles]\nadmins = \"admin\"\n"),
            )
        };
        let ok = parse("issuer = \"https://id.example.com\"\naudience = \"allot\"").unwrap();
        let oidc = ok.settings(None, None, None, None).oidc.unwrap();
        assert_eq!(oidc.audiences, ["allot"]);
        assert_eq!(
            oidc.algorithms,
            [
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::Algorithm::ES256
            ]
        );
        assert!(parse("issuer = \"http://127.0.0.1:9000\"\naudience = [\"a\", \"b\"]").is_ok());
        for (bad, says) in [
            (
                "issuer = \"http://id.example.com\"\naudience = \"allot\"",
                "is not an `https://` URL",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = []",
                "`auth.oidc.audience` is empty",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = \"a\"\nalgorithms = [\"HS256\"]",
                "signs with a shared secret",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = \"a\"\nalgorithms = [\"none\"]",
                "unknown algorithm `none`",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = \"a\"\nleeway_seconds = 3600",
                "at most 300",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = \"a\"\njwks_refresh_seconds = 1",
                "at least 60",
            ),
            (
                "issuer = \"https://id.example.com\"\naudience = \"a\"\njwks_url = \"ftp://x\"",
                "`auth.oidc.jwks_url`",
            ),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = FileConfig::parse(
            Path::new("allot.toml"),
            "[auth.oidc]\nissuer = \"https://id.example.com\"\naudience = \"a\"\n[auth.oidc.roles]\nx = \"root\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`x` maps to `root`"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file = FileConfig::parse(
            Path::new("allot.toml"),
            "database_url = \"postgres://db/allot\"\n[allocation]\ncost_basis = \"billed\"\n",
        )
        .unwrap();
        let s = file.settings(None, None, None, None);
        assert_eq!(s.database_url, "postgres://db/allot");
        assert_eq!(s.cost_basis, CostBasis::Billed);
        assert_eq!(s.rules_dir, PathBuf::from("allocation-rules"));
        let s = file.settings(
            Some("sqlite://x.db".into()),
            None,
            Some(CostBasis::List),
            None,
        );
        assert_eq!(
            (s.database_url.as_str(), s.cost_basis),
            ("sqlite://x.db", CostBasis::List)
        );
        assert_eq!(
            FileConfig::default()
                .settings(None, None, None, None)
                .cost_basis,
            CostBasis::Effective
        );
    }

    #[test]
    fn anomaly_thresholds_and_webhooks() {
        let file = FileConfig::parse(
            Path::new("allot.toml"),
            "[anomalies]\nsensitivity = 2.5\nmin_impact = \"20\"\nnew_spend = true\n\
             [anomalies.teams.Payments]\nmin_impact = 100\ndrops = true\n\
             [[webhook]]\nname = \"pay\"\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"slack\"\nteams = [\"payments\"]\n\
             [[webhook]]\nname = \"all\"\nurl = \"https://example.org/h\"\n",
        )
        .unwrap();
        let s = file.settings(None, None, None, None);
        assert_eq!(s.anomalies.defaults.sensitivity, Decimal::new(25, 1));
        assert_eq!(s.anomalies.defaults.min_impact, Decimal::from(20));
        assert_eq!(s.anomalies.defaults.min_impact_percent, Decimal::from(15));
        assert!(s.anomalies.new_spend);
        assert!(
            !FileConfig::default()
                .settings(None, None, None, None)
                .anomalies
                .new_spend
        );
        let payments = &s.anomalies.teams[&TeamId::parse("payments").unwrap()];
        assert_eq!(
            (payments.sensitivity, payments.min_impact, payments.drops),
            (Decimal::new(25, 1), Decimal::from(100), true)
        );
        assert_eq!(s.webhooks.len(), 2);
        assert_eq!(s.webhooks[0].format, WebhookFormat::Slack);
        assert!(!s.webhooks[0].accounts);
        assert_eq!(s.webhooks[1].format, WebhookFormat::Generic);
        assert!(s.webhooks[1].accounts && s.webhooks[1].teams.is_none());
    }

    #[test]
    fn import_limits_are_read_and_checked() {
        let s = FileConfig::default().settings(None, None, None, None);
        assert_eq!(s.import_limits, Limits::default());
        let file = FileConfig::parse(
            Path::new("allot.toml"),
            "[import]\nmax_record_bytes = 4194304\nmax_field_bytes = 1048576\n",
        )
        .unwrap();
        let limits = file.settings(None, None, None, None).import_limits;
        assert_eq!(
            (limits.max_record_bytes, limits.max_field_bytes),
            (4 << 20, 1 << 20)
        );
        let e = FileConfig::parse(Path::new("allot.toml"), "[import]\nmax_field_bytes = 10\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "allot.toml:1:1: `import.max_field_bytes` must be at least 256 and at most `import.max_record_bytes`; see the configuration section of README.md"
        );
    }

    #[test]
    fn metrics_are_declared_with_an_aggregation() {
        let file = FileConfig::parse(
            Path::new("allot.toml"),
            "[[metric]]\nname = \"orders\"\nunit = \"order\"\ndescription = \"Completed orders\"\n\n[[metric]]\nname = \"active-customers\"\nunit = \"customer\"\naggregation = \"average\"\n",
        )
        .unwrap();
        let settings = file.settings(None, None, None, None);
        let got: Vec<_> = settings
            .metrics
            .values()
            .map(|m| (m.name.as_str(), m.unit.as_str(), m.aggregation.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("active-customers", "customer", "average"),
                ("orders", "order", "sum")
            ]
        );
        for (text, message) in [
            (
                "[[metric]]\nname = \"orders\"\nunit = \"order\"\naggregation = \"max\"\n",
                "allot.toml:2:8: metric `orders`: expected aggregation `sum`, `average` or `last`, found `max`",
            ),
            (
                "[[metric]]\nname = \"Orders Total\"\nunit = \"order\"\n",
                "allot.toml:2:8: metric: expected a metric name of lower-case letters, digits, `_` or `-` (such as `orders`), found `Orders Total`",
            ),
            (
                "[[metric]]\nname = \"orders\"\nunit = \"order\"\n[[metric]]\nname = \"orders\"\nunit = \"order\"\n",
                "allot.toml:2:8: metric `orders` is declared twice",
            ),
        ] {
            let e = FileConfig::parse(Path::new("allot.toml"), text).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{message}; see the configuration section of README.md")
            );
        }
    }

    #[test]
    fn mistakes_are_located() {
        let e = FileConfig::parse(
            Path::new("allot.toml"),
            "[allocation]\ncost_basis = \"amortised\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "allot.toml:2:1: expected a cost basis `effective`, `billed` or `list`, found `amortised`; see the configuration section of README.md"
        );
        let e = FileConfig::parse(Path::new("allot.toml"), "databse_url = \"x\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("allot.toml:1:1: unknown field `databse_url`"),
            "{e}"
        );
        let e = FileConfig::parse(
            Path::new("allot.toml"),
            "[[source]]\nname = \"cur\"\nkind = \"cur\"\npath = \"/x\"\nschedule = \"0 3 * * *\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("allot.toml:2:8: source `cur`: expected a cron schedule with seconds"),
            "{e}"
        );
        let e = FileConfig::parse(
            Path::new("allot.toml"),
            "[[webhook]]\nname = \"w\"\nurl = \"http://x\"\nformat = \"teams\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "allot.toml:2:8: webhook `w`: expected format `slack` or `generic`, found `teams`; see the configuration section of README.md"
        );
        let e = FileConfig::parse(
            Path::new("allot.toml"),
            "[anomalies]\nmin_impact = \"ten\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("expected a non-negative number"),
            "{e}"
        );
        assert!(FileConfig::load(Path::new("/nonexistent/allot.toml"), false).is_ok());
        assert!(FileConfig::load(Path::new("/nonexistent/allot.toml"), true).is_err());
    }
}
