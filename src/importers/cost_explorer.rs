//! AWS Cost Explorer importer: `GetCostAndUsage` at daily granularity, with
//! the amortized and unblended metrics, grouped by up to two tags or
//! dimensions (`tag:team`, `service`, `account`), through the AWS SDK and
//! its default credential chain.
//!
//! Cost Explorer has no exports or invoices: each (day) is its own
//! partition of the `cost-explorer` billing account, replaced when imported
//! again. Days Cost Explorer marks as estimated are recorded, so a later
//! import can fetch just the days that can still change. Pagination follows
//! `NextPageToken`; throttling is retried by the SDK with backoff. Every
//! request costs the user money: the number made is reported.

use std::collections::BTreeMap;
use std::str::FromStr;

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, GroupDefinition, GroupDefinitionType,
};
use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use super::ImportError;
use crate::domain::StoredLine;
use crate::domain::{ChargeCategory, CostLine, Currency, Tags};
use crate::store::{ImportSummary, Store};

/// The billing account Cost Explorer data is stored under.
pub const ACCOUNT: &str = "cost-explorer";
const AMORTIZED: &str = "AmortizedCost";
const UNBLENDED: &str = "UnblendedCost";

/// A grouping of the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKey {
    Tag(String),
    Service,
    Account,
}

impl FromStr for GroupKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "service" => Ok(GroupKey::Service),
            "account" => Ok(GroupKey::Account),
            other => match other.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Ok(GroupKey::Tag(key.to_string())),
                _ => Err(format!(
                    "expected `tag:KEY`, `service` or `account`, found `{other}`"
                )),
            },
        }
    }
}

/// What to fetch: days `start..end` (end exclusive, as Cost Explorer takes it).
#[derive(Clone, Debug)]
pub struct Request {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// At most two (a Cost Explorer limit).
    pub group_by: Vec<GroupKey>,
    /// The source run the import belongs to, recorded with it.
    pub run: Option<i64>,
}

/// An import's summary and what it cost.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub summary: ImportSummary,
    /// `GetCostAndUsage` requests made (each is billed by AWS).
    pub requests: u32,
    /// Days Cost Explorer marked as estimated.
    pub estimated_days: Vec<NaiveDate>,
}

/// A client from the default credential chain and region, optionally for
/// another endpoint (a proxy or a stand-in).
pub async fn client(endpoint_url: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    Client::new(&config)
}

/// The first day that can still change: the earliest day stored as
/// estimated, else the first day of `today`'s month.
pub async fn default_start(store: &Store, today: NaiveDate) -> Result<NaiveDate, ImportError> {
    let estimated = store.estimated_periods(ACCOUNT).await?;
    let month_start = today.with_day0(0).unwrap_or(today);
    Ok(estimated
        .first()
        .copied()
        .map_or(month_start, |d| d.min(month_start)))
}

fn err(message: String) -> ImportError {
    ImportError::Remote {
        service: "AWS Cost Explorer".into(),
        message,
    }
}

