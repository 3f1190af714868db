//! Ownership rules: text -> AST ([`ast`]) -> checked [`RuleSet`] -> an owner
//! for each cost line. Rules are ordered and the first match wins; lines no
//! rule matches are `unallocated`. The language is documented in
//! `docs/rules.md`, whose examples are run by the tests.
//!
//! Only [`load_dir`] touches the file system; everything else is pure.

pub mod ast;
mod diagnostic;
mod pattern;
mod pools;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::domain::{ChargeCategory, CostLine, Metric, Month, TeamId, TeamIdError};
use diagnostic::closest;
pub use diagnostic::{Diagnostic, RuleErrors};
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
}

impl RuleSet {
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

/// Parses and checks rule sources given as (file name, text), in order.
pub fn check(sources: &[(PathBuf, String)]) -> Result<RuleSet, RuleErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for (path, text) in sources {
        let (file, problems) = parse_file(path, text);
        errors.extend(problems);
        files.push((path.as_path(), text.as_str(), file));
    }
    let mut checker = Checker {
        errors,
        set: RuleSet::default(),
        names: BTreeMap::new(),
        pool_index: BTreeMap::new(),
        metrics: BTreeSet::new(),
    };
    // Declarations first (any file may declare them), then rules in order.
    for (path, text, file) in &files {
        checker.declarations(path, text, file);
    }
    for (path, text, file) in &files {
        checker.aliases(path, text, file);
    }
    for (path, text, file) in &files {
        checker.declare_pools(path, text, file);
    }
    for (path, text, file) in &files {
        for pool in &file.pool {
            checker.pool(path, text, pool);
        }
    }
    for (path, text, file) in &files {
        for rule in &file.rule {
            checker.rule(path, text, rule);
        }
    }
    checker.set.pool_order = checker.pool_cycles(&files);
    checker.set.metrics = std::mem::take(&mut checker.metrics);
    checker.unreachable(&files);
    // Every error, in reading order.
    let order: Vec<&Path> = sources.iter().map(|(p, _)| p.as_path()).collect();
    checker.errors.sort_by_key(|d| {
        (
            order.iter().position(|p| *p == d.file.as_path()),
            d.line,
            d.column,
        )
    });
    if checker.errors.is_empty() {
        Ok(checker.set)
    } else {
        Err(RuleErrors(checker.errors))
    }
}

const MATCH_FIELDS: [&str; 9] = [
    "billing_account",
    "sub_account",
    "provider",
    "service",
    "service_category",
    "region",
    "resource_id",
    "charge_category",
    "tags",
];
const RULE_FIELDS: [&str; 8] = [
    "name",
    "description",
    "team",
    "team_from_tag",
    "pool",
    "from",
    "until",
    "match",
];
const POOL_FIELDS: [&str; 7] = [
    "method", "targets", "shares", "filter", "metric", "fallback", "metrics",
];
const TOP_FIELDS: [&str; 5] = ["teams", "tag_keys", "usage", "rule", "pool"];

/// Parses one file entry by entry, so that a mistake in one rule or pool
/// does not hide the mistakes in the others: every entry that parses is
/// kept, every one that does not is reported.
fn parse_file(path: &Path, text: &str) -> (ast::FileAst, Vec<Diagnostic>) {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use toml::de::DeValue;

    let mut file = ast::FileAst::default();
    let mut errors = Vec::new();
    let table = match toml::de::DeTable::parse(text) {
        Ok(table) => table,
        Err(e) => return (file, vec![parse_error(path, text, &e)]),
    };
    fn each<'de, T: Deserialize<'de>>(
        value: Spanned<DeValue<'de>>,
        out: &mut Vec<Spanned<T>>,
        errors: &mut Vec<toml::de::Error>,
    ) {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                for item in items {
                    match Spanned::<T>::deserialize(item.into_deserializer()) {
                        Ok(v) => out.push(v),
                        Err(e) => errors.push(e),
                    }
                }
            }
            other => {
                if let Err(e) =
                    Vec::<Spanned<T>>::deserialize(Spanned::new(span, other).into_deserializer())
                {
                    errors.push(e);
                }
            }
        }
    }
    let mut problems: Vec<toml::de::Error> = Vec::new();
    for (key, value) in table.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "rule" => each(value, &mut file.rule, &mut problems),
            "pool" => each(value, &mut file.pool, &mut problems),
            "teams" => match ast::TeamsAst::deserialize(value.into_deserializer()) {
                Ok(v) => file.teams = Some(v),
                Err(e) => problems.push(e),
            },
            "tag_keys" => match Deserialize::deserialize(value.into_deserializer()) {
                Ok(v) => file.tag_keys = Some(v),
                Err(e) => problems.push(e),
            },
            "usage" => match ast::UsageAst::deserialize(value.into_deserializer()) {
                Ok(v) => file.usage = Some(v),
                Err(e) => problems.push(e),
            },
            other => {
                let fields = TOP_FIELDS.map(|f| format!("`{f}`")).join(", ");
                let message = format!("unknown field `{other}`, expected one of {fields}");
                // Among the top-level tables only: `[team]` means `[teams]`.
                let hint = match closest(other, TOP_FIELDS.iter().copied()) {
                    Some(s) => format!("did you mean `[{s}]`?"),
                    None => unknown_field_hint(other),
                };
                errors.push(Diagnostic::at(
                    path,
                    text,
                    Some(key_span),
                    message,
                    Some(hint),
                ));
            }
        }
    }
    errors.extend(problems.iter().map(|e| parse_error(path, text, e)));
    // Source order, as a reader goes through the file.
    errors.sort_by_key(|d| (d.line, d.column));
    (file, errors)
}

