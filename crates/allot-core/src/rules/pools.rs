//! Shared-cost pools in the rule language: checking `[[pool]]` entries
//! (method, targets, shares, filter, metric, fallback, dates) and finding
//! cycles among pools that feed pools.

use std::collections::BTreeSet;
use std::path::Path;

use rust_decimal::Decimal;
use toml::Spanned;

use super::check::Checker;
use super::diagnostic::closest;
use super::{Active, Matcher, ast, normalise};
use crate::domain::{Metric, Month, TeamId};

/// How a pool's cost is split among its targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Equal shares.
    Even,
    /// Fixed percentages per target (they sum to 100).
    Fixed,
    /// In proportion to each target team's direct cost in the month.
    Proportional,
    /// In proportion to each target team's use of a metric in the month.
    Usage(Metric),
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Even => "even",
            Method::Fixed => "fixed",
            Method::Proportional => "proportional",
            Method::Usage(_) => "usage",
        }
    }
}

/// A pool's target: a team or another pool (by index in `RuleSet::pools`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PoolTarget {
    Team(TeamId),
    Pool(usize),
}

/// Who a pool is split among.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Every known team, or without a known list every team with direct
    /// cost in the month.
    All,
    List(Vec<PoolTarget>),
}

/// What happens when every weight of a pool is zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Split evenly among the targets (the default), with a diagnostic.
    Even,
    /// Leave the cost unallocated.
    Unallocated,
    /// Give it all to one team.
    Team(TeamId),
}

/// One checked pool.
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: String,
    pub location: String,
    pub method: Method,
    pub targets: Targets,
    /// `fixed` only: the percentage of each target.
    pub shares: Vec<(PoolTarget, Decimal)>,
    /// `proportional` only: which direct costs count as weight (empty: all).
    pub(super) filter: Vec<Matcher>,
    pub fallback: Fallback,
    pub active: Active,
}

impl Pool {
    /// Whether a direct cost line counts toward this pool's proportional weights.
    pub fn counts(&self, rules: &super::RuleSet, line: &crate::domain::CostLine) -> bool {
        rules.matches_all(&self.filter, line)
    }
}

const METHODS: [&str; 4] = ["even", "fixed", "proportional", "usage"];

impl Checker {
    /// Pool names, so that rules and pools may refer to pools declared later.
    pub(super) fn declare_pools(&mut self, path: &Path, text: &str, file: &ast::FileAst) {
        for pool in &file.pool {
            let name = normalise(pool.get_ref().name.get_ref());
            if TeamId::parse(&name).is_err() {
                self.error(
                    path,
                    text,
                    &pool.get_ref().name,
                    format!("`{name}` is not a valid pool name"),
                    "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
                );
            } else if self.pool_index.contains_key(&name) {
                self.error(
                    path,
                    text,
                    &pool.get_ref().name,
                    format!("pool `{name}` is declared twice"),
                    "give every pool a unique name",
                );
            } else if self
                .set
                .known_teams
                .as_ref()
                .is_some_and(|k| k.iter().any(|t| t.as_str() == name))
            {
                self.error(
                    path,
                    text,
                    &pool.get_ref().name,
                    format!("pool `{name}` has the name of a team"),
                    "pools and teams share one namespace; rename the pool",
                );
            } else {
                self.pool_index.insert(name, self.pool_index.len());
            }
        }
    }

    /// Resolves a team or pool name used as a pool target.
    fn pool_target(
        &mut self,
        path: &Path,
        text: &str,
        name: &Spanned<String>,
    ) -> Option<PoolTarget> {
        let n = normalise(name.get_ref());
        if let Some(&i) = self.pool_index.get(&n) {
            return Some(PoolTarget::Pool(i));
        }
        self.known_team(path, text, name).map(PoolTarget::Team)
    }

