//! The JSON bodies of the API (and of the CLI's `--format json`), one typed
//! struct each. They serialize to what clients read and derive the schemas
//! of the generated OpenAPI document (`http::doc`), so the two cannot
//! drift. Money is a string with two places ([`Amount`]), never a number.

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::money::{PRESENTATION_DP, format_fixed};

/// A string schema with `values` as its enumeration.
fn one_of(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// A string schema whose values match `pattern`.
fn text(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

fn cost_basis() -> ObjectBuilder {
    one_of(&["effective", "billed", "list"]).description(Some(
        "The FOCUS cost allocated: `effective` (EffectiveCost, amortized), `billed` (BilledCost) or `list` (ListCost).",
    ))
}

fn cost_basis_or_null() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some([
            serde_json::json!("effective"),
            serde_json::json!("billed"),
            serde_json::json!("list"),
            serde_json::Value::Null,
        ]))
        .description(Some(
            "The cost basis of the months shown; `null` when none is allocated or they differ.",
        ))
}

fn health_status() -> ObjectBuilder {
    one_of(&["ok", "unavailable"])
}

fn backend() -> ObjectBuilder {
    one_of(&["sqlite", "postgres"])
}

fn period() -> ObjectBuilder {
    one_of(&["charge", "billing"])
}

fn group_by() -> ObjectBuilder {
    one_of(&["team", "team,service", "team,environment"])
}

fn granularity() -> ObjectBuilder {
    one_of(&["day", "month"])
}

fn item_source() -> ObjectBuilder {
    one_of(&["direct", "pool"])
}

fn share_method() -> ObjectBuilder {
    one_of(&["even", "fixed", "proportional", "usage"])
}

fn trigger() -> ObjectBuilder {
    one_of(&["schedule", "manual"])
}

fn run_status() -> ObjectBuilder {
    one_of(&["running", "succeeded", "failed"])
}

fn scope() -> ObjectBuilder {
    one_of(&["team", "team_service", "account"])
}

fn direction() -> ObjectBuilder {
    one_of(&["spike", "drop"])
}

fn anomaly_status() -> ObjectBuilder {
    one_of(&["open", "acknowledged", "withdrawn"])
}

fn contributor_kind() -> ObjectBuilder {
    one_of(&["service", "account", "team"])
}

fn quantity() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Number,
        ]))
        .examples(["3.25"])
}

/// A decimal amount with exactly two places, as a string (`"1131.07"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Amount(String);

impl Amount {
    pub fn of(d: rust_decimal::Decimal) -> Amount {
        Amount(format_fixed(d, PRESENTATION_DP))
    }
}

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        text(
            r"^-?[0-9]+\.[0-9]{2}$",
            "A decimal amount with exactly two places, as a string.",
            "1131.07",
        )
    }
}
impl ToSchema for Amount {
    fn name() -> std::borrow::Cow<'static, str> {
        "Money".into()
    }
}

/// An ISO 4217 alphabetic currency code, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Currency(pub String);

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        text(
            "^[A-Z]{3}$",
            "ISO 4217 alphabetic currency code, upper case.",
            "USD",
        )
    }
}
impl ToSchema for Currency {}

impl From<crate::domain::Currency> for Currency {
    fn from(c: crate::domain::Currency) -> Self {
        Currency(c.as_str().to_string())
    }
}

/// A calendar month, `YYYY-MM`.
fn month() -> RefOr<Schema> {
    text(
        "^[0-9]{4}-(0[1-9]|1[0-2])$",
        "The calendar month (UTC), `YYYY-MM`.",
        "2024-09",
    )
}

fn date() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
}

/// Whether the server reaches its database.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(schema_with = health_status)]
    pub status: &'static str,
    /// The database backend.
    #[schema(schema_with = backend)]
    pub database: &'static str,
}

/// The cost of every team in one allocated month, per currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Showback {
    #[schema(schema_with = month)]
    pub month: String,
    /// `charge`: the costs charged in the month; `billing`: the costs of
    /// the invoice starting in the month (then `cost_basis` is `billed`).
    #[schema(schema_with = period)]
    pub period: &'static str,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    #[schema(schema_with = group_by)]
    pub group_by: &'static str,
    /// When the month was allocated (UTC, whole seconds).
    #[schema(format = DateTime, example = "2024-10-01T08:30:00Z")]
    pub allocated_at: String,
    /// True when the month's inputs (billing lines, usage figures) changed
    /// after the allocation started reading them: the figures are those of
    /// the earlier allocation. Run `allot allocate --month YYYY-MM` to bring
    /// them up to date (a scheduled run re-allocates every stale month).
    pub stale: bool,
    pub rows: Vec<ShowbackRow>,
    /// One entry per currency; the sum of that currency's rows' `total_cost`.
    pub totals: Vec<ShowbackTotal>,
}

