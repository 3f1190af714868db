//! One cost line, modelled on the FOCUS cost-and-usage columns allot uses.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::money::{Currency, Money};
use super::month::Month;

/// FOCUS `ChargeCategory`: the kind of charge. Kept on every line so that
/// rules can route tax, credits and purchases deliberately.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ChargeCategory {
    Usage,
    Purchase,
    Tax,
    Credit,
    Adjustment,
}

impl ChargeCategory {
    pub const ALL: [ChargeCategory; 5] = [
        ChargeCategory::Usage,
        ChargeCategory::Purchase,
        ChargeCategory::Tax,
        ChargeCategory::Credit,
        ChargeCategory::Adjustment,
    ];

    /// Parses a category, ignoring case and surrounding whitespace.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ChargeCategory::Usage => "Usage",
            ChargeCategory::Purchase => "Purchase",
            ChargeCategory::Tax => "Tax",
            ChargeCategory::Credit => "Credit",
            ChargeCategory::Adjustment => "Adjustment",
        }
    }
}

impl fmt::Display for ChargeCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of a line's cost columns allocation uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CostBasis {
    /// FOCUS `EffectiveCost`: amortized, after discounts. The showback default.
    #[default]
    Effective,
    /// FOCUS `BilledCost`: what the invoice charges.
    Billed,
    /// FOCUS `ListCost`: public list price.
    List,
}

impl CostBasis {
    pub fn as_str(&self) -> &'static str {
        match self {
            CostBasis::Effective => "effective",
            CostBasis::Billed => "billed",
            CostBasis::List => "list",
        }
    }
}

impl FromStr for CostBasis {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "effective" => Ok(CostBasis::Effective),
            "billed" => Ok(CostBasis::Billed),
            "list" => Ok(CostBasis::List),
            _ => Err(format!(
                "expected a cost basis `effective`, `billed` or `list`, found `{s}`"
            )),
        }
    }
}

impl fmt::Display for CostBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which month a cost is reported in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// The month of its charge period, at the configured cost basis: the
    /// usage view showback uses. The default.
    #[default]
    Charge,
    /// The month its billing period (the invoice) starts in, at billed
    /// cost: the view that reconciles to each invoice.
    Billing,
}

impl Period {
    pub fn as_str(&self) -> &'static str {
        match self {
            Period::Charge => "charge",
            Period::Billing => "billing",
        }
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "charge" => Ok(Period::Charge),
            "billing" => Ok(Period::Billing),
            _ => Err(format!(
                "expected a period `charge` (the month of the charge) or `billing` (the invoice month), found `{s}`"
            )),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resource tags exactly as the provider wrote them (keys are not
/// normalised here; rules normalise when they match).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One cost line. Amounts are exact decimals in the line's billing currency.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CostLine {
    pub charge_period_start: DateTime<Utc>,
    pub charge_period_end: DateTime<Utc>,
    pub billing_period_start: NaiveDate,
    pub billing_period_end: NaiveDate,
    pub billing_account_id: String,
    pub billing_account_name: Option<String>,
    pub sub_account_id: Option<String>,
    pub sub_account_name: Option<String>,
    pub provider: String,
    pub service_name: Option<String>,
    pub service_category: Option<String>,
    pub region: Option<String>,
    pub resource_id: Option<String>,
    pub charge_category: ChargeCategory,
    pub charge_class: Option<String>,
    pub currency: Currency,
    pub billed_cost: Decimal,
    pub effective_cost: Decimal,
    pub list_cost: Decimal,
    pub contracted_cost: Option<Decimal>,
    pub consumed_quantity: Option<Decimal>,
    pub consumed_unit: Option<String>,
    pub tags: Tags,
}

impl CostLine {
    /// The line's cost on the given basis.
    pub fn cost(&self, basis: CostBasis) -> Money {
        let amount = match basis {
            CostBasis::Effective => self.effective_cost,
            CostBasis::Billed => self.billed_cost,
            CostBasis::List => self.list_cost,
        };
        Money::new(amount, self.currency)
    }

    /// The month the cost belongs to: the UTC month its charge period starts in.
    pub fn month(&self) -> Month {
        Month::of(self.charge_period_start.date_naive())
    }

    /// The month the line is reported in for `period`: its charge month,
    /// or the month its billing period (invoice) starts in.
    pub fn month_in(&self, period: Period) -> Month {
        match period {
            Period::Charge => self.month(),
            Period::Billing => Month::of(self.billing_period_start),
        }
    }

    /// The UTC days the charge period covers (at least one). A charge whose
    /// period spans several days is spread evenly over them in daily views.
    pub fn days(&self) -> Vec<NaiveDate> {
        let first = self.charge_period_start.date_naive();
        // The end is exclusive: a period ending at midnight does not touch the next day.
        let last_instant = self.charge_period_end - chrono::Duration::nanoseconds(1);
        let last = last_instant.date_naive().max(first);
        first.iter_days().take_while(|d| *d <= last).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_category_ignores_case() {
        assert_eq!(
            ChargeCategory::parse(" usage "),
            Some(ChargeCategory::Usage)
        );
        assert_eq!(ChargeCategory::parse("TAX"), Some(ChargeCategory::Tax));
        assert_eq!(ChargeCategory::parse("Refund"), None);
    }
}

/// A cost line as stored: possibly the sum of several source rows that differ
/// only in their hour (importers roll hourly rows up into daily lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLine {
    pub line: CostLine,
    pub source_rows: u64,
}
