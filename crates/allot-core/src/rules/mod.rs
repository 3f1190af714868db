//! Ownership rules: text -> AST ([`ast`]) -> checked [`RuleSet`] -> an owner
//! for each cost line. Rules are ordered and the first match wins; lines no
//! rule matches are `unallocated`. The language is documented in
//! `docs/rules.md`, whose examples are run by the tests.
//!
//! Only [`load_dir`] touches the file system; everything else is pure.

pub mod ast;
mod check;
mod diagnostic;
mod dimensions;
mod parse;
mod pattern;
mod pools;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::domain::{CostLine, Metric, Month, TeamId};
pub use check::check;
pub use diagnostic::{Diagnostic, RuleErrors};
pub use dimensions::{EnvironmentDimension, Groups, UNSPECIFIED};
pub use pattern::{Pattern, normalise};
pub use pools::{Fallback, Method, Pool, PoolTarget, Targets as PoolTargets};

/// The default rules directory.
pub const DEFAULT_RULES_DIR: &str = "allocation-rules";

/// A cost-line attribute a rule can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    BillingAccount,
    SubAccount,
    Provider,
    Service,
    ServiceCategory,
    Region,
    ResourceId,
    ChargeCategory,
}

impl Field {
    pub fn name(&self) -> &'static str {
        match self {
            Field::BillingAccount => "billing_account",
            Field::SubAccount => "sub_account",
            Field::Provider => "provider",
            Field::Service => "service",
            Field::ServiceCategory => "service_category",
            Field::Region => "region",
            Field::ResourceId => "resource_id",
            Field::ChargeCategory => "charge_category",
        }
    }

    /// The line's values for this field; account matchers see both id and name.
    fn values<'a>(&self, line: &'a CostLine) -> [Option<&'a str>; 2] {
        match self {
            Field::BillingAccount => [
                Some(&line.billing_account_id),
                line.billing_account_name.as_deref(),
            ],
            Field::SubAccount => [
                line.sub_account_id.as_deref(),
                line.sub_account_name.as_deref(),
            ],
            Field::Provider => [Some(&line.provider), None],
            Field::Service => [line.service_name.as_deref(), None],
            Field::ServiceCategory => [line.service_category.as_deref(), None],
            Field::Region => [line.region.as_deref(), None],
            Field::ResourceId => [line.resource_id.as_deref(), None],
            Field::ChargeCategory => [Some(line.charge_category.as_str()), None],
        }
    }
}

#[derive(Clone, Debug)]
enum Matcher {
    Field(Field, Vec<Pattern>),
    Tag(String, Vec<Pattern>),
}

/// Where a rule sends the lines it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Team(TeamId),
    /// The team named by this (canonical) tag key's value.
    FromTag(String),
    /// A shared-cost pool (index in `RuleSet::pools`).
    Pool(usize),
}

/// The months a rule or pool applies to (both ends inclusive; open when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Active {
    pub from: Option<Month>,
    pub until: Option<Month>,
}

impl Active {
    pub fn contains(&self, month: Month) -> bool {
        self.from.is_none_or(|f| f <= month) && self.until.is_none_or(|u| month <= u)
    }
}

/// One checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    /// `file:line` of the rule, for explanations.
    pub location: String,
    pub target: Target,
    matchers: Vec<Matcher>,
    pub active: Active,
}

/// Why a line that a `team_from_tag` rule matched still went to `unallocated`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unassignable {
    /// The tag value is not a known team nor an alias of one.
    UnknownTeam { tag: String, value: String },
    /// The tag value cannot be a team name at all.
    InvalidTeam { tag: String, value: String },
    /// The rule's pool does not apply in the line's month.
    PoolInactive { pool: String },
}

impl std::fmt::Display for Unassignable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unassignable::PoolInactive { pool } => write!(
                f,
                "pool `{pool}` is not in effect in this month: check its `from` and `until`"
            ),
            Unassignable::UnknownTeam { tag, value } => write!(
                f,
                "tag `{tag}` names unknown team `{value}`: add it to `[teams] known` or as an alias in `[teams.aliases]`"
            ),
            Unassignable::InvalidTeam { tag, value } => {
                write!(
                    f,
                    "tag `{tag}` value `{value}` is not a valid team name: fix the tag or add an alias"
                )
            }
        }
    }
}

/// The owner a rule set gives one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    Team {
        team: TeamId,
        rule: usize,
    },
    /// To a shared-cost pool, split later.
    Pool {
        pool: usize,
        rule: usize,
    },
    Unallocated {
        rule: Option<usize>,
        reason: Option<Unassignable>,
    },
}

/// A checked, ready-to-evaluate rule set.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub pools: Vec<Pool>,
    /// Pool indices in dependency order: a pool before the pools it feeds.
    pub pool_order: Vec<usize>,
    /// Metrics `usage` pools may name.
    metrics: BTreeSet<Metric>,
    known_teams: Option<BTreeSet<TeamId>>,
    /// Normalised value alias -> team.
    team_aliases: HashMap<String, TeamId>,
    /// Normalised tag-key spelling -> canonical key.
    tag_keys: HashMap<String, String>,
    /// `[groups]`, expanded.
    groups: Groups,
    /// `[environment]`.
    environment: Option<EnvironmentDimension>,
    /// SHA-256 of the files the set was checked from (see [`RuleSet::digest`]).
    digest: String,
}

impl RuleSet {
    /// The SHA-256 (hex) of the files the set was checked from: each file's
    /// name (without its directory), length and text, in name order. The
    /// same files give the same digest wherever they are checked out, so an
    /// audit entry names exactly the rules an allocation used.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The declared known teams, if the rules declare them.
    pub fn known_teams(&self) -> Option<&BTreeSet<TeamId>> {
        self.known_teams.as_ref()
    }