/// One team's (and with `group_by=team,service`, one service's) cost.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShowbackRow {
    /// The team name, or `unallocated`.
    #[schema(example = "payments")]
    pub team: String,
    /// Present only with `group_by=team,service`; `null` for costs with no
    /// service.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false, example = "Amazon RDS")]
    pub service: Option<Option<String>>,
    /// Present only with `group_by=team,environment`: the environment (the
    /// rules' `[environment]` tag), or `unspecified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, example = "production")]
    pub environment: Option<String>,
    pub currency: Currency,
    pub direct_cost: Amount,
    pub shared_cost: Amount,
    pub total_cost: Amount,
}

/// The cost of every group of teams (the rules' `[groups]`) in one
/// allocated month, per currency: each group's row adds up its teams'
/// rows of the team showback exactly.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupShowback {
    #[schema(schema_with = month)]
    pub month: String,
    #[schema(schema_with = period)]
    pub period: &'static str,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    /// Always `group`.
    #[schema(schema_with = group_by_group)]
    pub group_by: &'static str,
    #[schema(format = DateTime, example = "2024-10-01T08:30:00Z")]
    pub allocated_at: String,
    /// As in the team showback.
    pub stale: bool,
    /// True when some team is in more than one group: the group rows then
    /// add up to more than `totals`.
    pub overlapping: bool,
    /// Per currency: groups by name, then `ungrouped` (teams in no group),
    /// then `unallocated`.
    pub rows: Vec<GroupShowbackRow>,
    /// The bill per currency, as in the team showback.
    pub totals: Vec<ShowbackTotal>,
}

/// One group's cost in one currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupShowbackRow {
    /// A group name, `ungrouped` or `unallocated`.
    #[schema(example = "commerce")]
    pub group: String,
    /// The group's teams that have cost in this currency.
    pub teams: Vec<String>,
    pub currency: Currency,
    pub direct_cost: Amount,
    pub shared_cost: Amount,
    pub total_cost: Amount,
}

/// A showback: by team (and service or environment), or by group.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AnyShowback {
    Teams(Showback),
    Groups(GroupShowback),
}

fn group_by_group() -> ObjectBuilder {
    one_of(&["group"])
}

/// A currency's total.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShowbackTotal {
    pub currency: Currency,
    pub total_cost: Amount,
}

/// One team's costs over a date range.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamCosts {
    pub team: String,
    #[schema(schema_with = date)]
    pub from: String,
    #[schema(schema_with = date)]
    pub to: String,
    #[schema(schema_with = granularity)]
    pub granularity: &'static str,
    #[schema(schema_with = cost_basis_or_null)]
    pub cost_basis: Option<&'static str>,
    pub points: Vec<CostPoint>,
    pub totals: Vec<CostTotal>,
}

/// A day's or a month's cost in one currency, by service.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CostPoint {
    /// The day, or the first day of the month.
    #[schema(schema_with = date)]
    pub start: String,
    pub currency: Currency,
    pub cost: Amount,
    pub services: Vec<ServiceCost>,
}

/// A service's part of a point; `service` is `null` for costs with none.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServiceCost {
    pub service: Option<String>,
    pub cost: Amount,
}

/// A currency's total over the range.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CostTotal {
    pub currency: Currency,
    pub cost: Amount,
}

/// Everything a team received in an allocated month, and why.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Explanation {
    #[schema(schema_with = month)]
    pub month: String,
    #[schema(example = "payments")]
    pub team: String,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    pub items: Vec<ExplanationItem>,
    /// Per currency, the team's showback `total_cost`; the items add up to it.
    pub totals: Vec<ShowbackTotal>,
    /// The team's cost by environment (its `group_by=team,environment`
    /// showback rows): direct cost by the environment of its lines, shared
    /// cost attributed in proportion to its direct cost in each
    /// (`unspecified` takes it all when the team has no positive direct
    /// cost). Per currency, they add up to `totals`.
    pub environments: Vec<EnvironmentCost>,
}

/// A team's cost in one environment and currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EnvironmentCost {
    #[schema(example = "production")]
    pub environment: String,
    pub currency: Currency,
    pub direct_cost: Amount,
    pub shared_cost: Amount,
    pub total_cost: Amount,
}

