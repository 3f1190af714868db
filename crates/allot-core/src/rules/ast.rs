//! The rule files as written: TOML deserialised with source spans, before
//! any checking. See `docs/rules.md` for the language.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One `*.toml` file in the rules directory.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAst {
    pub teams: Option<TeamsAst>,
    /// Canonical tag key -> the spellings that mean it.
    pub tag_keys: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    /// Usage metrics that `usage` pools may name.
    pub usage: Option<UsageAst>,
    /// Group name -> its members: teams, and `group:NAME` for a group in it.
    pub groups: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    /// The environment dimension.
    pub environment: Option<EnvironmentAst>,
    #[serde(default)]
    pub rule: Vec<Spanned<RuleAst>>,
    #[serde(default)]
    pub pool: Vec<Spanned<PoolAst>>,
}

/// `[environment]`: the tag that names a line's environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentAst {
    /// The tag key (spellings from `[tag_keys]` apply).
    pub tag: Spanned<String>,
    /// Value alias -> environment (`prod = "production"`).
    pub aliases: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageAst {
    pub metrics: Spanned<Vec<Spanned<String>>>,
}

/// A shared-cost pool and how it is split.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolAst {
    pub name: Spanned<String>,
    pub description: Option<String>,
    /// `even`, `fixed`, `proportional` or `usage`.
    pub method: Spanned<String>,
    /// `"all"` (every team) or a list of teams and pools.
    pub targets: Option<Spanned<Targets>>,
    /// `fixed`: target -> percentage; the percentages sum to 100.
    pub shares: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    /// `proportional`: only direct costs matching this count as weight.
    pub filter: Option<Spanned<MatchAst>>,
    /// `usage`: the metric whose quantities are the weights.
    pub metric: Option<Spanned<String>>,
    /// When every weight is zero: `even` (default), `unallocated`, or a team.
    pub fallback: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
}

/// `"all"` or a list of names.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "\"all\" or a list of team and pool names")]
pub enum Targets {
    All(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsAst {
    pub known: Option<Spanned<Vec<Spanned<String>>>>,
    /// Value alias -> team.
    pub aliases: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleAst {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub team: Option<Spanned<String>>,
    pub team_from_tag: Option<Spanned<String>>,
    /// Send matched lines to this shared-cost pool.
    pub pool: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pub matcher: Option<MatchAst>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchAst {
    pub billing_account: Option<Spanned<Patterns>>,
    pub sub_account: Option<Spanned<Patterns>>,
    pub provider: Option<Spanned<Patterns>>,
    pub service: Option<Spanned<Patterns>>,
    pub service_category: Option<Spanned<Patterns>>,
    pub region: Option<Spanned<Patterns>>,
    pub resource_id: Option<Spanned<Patterns>>,
    pub charge_category: Option<Spanned<Patterns>>,
    pub tags: Option<BTreeMap<String, Spanned<Patterns>>>,
}

/// A single pattern or a list of alternatives.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum Patterns {
    One(String),
    Many(Vec<String>),
}

impl Patterns {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Patterns::One(s) => std::slice::from_ref(s),
            Patterns::Many(v) => v,
        }
    }
}
