//! The reporting dimensions above and beside teams: `[groups]` (named sets
//! of teams, which may include other groups) and `[environment]` (a tag
//! whose values, after aliases, name a line's environment). Checked here;
//! neither changes who owns a cost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use toml::Spanned;

use super::check::Checker;
use super::diagnostic::closest;
use super::{RuleSet, ast, normalise};
use crate::domain::{CostLine, ScopeName, TeamId};

/// The environment of a line without the tag, or of rules without an
/// `[environment]`.
pub const UNSPECIFIED: &str = "unspecified";

/// Groups, each with every team it holds (nested groups expanded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups(BTreeMap<ScopeName, BTreeSet<TeamId>>);

impl Groups {
    /// The teams of group `name`, nested groups' teams included.
    pub fn teams(&self, name: &ScopeName) -> Option<&BTreeSet<TeamId>> {
        self.0.get(name)
    }

    /// Every group, in name order, with its teams.
    pub fn iter(&self) -> impl Iterator<Item = (&ScopeName, &BTreeSet<TeamId>)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The environment dimension: a canonical tag key and value aliases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentDimension {
    /// The canonical tag key (its spellings come from `[tag_keys]`).
    pub tag: String,
    /// Normalised value -> environment.
    aliases: HashMap<String, ScopeName>,
}

impl RuleSet {
    /// The declared groups.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The declared environment dimension, if any.
    pub fn environment_dimension(&self) -> Option<&EnvironmentDimension> {
        self.environment.as_ref()
    }