/// One amount received: lines a rule gave the team (`direct`), or a share
/// of a pool (`pool`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExplanationItem {
    /// `direct`: lines a rule gave the team; `pool`: a share of a pool.
    #[schema(schema_with = item_source)]
    pub source: &'static str,
    /// With `direct`, the rule that matched (null for lines no rule matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub rule: Option<Option<String>>,
    /// With `direct`, the number of source rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
    /// With `pool`, the pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// With `pool`, how it was split.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = share_method, required = false)]
    pub method: Option<&'static str>,
    /// With `pool`, the team's weight (exact decimal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// With `pool`, the sum of all targets' weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_weight: Option<String>,
    /// With `pool`, set when every weight was zero and the pool's fallback
    /// decided: `even`, `team` or `unallocated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub fallback: Option<Option<&'static str>>,
    pub currency: Currency,
    pub amount: Amount,
    /// The exact amount before rounding.
    pub exact_amount: String,
}

/// How candidate rules would change each team's total.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Preview {
    #[schema(schema_with = month)]
    pub month: String,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    pub rows: Vec<PreviewRow>,
    /// What the candidate allocation reports (fallbacks taken, tag values
    /// naming unknown teams).
    pub notes: Vec<String>,
}

/// One team's total now and with the candidate rules.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PreviewRow {
    pub team: String,
    pub currency: Currency,
    pub current: Amount,
    pub candidate: Amount,
    pub difference: Amount,
}

/// The candidate rule files of a preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Rule files by name (each ending in `.toml`), read in name order.
    pub files: std::collections::BTreeMap<String, String>,
}

/// Usage figures to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    pub records: Vec<UsageRecord>,
}

/// One usage figure.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    /// `YYYY-MM-DD`, or `YYYY-MM` for a monthly figure.
    pub date: String,
    pub team: String,
    /// Lower-case letters, digits and `_`, such as `cpu_core_hours`.
    pub metric: String,
    /// A non-negative decimal as a string, e.g. `"3.25"` (a JSON number is
    /// accepted too and read from its exact text, never through a float).
    #[schema(schema_with = quantity)]
    pub quantity: Box<serde_json::value::RawValue>,
}

/// What recording usage stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UsageResult {
    pub records: u64,
    /// The months the records are dated in.
    pub months: Vec<String>,
    /// The months whose figures changed (figures sent again unchanged
    /// change nothing). Their allocations are now stale until allocated
    /// again; a scheduled run re-allocates them.
    pub changed_months: Vec<String>,
}

/// Entries of the audit log, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// Who did what, when, from where.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// When, RFC 3339 UTC.
    #[schema(example = "2026-11-02T09:14:03Z")]
    pub at: String,
    /// A token's label (`token:ID (NAME)`), `operator` (the CLI) or `scheduler`.
    pub actor: String,
    /// The actor's role (`admin`, `finance`, `group:NAME`, `team:NAME`) or `operator`.
    pub role: String,
    /// The client's address, or `local`.
    pub client: String,
    /// `token.create`, `token.revoke`, `usage.record`, `metrics.record`,
    /// `rules.preview`, `source.run` or `anomaly.acknowledge`.
    #[schema(example = "source.run")]
    pub action: String,
    /// What it was done to: a token id, a source, a month, an anomaly id.
    pub target: String,
    /// The figures of it (rows, months changed, points...).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Who a token speaks for.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// `token:ID (NAME)` or the subject of a single sign-on token.
    #[schema(example = "token:5ea61a5c37be (payments-ci)")]
    pub label: String,
    /// `admin`, `finance`, `group:NAME`, `team:NAME` or `monitoring`.
    #[schema(example = "team:payments")]
    pub role: String,
    /// Whether every team's costs (and `unallocated`) are visible.
    pub sees_all: bool,
    /// A group role's teams; empty for any other role.
    pub teams: Vec<String>,
}

/// Every allocated month, oldest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Months {
    pub months: Vec<AllocatedMonth>,
}

/// One month with a charge-month allocation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AllocatedMonth {
    #[schema(example = "2026-10")]
    pub month: String,
    /// When it was last allocated, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub allocated_at: String,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    /// Whether an input of the month changed after it was allocated.
    pub stale: bool,
}

/// The latest import runs, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportRuns {
    pub runs: Vec<ImportRun>,
}

/// One run of a configured source.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportRun {
    pub id: i64,
    pub source: String,
    #[schema(schema_with = trigger)]
    pub trigger: &'static str,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    #[schema(schema_with = run_status)]
    pub status: &'static str,
    /// Source rows read.
    pub rows: u64,
    /// Months whose data the run changed (re-allocated).
    pub months: Vec<String>,
    pub error: Option<String>,
}