/// "did you mean" for a misspelt field name.
fn unknown_field_hint(field: &str) -> String {
    let all = MATCH_FIELDS
        .iter()
        .chain(&RULE_FIELDS)
        .chain(&TOP_FIELDS)
        .chain(&POOL_FIELDS)
        .chain(&["known", "aliases"])
        .copied();
    match closest(field, all.filter(|c| *c != field)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "see docs/rules.md for the fields a rule file may use".to_string(),
    }
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let hint = if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        // Suggest among the fields allowed where it stands (the parser
        // lists them), not a field of some other table.
        let expected: Vec<&str> = message
            .split_once("expected")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        Some(
            match closest(field, expected.iter().copied().filter(|c| *c != field)) {
                Some(s) if !expected.is_empty() => format!("did you mean `{s}`?"),
                _ => unknown_field_hint(field),
            },
        )
    } else if message.contains("missing field `name`") {
        Some("every `[[rule]]` needs a `name = \"...\"` used in explanations".to_string())
    } else {
        Some("the file must be valid TOML in the shape docs/rules.md describes".to_string())
    };
    Diagnostic::at(path, text, e.span(), message, hint)
}

struct Checker {
    errors: Vec<Diagnostic>,
    set: RuleSet,
    /// Rule name -> `file:line` of its first definition.
    names: BTreeMap<String, String>,
    /// Pool name -> index in `set.pools`.
    pool_index: BTreeMap<String, usize>,
    /// Declared usage metrics.
    metrics: BTreeSet<Metric>,
}

impl Checker {
    fn error<T>(&mut self, path: &Path, text: &str, at: &Spanned<T>, message: String, hint: &str) {
        self.errors.push(Diagnostic::at(
            path,
            text,
            Some(at.span()),
            message,
            Some(hint.to_string()),
        ));
    }