    pub(super) fn pool(&mut self, path: &Path, text: &str, pool: &Spanned<ast::PoolAst>) {
        let p = pool.get_ref();
        let name = normalise(p.name.get_ref());
        let Some(&index) = self.pool_index.get(&name) else {
            return;
        };
        if self.set.pools.len() != index {
            return; // a duplicate, already reported
        }
        let line = super::Diagnostic::at(path, text, Some(pool.span()), "", None).line;
        let location = format!("{}:{line}", path.display());
        let method = match normalise(p.method.get_ref()).as_str() {
            "even" => Some(Method::Even),
            "fixed" => Some(Method::Fixed),
            "proportional" => Some(Method::Proportional),
            "usage" => p
                .metric
                .as_ref()
                .and_then(|m| self.metric(path, text, m))
                .map(Method::Usage),
            other => {
                let hint = match closest(other, METHODS) {
                    Some(s) => {
                        format!("did you mean `{s}`? methods are even, fixed, proportional, usage")
                    }
                    None => "use one of even, fixed, proportional, usage".to_string(),
                };
                self.error(
                    path,
                    text,
                    &p.method,
                    format!("unknown split method `{other}`"),
                    &hint,
                );
                None
            }
        };
        if normalise(p.method.get_ref()) == "usage" && p.metric.is_none() {
            self.error(
                path,
                text,
                &p.method,
                format!("pool `{name}` splits by usage but names no metric"),
                "add `metric = \"cpu_core_hours\"` (a metric declared in `[usage] metrics`)",
            );
        }
        if let (Some(metric), false) = (&p.metric, normalise(p.method.get_ref()) == "usage") {
            self.error(
                path,
                text,
                metric,
                "`metric` is only for `usage` pools".into(),
                "remove it, or use `method = \"usage\"`",
            );
        }
        let mut targets = match &p.targets {
            None => Targets::List(vec![]),
            Some(t) => match t.get_ref() {
                ast::Targets::All(all) if normalise(all) == "all" => Targets::All,
                ast::Targets::All(other) => {
                    self.error(
                        path,
                        text,
                        t,
                        format!("targets `{other}` is neither \"all\" nor a list"),
                        "write `targets = \"all\"` or `targets = [\"payments\", \"search\"]`",
                    );
                    Targets::List(vec![])
                }
                ast::Targets::List(names) => {
                    let mut list = Vec::new();
                    for n in names {
                        // Untagged lists carry no spans: point at the list.
                        let n = Spanned::new(t.span(), n.clone());
                        if let Some(target) = self.pool_target(path, text, &n) {
                            if list.contains(&target) {
                                self.error(
                                    path,
                                    text,
                                    &n,
                                    format!("target `{}` is listed twice", n.get_ref()),
                                    "list each target once",
                                );
                            }
                            list.push(target);
                        }
                    }
                    Targets::List(list)
                }
            },
        };
        let mut shares = Vec::new();
        match (&method, &p.shares) {
            (Some(Method::Fixed), None) => self.error(
                path,
                text,
                &p.method,
                format!("fixed pool `{name}` has no `shares`"),
                "add `shares = { payments = 50, search = 50 }` (percentages summing to 100)",
            ),
            (Some(Method::Fixed), Some(table)) => {
                let mut total = Decimal::ZERO;
                for (target_name, pct) in table.get_ref() {
                    let spanned_name = Spanned::new(pct.span(), target_name.clone());
                    let target = self.pool_target(path, text, &spanned_name);
                    let value = match pct.get_ref() {
                        toml::Value::Integer(i) => Some(Decimal::from(*i)),
                        toml::Value::Float(f) => f.to_string().parse::<Decimal>().ok(),
                        toml::Value::String(s) => s.trim().parse::<Decimal>().ok(),
                        _ => None,
                    };
                    match value {
                        Some(v) if v >= Decimal::ZERO => {
                            total += v;
                            if let Some(t) = target {
                                shares.push((t, v));
                            }
                        }
                        _ => self.error(
                            path,
                            text,
                            pct,
                            format!("share of `{target_name}` is not a percentage"),
                            "write a number from 0 to 100, e.g. `payments = 50` or `payments = \"33.34\"`",
                        ),
                    }
                }
                if total != Decimal::from(100) {
                    self.error(
                        path,
                        text,
                        table,
                        format!(
                            "the shares of pool `{name}` sum to {}, not 100",
                            total.normalize()
                        ),
                        "adjust the percentages so that they add up to exactly 100",
                    );
                }
                match &targets {
                    Targets::List(list) if list.is_empty() => {
                        targets = Targets::List(shares.iter().map(|(t, _)| t.clone()).collect());
                    }
                    Targets::List(list) => {
                        let listed: BTreeSet<&PoolTarget> = list.iter().collect();
                        let shared: BTreeSet<&PoolTarget> = shares.iter().map(|(t, _)| t).collect();
                        if listed != shared {
                            self.error(
                                path,
                                text,
                                table,
                                format!("the shares of fixed pool `{name}` do not name exactly its targets"),
                                "give every target a share, and a share only to targets (or leave `targets` out)",
                            );
                        }
                    }
                    Targets::All => self.error(
                        path,
                        text,
                        table,
                        format!("fixed pool `{name}` has `targets = \"all\"`"),
                        "a fixed split names its targets in `shares`; leave `targets` out",
                    ),
                }
            }
            (_, Some(table)) => self.error(
                path,
                text,
                table,
                "`shares` is only for `fixed` pools".into(),
                "remove it, or use `method = \"fixed\"`",
            ),
            _ => {}
        }
        if targets == Targets::List(vec![]) && method.is_some() {
            self.error(
                path,
                text,
                &p.name,
                format!("pool `{name}` has no targets"),
                "add `targets = \"all\"` or a list of teams and pools",
            );
        }
        if matches!(method, Some(Method::Proportional | Method::Usage(_)))
            && let Targets::List(list) = &targets
            && list.iter().any(|t| matches!(t, PoolTarget::Pool(_)))
        {
            self.error(
                path,
                text,
                &p.name,
                format!("pool `{name}` weighs its targets by team cost or usage, so its targets must be teams"),
                "feed other pools from an `even` or `fixed` pool",
            );
        }
        let filter = match &p.filter {
            Some(f) if method == Some(Method::Proportional) => {
                self.matchers(path, text, f.get_ref())
            }
            Some(f) => {
                self.error(
                    path,
                    text,
                    f,
                    "`filter` is only for `proportional` pools".into(),
                    "remove it, or use `method = \"proportional\"`",
                );
                vec![]
            }
            None => vec![],
        };
        let fallback = match &p.fallback {
            None => Fallback::Even,
            Some(f) => match normalise(f.get_ref()).as_str() {
                "even" => Fallback::Even,
                "unallocated" => Fallback::Unallocated,
                other if self.pool_index.contains_key(other) => {
                    self.error(
                        path,
                        text,
                        f,
                        format!("fallback `{other}` is a pool"),
                        "a fallback is `even`, `unallocated` or a team",
                    );
                    Fallback::Even
                }
                _ => match self.known_team(path, text, f) {
                    Some(team) => Fallback::Team(team),
                    None => Fallback::Even,
                },
            },
        };
        let active = self.active(path, text, &p.from, &p.until);
        if let Some(method) = method {
            self.set.pools.push(Pool {
                name,
                location,
                method,
                targets,
                shares,
                filter,
                fallback,
                active,
            });
        } else {
            // Keep indices aligned with `pool_index` even for a broken pool.
            self.set.pools.push(Pool {
                name,
                location,
                method: Method::Even,
                targets,
                shares,
                filter,
                fallback,
                active,
            });
        }
    }