    /// A line's environment: its tag's value after aliases, or
    /// [`UNSPECIFIED`] when the line has no such tag (or a value that cannot
    /// be a name), or when the rules declare no `[environment]`.
    pub fn environment_of(&self, line: &CostLine) -> ScopeName {
        let unspecified = || ScopeName::parse(UNSPECIFIED).expect("a valid name");
        let Some(dim) = &self.environment else {
            return unspecified();
        };
        let value = line
            .tags
            .0
            .iter()
            .find(|(k, v)| self.canonical_tag_key(k) == dim.tag && !v.trim().is_empty())
            .map(|(_, v)| normalise(v));
        match value {
            Some(v) => match dim.aliases.get(&v) {
                Some(env) => env.clone(),
                None => ScopeName::parse(&v).unwrap_or_else(unspecified),
            },
            None => unspecified(),
        }
    }
}

/// A group member as written: a team, or `group:NAME`.
enum Member {
    Team(TeamId),
    Group(ScopeName, Spanned<String>),
}

impl Checker {
    /// Checks every file's `[groups]` and expands nested groups; a group
    /// that contains itself is an error naming the cycle.
    pub(super) fn groups(&mut self, files: &[(&Path, &str, ast::FileAst)]) {
        // name -> (where declared, members)
        let mut declared: BTreeMap<ScopeName, (usize, Spanned<String>, Vec<Member>)> =
            BTreeMap::new();
        for (index, (path, text, file)) in files.iter().enumerate() {
            for (name, members) in file.groups.iter().flatten() {
                let at = Spanned::new(members.span(), name.clone());
                let Some(group) = ScopeName::parse(name) else {
                    self.error(
                        path,
                        text,
                        &at,
                        format!("`{name}` is not a valid group name"),
                        "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                    );
                    continue;
                };
                if declared.contains_key(&group) {
                    self.error(
                        path,
                        text,
                        &at,
                        format!("group `{group}` is declared twice"),
                        "declare each group once; list all its members there",
                    );
                    continue;
                }
                let mut list = Vec::new();
                for member in members.get_ref() {
                    let written = member.get_ref().trim();
                    if let Some(inner) = written.strip_prefix("group:") {
                        match ScopeName::parse(inner) {
                            Some(g) => list.push(Member::Group(g, member.clone())),
                            None => self.error(
                                path,
                                text,
                                member,
                                format!("`{inner}` is not a valid group name"),
                                "name a group declared in `[groups]`",
                            ),
                        }
                    } else if let Some(team) = self.known_team(path, text, member) {
                        list.push(Member::Team(team));
                    }
                }
                if list.is_empty() && members.get_ref().is_empty() {
                    self.error(
                        path,
                        text,
                        &at,
                        format!("group `{group}` has no members"),
                        "list its teams, e.g. [\"web\", \"api\"], or `group:NAME` for a group in it",
                    );
                }
                declared.insert(group, (index, at, list));
            }
        }
        // Expand, depth first; a group met again on the way is a cycle.
        fn expand(
            name: &ScopeName,
            declared: &BTreeMap<ScopeName, (usize, Spanned<String>, Vec<Member>)>,
            done: &mut BTreeMap<ScopeName, BTreeSet<TeamId>>,
            path: &mut Vec<ScopeName>,
            problems: &mut Vec<(ScopeName, String)>,
        ) -> BTreeSet<TeamId> {
            if let Some(teams) = done.get(name) {
                return teams.clone();
            }
            if let Some(start) = path.iter().position(|g| g == name) {
                let cycle: Vec<String> = path[start..]
                    .iter()
                    .chain([name])
                    .map(|g| g.to_string())
                    .collect();
                problems.push((name.clone(), cycle.join(" -> ")));
                return BTreeSet::new();
            }
            let Some((_, _, members)) = declared.get(name) else {
                return BTreeSet::new();
            };
            path.push(name.clone());
            let mut teams = BTreeSet::new();
            for member in members {
                match member {
                    Member::Team(t) => {
                        teams.insert(t.clone());
                    }
                    Member::Group(g, _) => {
                        teams.extend(expand(g, declared, done, path, problems));
                    }
                }
            }
            path.pop();
            done.insert(name.clone(), teams.clone());
            teams
        }
        let mut done = BTreeMap::new();
        let mut problems = Vec::new();
        for name in declared.keys() {
            expand(name, &declared, &mut done, &mut Vec::new(), &mut problems);
        }
        // Unknown nested groups, then cycles, each where it is written.
        for (index, _, members) in declared.values() {
            let (path, text, _) = &files[*index];
            for member in members {
                if let Member::Group(g, at) = member
                    && !declared.contains_key(g)
                {
                    let names = declared.keys().map(ScopeName::as_str);
                    let hint = match closest(g.as_str(), names) {
                        Some(s) => format!("did you mean `group:{s}`?"),
                        None => format!("declare it: `{g} = [\"team\", ...]` in `[groups]`"),
                    };
                    self.error(path, text, at, format!("unknown group `{g}`"), &hint);
                }
            }
        }
        let mut reported = BTreeSet::new();
        for (group, cycle) in problems {
            if !reported.insert(cycle.clone()) {
                continue;
            }
            if let Some((index, at, _)) = declared.get(&group) {
                let (path, text, _) = &files[*index];
                self.error(
                    path,
                    text,
                    at,
                    format!("group `{group}` contains itself: {cycle}"),
                    "a group may include other groups, but not one that includes it",
                );
            }
        }
        self.set.groups = Groups(done);
    }

    /// Checks `[environment]`: declared in one file at most, its tag key
    /// canonical (after `[tag_keys]`), its aliases naming valid names.
    pub(super) fn environment(&mut self, files: &[(&Path, &str, ast::FileAst)]) {
        for (path, text, file) in files {
            let Some(env) = &file.environment else {
                continue;
            };
            if self.set.environment.is_some() {
                self.error(
                    path,
                    text,
                    &env.tag,
                    "`[environment]` is declared twice".into(),
                    "declare the environment dimension in one rule file",
                );
                continue;
            }
            if env.tag.get_ref().trim().is_empty() {
                self.error(
                    path,
                    text,
                    &env.tag,
                    "`[environment] tag` names no tag key".into(),
                    "name the tag key, e.g. \"environment\"",
                );
                continue;
            }
            let mut aliases = HashMap::new();
            for (alias, target) in env.aliases.iter().flatten() {
                match ScopeName::parse(target.get_ref()) {
                    Some(name) => {
                        aliases.insert(normalise(alias), name);
                    }
                    None => self.error(
                        path,
                        text,
                        target,
                        format!("`{}` is not a valid environment name", target.get_ref()),
                        "use lower-case letters, digits, `-`, `_` or `.`, e.g. \"production\"",
                    ),
                }
            }
            self.set.environment = Some(EnvironmentDimension {
                tag: self.set.canonical_tag_key(env.tag.get_ref()),
                aliases,
            });
        }
    }
}