/// Stored anomalies, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Anomalies {
    pub anomalies: Vec<Anomaly>,
}

/// A spend spike (or drop) in one series, with its days and what drove it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Anomaly {
    pub id: i64,
    #[schema(schema_with = scope)]
    pub scope: &'static str,
    pub team: Option<String>,
    pub service: Option<String>,
    pub account: Option<String>,
    pub currency: Currency,
    #[schema(schema_with = direction)]
    pub direction: &'static str,
    #[schema(schema_with = date)]
    pub first_day: String,
    #[schema(schema_with = date)]
    pub last_day: String,
    pub actual: Amount,
    pub expected: Amount,
    pub impact: Amount,
    /// How far the days stood from their baseline, in robust spreads.
    pub score: String,
    #[schema(schema_with = cost_basis)]
    pub cost_basis: &'static str,
    pub days: Vec<AnomalyDay>,
    pub contributors: Vec<Contributor>,
    /// The anomaly in one sentence.
    pub explanation: String,
    #[schema(schema_with = anomaly_status)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub detected_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub acknowledged_at: Option<String>,
    pub note: String,
}

/// One day of an anomaly.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AnomalyDay {
    #[schema(schema_with = date)]
    pub day: String,
    pub actual: Amount,
    pub expected: Amount,
    pub impact: Amount,
    pub score: String,
}

/// A service, account or team that drove an anomaly.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Contributor {
    #[schema(schema_with = contributor_kind)]
    pub kind: String,
    pub name: String,
    pub actual: Amount,
    pub expected: Amount,
    pub impact: Amount,
}

/// An acknowledgement's note.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    #[serde(default)]
    pub note: String,
}

fn unit_cost_status() -> ObjectBuilder {
    one_of(&["ok", "no_metric", "zero_metric", "no_cost", "stale"]).description(Some(
        "`ok`; `no_metric` (no value for the month), `zero_metric` (the value is 0), `no_cost` (the month is not allocated, or the scope has no cost in it): then `unit_cost` is null; `stale` (figures from an allocation older than its billing data or usage: re-allocate).",
    ))
}

fn aggregation() -> ObjectBuilder {
    one_of(&["sum", "average", "last"])
}

fn decimal_text_or_null() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
        .examples(["1.25"])
}

/// A metric's unit costs for one scope, month by month.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCosts {
    #[schema(example = "orders")]
    pub metric: String,
    /// What one of the metric is: the unit cost is the cost per it.
    #[schema(example = "order")]
    pub unit: String,
    #[schema(schema_with = aggregation)]
    pub aggregation: &'static str,
    /// `organisation`, `team:NAME`, `group:NAME` or `environment:NAME`.
    #[schema(example = "team:checkout")]
    pub scope: String,
    #[schema(schema_with = month)]
    pub from: String,
    #[schema(schema_with = month)]
    pub to: String,
    #[schema(schema_with = cost_basis_or_null)]
    pub cost_basis: Option<&'static str>,
    /// One row per month and currency, oldest first.
    pub rows: Vec<UnitCostRow>,
}

/// One month of a unit-cost series, in one currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostRow {
    #[schema(schema_with = month)]
    pub month: String,
    /// `null` only when no month of the range has any cost.
    #[schema(value_type = Option<Currency>)]
    pub currency: Option<Currency>,
    /// The scope's allocated cost (direct plus shared) as the showback
    /// rounds it; `null` when the month has none.
    #[schema(value_type = Option<Amount>)]
    pub cost: Option<Amount>,
    /// The metric's value for the month (aggregated from its days as the
    /// metric declares); `null` when it has none.
    #[schema(schema_with = decimal_text_or_null)]
    pub metric_value: Option<String>,
    /// `cost / metric_value`, to six significant digits; `null` unless the
    /// status is `ok` or `stale`.
    #[schema(schema_with = decimal_text_or_null)]
    pub unit_cost: Option<String>,
    /// Change of the unit cost from the month before, in percent (one
    /// place); `null` when either month has none.
    #[schema(schema_with = decimal_text_or_null)]
    pub mom_change_pct: Option<String>,
    /// Change from the same month a year before, in percent.
    #[schema(schema_with = decimal_text_or_null)]
    pub yoy_change_pct: Option<String>,
    #[schema(schema_with = unit_cost_status)]
    pub status: &'static str,
}

/// The declared business metrics.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Metrics {
    pub metrics: Vec<Metric>,
}

/// A declared metric (`[[metric]]` in allot.toml).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Metric {
    #[schema(example = "orders")]
    pub name: String,
    #[schema(example = "order")]
    pub unit: String,
    pub description: String,
    #[schema(schema_with = aggregation)]
    pub aggregation: &'static str,
}