    fn team(&mut self, path: &Path, text: &str, name: &Spanned<String>) -> Option<TeamId> {
        match TeamId::parse(name.get_ref()) {
            Ok(t) => Some(t),
            Err(TeamIdError::Reserved) => {
                self.error(
                    path,
                    text,
                    name,
                    "`unallocated` is reserved".into(),
                    "pick another team name",
                );
                None
            }
            Err(TeamIdError::Invalid(v)) => {
                self.error(
                    path,
                    text,
                    name,
                    format!("`{v}` is not a valid team name"),
                    "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                );
                None
            }
        }
    }

    fn declarations(&mut self, path: &Path, text: &str, file: &ast::FileAst) {
        for m in file.usage.iter().flat_map(|u| u.metrics.get_ref()) {
            match Metric::parse(m.get_ref()) {
                Ok(metric) => {
                    if !self.metrics.insert(metric.clone()) {
                        self.error(
                            path,
                            text,
                            m,
                            format!("metric `{metric}` is declared twice"),
                            "list each metric once",
                        );
                    }
                }
                Err(e) => self.error(
                    path,
                    text,
                    m,
                    e.to_string(),
                    "metric names look like `cpu_core_hours`",
                ),
            }
        }
        if let Some(known) = file.teams.as_ref().and_then(|t| t.known.as_ref()) {
            {
                self.set.known_teams.get_or_insert_with(BTreeSet::new);
                for name in known.get_ref() {
                    if let Some(team) = self.team(path, text, name) {
                        let set = self.set.known_teams.get_or_insert_with(BTreeSet::new);
                        if !set.insert(team.clone()) {
                            self.error(
                                path,
                                text,
                                name,
                                format!("team `{team}` is declared twice"),
                                "remove the duplicate from `[teams] known`",
                            );
                        }
                    }
                }
            }
        }
        for (canonical, spellings) in file.tag_keys.iter().flatten() {
            let canonical_n = normalise(canonical);
            if spellings.get_ref().is_empty() {
                self.error(
                    path,
                    text,
                    spellings,
                    format!("tag key `{canonical}` lists no spellings"),
                    "list the spellings that mean this key, e.g. [\"team\", \"owner_team\"]",
                );
            }
            for spelling in spellings.get_ref() {
                let n = normalise(spelling.get_ref());
                match self.set.tag_keys.insert(n.clone(), canonical_n.clone()) {
                    Some(previous) if previous != canonical_n => self.error(
                        path,
                        text,
                        spelling,
                        format!("tag key spelling `{n}` already means `{previous}`"),
                        "a spelling may belong to only one canonical key",
                    ),
                    _ => {}
                }
            }
            match self
                .set
                .tag_keys
                .insert(canonical_n.clone(), canonical_n.clone())
            {
                Some(previous) if previous != canonical_n => self.error(
                    path,
                    text,
                    spellings,
                    format!("tag key `{canonical_n}` is already a spelling of `{previous}`"),
                    "a key is either canonical or a spelling of another key, not both",
                ),
                _ => {}
            }
        }
    }

    /// Value aliases, after every file's known teams are declared.
    fn aliases(&mut self, path: &Path, text: &str, file: &ast::FileAst) {
        let Some(teams) = &file.teams else { return };
        for (alias, target) in teams.aliases.iter().flatten() {
            let Some(team) = self.team(path, text, target) else {
                continue;
            };
            if let Some(known) = &self.set.known_teams
                && !known.contains(&team)
            {
                {
                    let hint =
                        format!("aliases must name a team in `[teams] known`; add `{team}` there");
                    self.error(
                        path,
                        text,
                        target,
                        format!("alias `{alias}` names unknown team `{team}`"),
                        &hint,
                    );
                    continue;
                }
            }
            let key = normalise(alias);
            if self.set.team_aliases.insert(key.clone(), team).is_some() {
                self.error(
                    path,
                    text,
                    target,
                    format!("alias `{key}` is declared twice"),
                    "keep one `[teams.aliases]` entry per alias",
                );
            }
        }
    }

    /// A team name that must be known when the rules declare known teams.
    fn known_team(&mut self, path: &Path, text: &str, name: &Spanned<String>) -> Option<TeamId> {
        let t = self.team(path, text, name)?;
        if let Some(known) = &self.set.known_teams
            && !known.contains(&t)
        {
            let hint = match closest(t.as_str(), known.iter().map(TeamId::as_str)) {
                Some(s) => format!("did you mean `{s}`? otherwise add `{t}` to `[teams] known`"),
                None => format!("add `{t}` to `[teams] known`"),
            };
            self.error(
                path,
                text,
                name,
                format!("team `{t}` is not a known team"),
                &hint,
            );
        }
        Some(t)
    }

    fn rule(&mut self, path: &Path, text: &str, rule: &Spanned<ast::RuleAst>) {
        let r = rule.get_ref();
        let diag = Diagnostic::at(path, text, Some(rule.span()), "", None);
        let location = format!("{}:{}", path.display(), diag.line);
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.error(
                path,
                text,
                &r.name,
                "a rule name cannot be empty".into(),
                "name the rule; explanations show it",
            );
        } else if let Some(first) = self.names.get(&name) {
            let first = first.clone();
            self.error(
                path,
                text,
                &r.name,
                format!("rule name `{name}` is already used at {first}"),
                "give every rule a unique name",
            );
        } else {
            self.names.insert(name.clone(), location.clone());
        }
        let target = match (&r.team, &r.team_from_tag, &r.pool) {
            (Some(team), None, None) => self.known_team(path, text, team).map(Target::Team),
            (None, Some(key), None) => {
                if key.get_ref().trim().is_empty() {
                    self.error(
                        path,
                        text,
                        key,
                        "`team_from_tag` names no tag key".into(),
                        "name the tag key, e.g. \"team\"",
                    );
                }
                Some(Target::FromTag(self.set.canonical_tag_key(key.get_ref())))
            }
            (None, None, Some(pool)) => {
                let n = normalise(pool.get_ref());
                match self.pool_index.get(&n) {
                    Some(&i) => Some(Target::Pool(i)),
                    None => {
                        let hint = match closest(&n, self.pool_index.keys().map(String::as_str)) {
                            Some(s) => {
                                format!("did you mean `{s}`? otherwise declare it with `[[pool]]`")
                            }
                            None => format!("declare it: `[[pool]]` with `name = \"{n}\"`"),
                        };
                        self.error(path, text, pool, format!("unknown pool `{n}`"), &hint);
                        None
                    }
                }
            }
            (Some(_), Some(key), None) => {
                self.error(
                    path,
                    text,
                    key,
                    format!("rule `{name}` has both `team` and `team_from_tag`"),
                    "keep one: `team` names a fixed team, `team_from_tag` reads it from a tag",
                );
                None
            }
            (None, None, None) => {
                self.error(
                    path,
                    text,
                    &r.name,
                    format!("rule `{name}` says no owner"),
                    "add `team = \"...\"`, `team_from_tag = \"team\"` or `pool = \"...\"`",
                );
                None
            }
            (_, _, Some(pool)) => {
                self.error(
                    path,
                    text,
                    pool,
                    format!("rule `{name}` has both a team and a pool"),
                    "keep one: a rule gives its lines to a team or to a pool",
                );
                None
            }
        };
        let active = self.active(path, text, &r.from, &r.until);
        let matchers = r
            .matcher
            .as_ref()
            .map(|m| self.matchers(path, text, m))
            .unwrap_or_default();
        if let Some(target) = target {
            self.set.rules.push(Rule {
                name,
                location,
                target,
                matchers,
                active,
            });
        }
    }

