//! Which stored anomaly a newly found one continues. Detection runs again
//! as data arrives and is restated; matching keeps one spike one anomaly
//! (one id, one notification) however its days and scope evolve. Pure
//! policy: the store reads the candidates and writes what this decides.

use chrono::NaiveDate;

use super::{Anomaly, Direction, Scope};
use crate::domain::Currency;

/// How far apart (in days) a found anomaly and a stored one of the same
/// series may be and still be the same anomaly.
pub const SAME_ANOMALY_GAP_DAYS: u64 = 2;

/// Where an anomaly stands with people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnomalyStatus {
    Open,
    Acknowledged,
    /// Restated data no longer shows it. Kept (it may have been alerted),
    /// listed only when asked for; reopened if the data shows it again.
    Withdrawn,
}

impl AnomalyStatus {
    pub const ALL: [AnomalyStatus; 3] = [
        AnomalyStatus::Open,
        AnomalyStatus::Acknowledged,
        AnomalyStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyStatus::Open => "open",
            AnomalyStatus::Acknowledged => "acknowledged",
            AnomalyStatus::Withdrawn => "withdrawn",
        }
    }

    /// The status named `s`, as [`AnomalyStatus::as_str`] spells it.
    pub fn parse(s: &str) -> Option<AnomalyStatus> {
        AnomalyStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The status a stored anomaly takes when detection finds it again: a
    /// withdrawn one reopens, the others keep theirs.
    pub fn found_again(self) -> AnomalyStatus {
        match self {
            AnomalyStatus::Withdrawn => AnomalyStatus::Open,
            kept => kept,
        }
    }
}

impl std::fmt::Display for AnomalyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored anomaly as matching sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub id: i64,
    pub scope: Scope,
    pub currency: Currency,
    pub direction: Direction,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub status: AnomalyStatus,
}

impl Known {
    fn near(&self, a: &Anomaly) -> bool {
        let gap = chrono::Days::new(SAME_ANOMALY_GAP_DAYS);
        self.currency == a.currency
            && self.direction == a.direction
            && self.first_day <= a.last_day + gap
            && a.first_day <= self.last_day + gap
    }

    /// A service anomaly of the team, on days of a team anomaly that now
    /// says it.
    fn absorbed_by(&self, a: &Anomaly) -> bool {
        matches!(
            (&a.scope, &self.scope),
            (Scope::Team(team), Scope::TeamService(of, _)) if team == of
        ) && self.overlap(a) > 0
    }

    /// Days in common with `a` (zero or less when they only touch).
    fn overlap(&self, a: &Anomaly) -> i64 {
        (self.last_day.min(a.last_day) - self.first_day.max(a.first_day)).num_days() + 1
    }

    /// Whether detection over `from..=to` should have found it again: an
    /// open anomaly with a day in the window that no found one continued
    /// is withdrawn.
    pub fn withdrawn_by(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.status == AnomalyStatus::Open && self.first_day <= to && self.last_day >= from
    }
}

/// The days a detection over `from..=to` that found `found` must read
/// stored anomalies for: any of them may continue one up to
/// [`SAME_ANOMALY_GAP_DAYS`] away.
pub fn candidate_window(
    found: &[Anomaly],
    from: NaiveDate,
    to: NaiveDate,
) -> (NaiveDate, NaiveDate) {
    let gap = chrono::Days::new(SAME_ANOMALY_GAP_DAYS);
    let lo = found
        .iter()
        .map(|a| a.first_day)
        .chain([from])
        .min()
        .unwrap_or(from);
    let hi = found
        .iter()
        .map(|a| a.last_day)
        .chain([to])
        .max()
        .unwrap_or(to);
    (lo - gap, hi + gap)
}

/// Which stored anomaly (index into `known`, taken out) each found one
/// updates. First every found anomaly takes the stored one of its own
/// series nearest to it (most days in common, open or acknowledged before
/// withdrawn); then a team anomaly left without one takes a stored service
/// anomaly of its team that it now says (its own series not found again).
/// What is left in `known` was not found again.
pub fn match_known(found: &[Anomaly], known: &mut [Option<Known>]) -> Vec<Option<Known>> {
    let mut out: Vec<Option<Known>> = vec![None; found.len()];
    let best = |a: &Anomaly, known: &[Option<Known>], test: &dyn Fn(&Known) -> bool| {
        known
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().filter(|c| c.near(a) && test(c)).map(|c| (i, c)))
            .max_by_key(|(i, c)| {
                (
                    c.status != AnomalyStatus::Withdrawn,
                    c.overlap(a),
                    std::cmp::Reverse(*i),
                )
            })
            .map(|(i, _)| i)
    };
    for (slot, a) in out.iter_mut().zip(found) {
        if let Some(i) = best(a, known, &|c| c.scope == a.scope) {
            *slot = known[i].take();
        }
    }
    for (slot, a) in out.iter_mut().zip(found) {
        if slot.is_none()
            && let Some(i) = best(a, known, &|c| c.absorbed_by(a))
        {
            *slot = known[i].take();
        }
    }
    out
}
