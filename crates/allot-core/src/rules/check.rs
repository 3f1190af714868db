//! ASTs to a checked [`RuleSet`]: teams, matchers, dates and pools
//! validated together, every problem a [`Diagnostic`] with its span.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::closest;
use super::parse::parse_file;
use super::{
    Active, Diagnostic, Field, Matcher, Pattern, Rule, RuleErrors, RuleSet, Target, ast, normalise,
};
use crate::domain::{ChargeCategory, Metric, TeamId, TeamIdError};

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
    checker.groups(&files);
    checker.environment(&files);
    for (path, text, file) in &files {
        checker.declare_pools(path, text, file);
    }
    for (path, text, file) in &files {
        for pool in &file.pool {
            checker.pool(path, text, pool);
        }
    }
    for (path, text, file) in &files {
        // Where each line starts, so that naming a rule's line does not
        // rescan the file (40,000 rules are checked in linear time).
        let lines = line_starts(text);
        for rule in &file.rule {
            checker.rule(path, text, &lines, rule);
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
        checker.set.digest = digest(sources);
        Ok(checker.set)
    } else {
        Err(RuleErrors(checker.errors))
    }
}

/// SHA-256 (hex) over each source's file name, length and text, in name
/// order: what [`RuleSet::digest`] reports.
fn digest(sources: &[(PathBuf, String)]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let mut named: Vec<(String, &str)> = sources
        .iter()
        .map(|(p, t)| {
            let name = p.file_name().unwrap_or(p.as_os_str());
            (name.to_string_lossy().into_owned(), t.as_str())
        })
        .collect();
    named.sort();
    let mut hash = Sha256::new();
    for (name, text) in named {
        // Lengths first, so that no two file lists hash alike.
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// The byte offset of each line's start in `text`.
fn line_starts(text: &str) -> Vec<usize> {
    let newlines = text.bytes().enumerate().filter(|(_, b)| *b == b'\n');
    std::iter::once(0)
        .chain(newlines.map(|(i, _)| i + 1))
        .collect()
}

pub(super) struct Checker {
    pub(super) errors: Vec<Diagnostic>,
    pub(super) set: RuleSet,
    /// Rule name -> `file:line` of its first definition.
    pub(super) names: BTreeMap<String, String>,
    /// Pool name -> index in `set.pools`.
    pub(super) pool_index: BTreeMap<String, usize>,
    /// Declared usage metrics.
    pub(super) metrics: BTreeSet<Metric>,
}

impl Checker {
    pub(super) fn error<T>(
        &mut self,
        path: &Path,
        text: &str,
        at: &Spanned<T>,
        message: String,
        hint: &str,
    ) {
        self.errors.push(Diagnostic::at(
            path,
            text,
            Some(at.span()),
            message,
            Some(hint.to_string()),
        ));
    }

    pub(super) fn team(
        &mut self,
        path: &Path,
        text: &str,
        name: &Spanned<String>,
    ) -> Option<TeamId> {
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

    pub(super) fn declarations(&mut self, path: &Path, text: &str, file: &ast::FileAst) {
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
    pub(super) fn aliases(&mut self, path: &Path, text: &str, file: &ast::FileAst) {
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
    pub(super) fn known_team(
        &mut self,
        path: &Path,
        text: &str,
        name: &Spanned<String>,
    ) -> Option<TeamId> {
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

    pub(super) fn rule(
        &mut self,
        path: &Path,
        text: &str,
        lines: &[usize],
        rule: &Spanned<ast::RuleAst>,
    ) {
        let r = rule.get_ref();
        let line = lines.partition_point(|&start| start <= rule.span().start);
        let location = format!("{}:{line}", path.display());
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

    pub(super) fn matchers(&mut self, path: &Path, text: &str, m: &ast::MatchAst) -> Vec<Matcher> {
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

    pub(super) fn patterns(
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
    pub(super) fn unreachable(&mut self, files: &[(&Path, &str, ast::FileAst)]) {
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