    fn metric(&mut self, path: &Path, text: &str, m: &Spanned<String>) -> Option<Metric> {
        let metric = match Metric::parse(m.get_ref()) {
            Ok(metric) => metric,
            Err(e) => {
                self.error(
                    path,
                    text,
                    m,
                    e.to_string(),
                    "metric names look like `cpu_core_hours`",
                );
                return None;
            }
        };
        if !self.metrics.contains(&metric) {
            let hint = match closest(metric.as_str(), self.metrics.iter().map(Metric::as_str)) {
                Some(s) => format!("did you mean `{s}`? otherwise declare it in `[usage] metrics`"),
                None => format!("declare it: `[usage] metrics = [\"{metric}\"]`"),
            };
            self.error(path, text, m, format!("unknown metric `{metric}`"), &hint);
            return None;
        }
        Some(metric)
    }

    /// `from`/`until` months.
    pub(super) fn active(
        &mut self,
        path: &Path,
        text: &str,
        from: &Option<Spanned<String>>,
        until: &Option<Spanned<String>>,
    ) -> Active {
        let mut month = |m: &Option<Spanned<String>>| {
            m.as_ref()
                .and_then(|s| match Month::parse(s.get_ref().trim()) {
                    Ok(month) => Some(month),
                    Err(e) => {
                        self.error(
                            path,
                            text,
                            s,
                            e.to_string(),
                            "dates of rules and pools are months, like \"2026-01\"",
                        );
                        None
                    }
                })
        };
        let active = Active {
            from: month(from),
            until: month(until),
        };
        if let (Some(f), Some(u), Some(span)) = (active.from, active.until, until)
            && u < f
        {
            self.error(
                path,
                text,
                span,
                format!("`until` {u} is before `from` {f}"),
                "`until` is the last month the entry applies to",
            );
        }
        active
    }