    /// Every team the rules can name: known teams and fixed rule targets.
    pub fn declared_teams(&self) -> BTreeSet<TeamId> {
        let mut teams: BTreeSet<TeamId> = self.known_teams.clone().unwrap_or_default();
        for r in &self.rules {
            if let Target::Team(t) = &r.target {
                teams.insert(t.clone());
            }
        }
        teams
    }

    /// The canonical key for a tag key as written on a resource.
    pub fn canonical_tag_key(&self, key: &str) -> String {
        let n = normalise(key);
        self.tag_keys.get(&n).cloned().unwrap_or(n)
    }

    /// Resolves a team name or alias as written in a tag.
    pub fn resolve_team(&self, tag: &str, value: &str) -> Result<TeamId, Unassignable> {
        let n = normalise(value);
        if let Some(team) = self.team_aliases.get(&n) {
            return Ok(team.clone());
        }
        let team = TeamId::parse(&n).map_err(|_| Unassignable::InvalidTeam {
            tag: tag.to_string(),
            value: value.trim().to_string(),
        })?;
        match &self.known_teams {
            Some(known) if !known.contains(&team) => Err(Unassignable::UnknownTeam {
                tag: tag.to_string(),
                value: value.trim().to_string(),
            }),
            _ => Ok(team),
        }
    }

    /// The line's tags with canonical keys.
    fn line_tags<'l>(&self, line: &'l CostLine) -> Vec<(String, &'l str)> {
        line.tags
            .0
            .iter()
            .map(|(k, v)| (self.canonical_tag_key(k), v.as_str()))
            .collect()
    }

    fn matches_with(&self, matchers: &[Matcher], line: &CostLine, tags: &[(String, &str)]) -> bool {
        matchers.iter().all(|m| match m {
            Matcher::Field(field, patterns) => {
                let values = field.values(line);
                patterns
                    .iter()
                    .any(|p| values.iter().flatten().any(|v| p.matches(v)))
            }
            Matcher::Tag(key, patterns) => {
                tag_value(tags, key).is_some_and(|v| patterns.iter().any(|p| p.matches(v)))
            }
        })
    }

    /// Whether every matcher matches the line (an empty list matches all).
    fn matches_all(&self, matchers: &[Matcher], line: &CostLine) -> bool {
        matchers.is_empty() || self.matches_with(matchers, line, &self.line_tags(line))
    }

    /// The metrics `usage` pools may name.
    pub fn metrics(&self) -> &BTreeSet<Metric> {
        &self.metrics
    }

    /// Gives a line its owner: the first rule in effect that matches wins.
    pub fn assign(&self, line: &CostLine) -> Assignment {
        self.assign_in(line, line.month())
    }

    /// [`RuleSet::assign`] with the rules and pools in effect in `month`:
    /// the month of the report the line is in, which for the invoice view
    /// may be later than the line's own charge month.
    pub fn assign_in(&self, line: &CostLine, month: Month) -> Assignment {
        let tags = self.line_tags(line);
        let tag = |key: &str| tag_value(&tags, key);
        for (index, rule) in self.rules.iter().enumerate() {
            if !rule.active.contains(month) || !self.matches_with(&rule.matchers, line, &tags) {
                continue;
            }
            match &rule.target {
                Target::Team(team) => {
                    return Assignment::Team {
                        team: team.clone(),
                        rule: index,
                    };
                }
                Target::Pool(pool) => {
                    return if self.pools[*pool].active.contains(month) {
                        Assignment::Pool {
                            pool: *pool,
                            rule: index,
                        }
                    } else {
                        Assignment::Unallocated {
                            rule: Some(index),
                            reason: Some(Unassignable::PoolInactive {
                                pool: self.pools[*pool].name.clone(),
                            }),
                        }
                    };
                }
                Target::FromTag(key) => {
                    let Some(value) = tag(key) else { continue };
                    return match self.resolve_team(key, value) {
                        Ok(team) => Assignment::Team { team, rule: index },
                        Err(reason) => Assignment::Unallocated {
                            rule: Some(index),
                            reason: Some(reason),
                        },
                    };
                }
            }
        }
        Assignment::Unallocated {
            rule: None,
            reason: None,
        }
    }
}

/// The first non-empty value of a canonical tag key.
fn tag_value<'l>(tags: &[(String, &'l str)], key: &str) -> Option<&'l str> {
    tags.iter()
        .find(|(k, v)| k == key && !v.trim().is_empty())
        .map(|(_, v)| *v)
}

/// Reads every `*.toml` file in `dir` (in file-name order) and checks them.
pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
    let fail = |message: String, hint: &str| {
        RuleErrors(vec![Diagnostic {
            file: dir.to_path_buf(),
            line: 1,
            column: 1,
            message,
            snippet: String::new(),
            hint: Some(hint.to_string()),
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        fail(
            format!("cannot read rules directory `{}`: {e}", dir.display()),
            "pass the directory holding your rule files, or create `allocation-rules/` (see docs/rules.md)",
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail(
            format!("no rule files (`*.toml`) in `{}`", dir.display()),
            "add at least one rule file; docs/rules.md has a starting point",
        ));
    }
    let mut sources = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            fail(
                format!("cannot read `{}`: {e}", path.display()),
                "check the file's permissions",
            )
        })?;
        sources.push((path, text));
    }
    check(&sources)
}

#[cfg(test)]
mod tests;