/// Fetches `request` and imports it atomically.
pub async fn import(
    store: &Store,
    client: &Client,
    request: &Request,
) -> Result<Fetched, ImportError> {
    if request.start >= request.end {
        return Err(err(format!(
            "the start {} must be before the end {}",
            request.start, request.end
        )));
    }
    if request.group_by.len() > 2 {
        return Err(err("Cost Explorer groups by at most two keys".into()));
    }
    let groups: Vec<GroupDefinition> = request
        .group_by
        .iter()
        .map(|g| {
            let (kind, key) = match g {
                GroupKey::Tag(k) => (GroupDefinitionType::Tag, k.clone()),
                GroupKey::Service => (GroupDefinitionType::Dimension, "SERVICE".to_string()),
                GroupKey::Account => (GroupDefinitionType::Dimension, "LINKED_ACCOUNT".to_string()),
            };
            GroupDefinition::builder().r#type(kind).key(key).build()
        })
        .collect();
    let mut lines: BTreeMap<(NaiveDate, Vec<String>, Currency), (Decimal, Decimal)> =
        BTreeMap::new();
    let mut estimated = Vec::new();
    let mut requests = 0u32;
    let mut token: Option<String> = None;
    loop {
        let period = DateInterval::builder()
            .start(request.start.to_string())
            .end(request.end.to_string())
            .build()
            .map_err(|e| err(e.to_string()))?;
        let response = client
            .get_cost_and_usage()
            .time_period(period)
            .granularity(Granularity::Daily)
            .metrics(AMORTIZED)
            .metrics(UNBLENDED)
            .set_group_by((!groups.is_empty()).then(|| groups.clone()))
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                err(super::aws_failure(
                    aws_sdk_costexplorer::error::DisplayErrorContext(&e).to_string(),
                ))
            })?;
        requests += 1;
        for result in response.results_by_time() {
            let day = result
                .time_period()
                .and_then(|p| NaiveDate::parse_from_str(p.start(), "%Y-%m-%d").ok())
                .ok_or_else(|| err("a result without a valid TimePeriod.Start".into()))?;
            if result.estimated() {
                estimated.push(day);
            }
            let mut add = |keys: Vec<String>,
                           metrics: Option<
                &std::collections::HashMap<String, aws_sdk_costexplorer::types::MetricValue>,
            >|
             -> Result<(), ImportError> {
                let Some(metrics) = metrics else {
                    return Ok(());
                };
                let amount = |name: &str| -> Result<(Decimal, Option<Currency>), ImportError> {
                    let Some(m) = metrics.get(name) else {
                        return Ok((Decimal::ZERO, None));
                    };
                    let value = m.amount().unwrap_or("0");
                    let amount = super::values::decimal(value).ok_or_else(|| {
                        err(format!(
                            "{day}: {name} is `{value}`, expected a decimal number"
                        ))
                    })?;
                    Ok((amount, m.unit().and_then(|u| Currency::parse(u).ok())))
                };
                let (amortized, c1) = amount(AMORTIZED)?;
                let (unblended, c2) = amount(UNBLENDED)?;
                let currency = c1
                    .or(c2)
                    .unwrap_or(Currency::parse("USD").map_err(|e| err(e.to_string()))?);
                let entry = lines.entry((day, keys, currency)).or_default();
                entry.0 += amortized;
                entry.1 += unblended;
                Ok(())
            };
            if result.groups().is_empty() {
                add(vec![], result.total())?;
            }
            for g in result.groups() {
                add(g.keys().to_vec(), g.metrics())?;
            }
        }
        token = response
            .next_page_token()
            .map(str::to_string)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    let mut tx = store
        .begin_import(
            "cost-explorer",
            &[format!("{}..{}", request.start, request.end)],
            request.run,
        )
        .await?;
    tx.claim_every_period();
    for day in &estimated {
        tx.mark_estimated(ACCOUNT, *day);
    }
    let rows = lines.len() as u64;
    let stored: Vec<StoredLine> = lines
        .into_iter()
        .map(
            |((day, keys, currency), (amortized, unblended))| StoredLine {
                line: line(
                    day,
                    &request.group_by,
                    &keys,
                    currency,
                    amortized,
                    unblended,
                ),
                source_rows: 1,
            },
        )
        .collect();
    tx.insert_lines(&stored).await?;
    let summary = tx.commit(rows).await?;
    tracing::info!(
        requests,
        days = summary.months.len(),
        estimated = estimated.len(),
        "cost explorer import"
    );
    Ok(Fetched {
        summary,
        requests,
        estimated_days: estimated,
    })
}

/// One day's group as a cost line. Tag keys come as `team$payments`, and
/// `team$` for resources without the tag.
fn line(
    day: NaiveDate,
    group_by: &[GroupKey],
    keys: &[String],
    currency: Currency,
    amortized: Decimal,
    unblended: Decimal,
) -> CostLine {
    let mut tags = BTreeMap::new();
    let (mut service, mut account) = (None, None);
    for (group, key) in group_by.iter().zip(keys) {
        match group {
            GroupKey::Tag(name) => {
                let value = key.split_once('$').map(|(_, v)| v).unwrap_or(key);
                if !value.is_empty() {
                    tags.insert(name.clone(), value.to_string());
                }
            }
            GroupKey::Service => service = Some(key.clone()),
            GroupKey::Account => account = Some(key.clone()),
        }
    }
    let start = day.and_time(NaiveTime::MIN).and_utc();
    CostLine {
        charge_period_start: start,
        charge_period_end: start + Duration::days(1),
        billing_period_start: day,
        billing_period_end: day + Duration::days(1),
        billing_account_id: ACCOUNT.to_string(),
        billing_account_name: Some("AWS Cost Explorer".to_string()),
        sub_account_id: account,
        sub_account_name: None,
        provider: "AWS".to_string(),
        service_name: service,
        service_category: None,
        region: None,
        resource_id: None,
        charge_category: ChargeCategory::Usage,
        charge_class: None,
        currency,
        billed_cost: unblended,
        effective_cost: amortized,
        list_cost: unblended,
        contracted_cost: None,
        consumed_quantity: None,
        consumed_unit: None,
        tags: Tags(tags),
    }
}