/// Metric points to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsRequest {
    pub points: Vec<MetricPointInput>,
}

/// One metric point.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricPointInput {
    /// `YYYY-MM-DD`, or `YYYY-MM` for a whole month's value.
    pub date: String,
    /// A declared metric.
    pub metric: String,
    /// A non-negative decimal as a string, e.g. `"1200"` (a JSON number is
    /// accepted too and read from its exact text, never through a float).
    #[schema(schema_with = quantity)]
    pub value: Box<serde_json::value::RawValue>,
    /// Absent or empty for the organisation, else `team:NAME`,
    /// `group:NAME` or `environment:NAME`.
    #[serde(default)]
    pub scope: Option<String>,
}

/// What recording metric points did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricsResult {
    /// Distinct points received (one sent twice counts once).
    pub points: u64,
    /// Points not stored before.
    pub added: u64,
    /// Points stored before with another value, now replaced.
    pub replaced: u64,
    /// Points stored before with the same value.
    pub unchanged: u64,
    /// The months whose points changed, per metric.
    pub changed: Vec<MetricMonth>,
}

/// A metric and a month.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricMonth {
    pub metric: String,
    #[schema(schema_with = month)]
    pub month: String,
}

/// Every metric and scope with points in a month or the month before:
/// the unit cost of both months, the change, and what moved the cost.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostSummary {
    #[schema(schema_with = month)]
    pub month: String,
    /// By metric, then scope (the organisation first), then currency.
    pub entries: Vec<UnitCostSummaryEntry>,
}

/// One metric and scope in one currency.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostSummaryEntry {
    #[schema(example = "orders")]
    pub metric: String,
    #[schema(example = "order")]
    pub unit: String,
    /// `organisation`, `team:NAME`, `group:NAME` or `environment:NAME`.
    pub scope: String,
    /// The month's figures; `mom_change_pct` is the change from `previous`.
    pub current: UnitCostRow,
    pub previous: UnitCostRow,
    /// What moved the cost side most between the two months, largest
    /// change first (at most three): a team's services, or a scope's teams.
    pub movers: Vec<CostMover>,
}

/// A team or service whose cost moved between the two months.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CostMover {
    #[schema(schema_with = mover_kind)]
    pub kind: &'static str,
    /// The team or service name (empty for costs with no service).
    pub name: String,
    pub previous_cost: Amount,
    pub cost: Amount,
    /// `cost - previous_cost`.
    pub change: Amount,
}

fn mover_kind() -> ObjectBuilder {
    one_of(&["team", "service"])
}

/// One month's unit cost taken apart: per currency, the cost items that
/// add up to the cost, and the metric points its value was made of.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostExplanation {
    #[schema(example = "orders")]
    pub metric: String,
    #[schema(example = "order")]
    pub unit: String,
    #[schema(schema_with = aggregation)]
    pub aggregation: &'static str,
    pub scope: String,
    #[schema(schema_with = month)]
    pub month: String,
    /// Per currency: the figures and their items.
    pub costs: Vec<UnitCostBreakdown>,
    /// The points used: the month's value, or the days the aggregation took
    /// (for `last`, the latest day only).
    pub points: Vec<MetricPointValue>,
}

/// One currency of an explained unit cost.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostBreakdown {
    pub row: UnitCostRow,
    /// The items adding up to `row.cost`: direct cost by rule and pool
    /// shares per team (for an environment: direct cost in it by rule, and
    /// the shared cost attributed to it), largest first within a team.
    pub items: Vec<UnitCostItem>,
}

/// One amount behind a unit cost.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UnitCostItem {
    /// The team, or `unallocated`.
    pub team: String,
    /// `direct` (lines a rule gave the team), `pool` (a share of a pool) or
    /// `attributed` (an environment's part of the team's shared cost).
    #[schema(schema_with = unit_cost_item_source)]
    pub source: &'static str,
    /// With `direct`: the rule (null for lines no rule matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, required = false)]
    pub rule: Option<Option<String>>,
    /// With `pool`: the pool and its method.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = share_method, required = false)]
    pub method: Option<&'static str>,
    pub amount: Amount,
}

fn unit_cost_item_source() -> ObjectBuilder {
    one_of(&["direct", "pool", "attributed"])
}

/// A metric point's date and value.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricPointValue {
    /// `YYYY-MM-DD`, or `YYYY-MM` for a month's value.
    #[schema(example = "2026-10-01")]
    pub date: String,
    #[schema(example = "1200")]
    pub value: String,
}