    /// Reports every cycle among pools that feed pools, naming it.
    pub(super) fn pool_cycles(&mut self, files: &[(&Path, &str, ast::FileAst)]) -> Vec<usize> {
        let edges: Vec<BTreeSet<usize>> = self
            .set
            .pools
            .iter()
            .map(|p| {
                let mut out = BTreeSet::new();
                if let Targets::List(list) = &p.targets {
                    for t in list {
                        if let PoolTarget::Pool(i) = t {
                            out.insert(*i);
                        }
                    }
                }
                for (t, _) in &p.shares {
                    if let PoolTarget::Pool(i) = t {
                        out.insert(*i);
                    }
                }
                out
            })
            .collect();
        // Depth-first search; `order` is a topological order when acyclic.
        let n = edges.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut order = Vec::new();
        let mut cycles: Vec<Vec<usize>> = Vec::new();
        fn visit(
            v: usize,
            edges: &[BTreeSet<usize>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            state[v] = 1;
            stack.push(v);
            for &w in &edges[v] {
                match state[w] {
                    0 => visit(w, edges, state, stack, order, cycles),
                    1 => {
                        let start = stack.iter().position(|&x| x == w).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(w);
                        cycles.push(cycle);
                    }
                    _ => {}
                }
            }
            stack.pop();
            state[v] = 2;
            order.push(v);
        }
        for v in 0..n {
            if state[v] == 0 {
                visit(
                    v,
                    &edges,
                    &mut state,
                    &mut Vec::new(),
                    &mut order,
                    &mut cycles,
                );
            }
        }
        for cycle in cycles {
            let names: Vec<&str> = cycle
                .iter()
                .map(|&i| self.set.pools[i].name.as_str())
                .collect();
            let first = names[0].to_string();
            let message = format!("pools feed each other in a cycle: {}", names.join(" -> "));
            for (path, text, file) in files {
                if let Some(pool) = file
                    .pool
                    .iter()
                    .find(|p| normalise(p.get_ref().name.get_ref()) == first)
                {
                    self.error(
                        path,
                        text,
                        &pool.get_ref().name,
                        message.clone(),
                        "a pool's cost must end with teams: remove one of these targets",
                    );
                }
            }
        }
        // Reverse post-order: a pool comes before the pools it feeds.
        order.reverse();
        order
    }
}