    fn matchers(&mut self, path: &Path, text: &str, m: &ast::MatchAst) -> Vec<Matcher> {
        let mut out = Vec::new();
        let fields = [
            (Field::BillingAccount, &m.billing_account),
            (Field::SubAccount, &m.sub_account),
            (Field::Provider, &m.provider),
            (Field::Service, &m.service),
            (Field::ServiceCategory, &m.service_category),
            (Field::Region, &m.region),
            (Field::ResourceId, &m.resource_id),
            (Field::ChargeCategory, &m.charge_category),
        ];
        for (field, patterns) in fields {
            let Some(patterns) = patterns else { continue };
            let list = self.patterns(path, text, field.name(), patterns);
            if field == Field::ChargeCategory {
                for p in &list {
                    if !p.text().contains('*') && ChargeCategory::parse(p.text()).is_none() {
                        let lower = ChargeCategory::ALL.map(|c| c.as_str().to_lowercase());
                        let hint = match closest(p.text(), lower.iter().map(String::as_str))
                            .and_then(ChargeCategory::parse)
                        {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => {
                                "use one of Usage, Purchase, Tax, Credit, Adjustment".to_string()
                            }
                        };
                        self.error(
                            path,
                            text,
                            patterns,
                            format!("`{}` is not a FOCUS charge category", p.text()),
                            &hint,
                        );
                    }
                }
            }
            out.push(Matcher::Field(field, list));
        }
        for (key, patterns) in m.tags.iter().flatten() {
            let list = self.patterns(path, text, key, patterns);
            out.push(Matcher::Tag(self.set.canonical_tag_key(key), list));
        }
        out
    }

    fn patterns(
        &mut self,
        path: &Path,
        text: &str,
        what: &str,
        p: &Spanned<ast::Patterns>,
    ) -> Vec<Pattern> {
        let list: Vec<Pattern> = p
            .get_ref()
            .as_slice()
            .iter()
            .map(|s| Pattern::new(s))
            .collect();
        if list.is_empty() || list.iter().any(|p| p.text().is_empty()) {
            self.error(
                path,
                text,
                p,
                format!("matcher `{what}` has an empty pattern"),
                "write the value to match, or `*` for any value",
            );
        }
        list
    }

    /// A rule with no matcher and a fixed team matches everything: rules after
    /// it can never match.
    fn unreachable(&mut self, files: &[(&Path, &str, ast::FileAst)]) {
        let Some(pos) = self.set.rules.iter().position(|r| {
            r.matchers.is_empty()
                && r.active == Active::default()
                && matches!(r.target, Target::Team(_) | Target::Pool(_))
        }) else {
            return;
        };
        if pos + 1 == self.set.rules.len() {
            return;
        }
        let catch_all = self.set.rules[pos].name.clone();
        let next = self.set.rules[pos + 1].name.clone();
        for (path, text, file) in files {
            if let Some(rule) = file
                .rule
                .iter()
                .find(|r| r.get_ref().name.get_ref().trim() == next)
            {
                self.error(
                    path,
                    text,
                    &rule.get_ref().name,
                    format!("rule `{next}` can never match: rule `{catch_all}` before it matches every line"),
                    "move the catch-all rule last, or give it a `match`",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
