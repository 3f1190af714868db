//! `allot demo`: a fresh embedded database loaded with the bundled sample
//! bill, the thirteen months before it (`history`) and business metrics
//! for all fourteen, allocated with the shipped rules and ready to serve.
//! The fixture and rules are compiled into the binary so the demo works
//! from any directory.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::{CostBasis, Month, Period};
use crate::engine::{Allocation, GroupBy, Showback};
use crate::importers::Progress;
use crate::service::Caller;
use crate::service::imports::{self, Files, Format, ImportSpec};
use crate::store::Store;
use crate::{rules, service};

pub mod history;

/// The bundled FOCUS sample: several teams, tag spelling variants, an
/// untagged shared cluster, a support fee, a credit, tax, two providers and
/// two currencies.
pub const FIXTURE: (&str, &str) = (
    "demo-2026-10.csv",
    include_str!("../../fixtures/focus/demo-2026-10.csv"),
);

/// The month the fixture covers.
pub const MONTH: &str = "2026-10";

/// The shipped rule files (`allocation-rules/`), in order.
pub const RULES: &[(&str, &str)] = &[
    (
        "allocation-rules/00-teams.toml",
        include_str!("../../allocation-rules/00-teams.toml"),
    ),
    (
        "allocation-rules/10-ownership.toml",
        include_str!("../../allocation-rules/10-ownership.toml"),
    ),
];

/// A prepared demo database.
pub struct Prepared {
    pub store: Store,
    pub allocation: Allocation,
    pub showback: Showback,
}

/// Creates `database` afresh, imports the fixture, allocates its month.
pub async fn prepare(database: &Path) -> anyhow::Result<Prepared> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = database.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot replace `{}`", database.display()));
            }
        }
    }
    let store = service::connect(&format!("sqlite://{}", database.display())).await?;
    let dir = tempdir()?;
    let months = history::months();
    let mut paths = Vec::new();
    for (i, month) in months.iter().enumerate() {
        let text = if month.to_string() == MONTH {
            FIXTURE.1.to_string()
        } else {
            history::bill(i as u32, *month, FIXTURE.1)?
        };
        let path = dir.join(format!("demo-{month}.csv"));
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        paths.push(path);
    }
    let spec = ImportSpec::Export {
        format: Format::Focus,
        files: Files::Local(paths),
    };
    let today = chrono::Utc::now().date_naive();
    let imported = imports::import(&store, &spec, Progress::Hidden.into(), today).await;
    let _ = std::fs::remove_dir_all(&dir);
    imported?;
    let sources: Vec<(PathBuf, String)> = RULES
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let rules = rules::check(&sources)
        .map_err(|e| anyhow::anyhow!("the bundled rules are invalid:\n{e}"))?;
    let month = Month::parse(MONTH)?;
    for earlier in months.iter().filter(|m| **m < month) {
        service::allocate_month(&store, &rules, *earlier, CostBasis::Effective).await?;
    }
    let allocation = service::allocate_month(&store, &rules, month, CostBasis::Effective)
        .await?
        .charge
        .ok_or(service::ServiceError::NoData(month))?;
    // The invoice of the month after holds one of the month's credits.
    service::allocate_month(&store, &rules, month.next(), CostBasis::Effective).await?;
    // What `allot serve` would have found had it imported the months one
    // by one: the history's spike among them.
    let mut allocated = months.clone();
    allocated.push(month.next());
    service::detect_months(&store, &settings().anomalies, &[], &allocated).await?;
    let declared = settings().metrics;
    service::metrics::record(
        &store,
        &Caller::Operator,
        &declared,
        &history::metric_points(),
    )
    .await?;
    let (_, showback) = service::showback(
        &store,
        &Caller::Operator,
        month,
        GroupBy::Team,
        Period::Charge,
    )
    .await?;
    Ok(Prepared {
        store,
        allocation,
        showback,
    })
}

/// The settings the demo serves with: the defaults and its metrics.
pub fn settings() -> crate::config::Settings {
    let mut settings = crate::config::FileConfig::default().settings(None, None, None, None);
    settings.metrics = history::metric_defs()
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    settings
}

/// Writes the shipped rule files into `dir` (created, or replaced file by
/// file), for what reads the rules while the demo serves: the group
/// showback, scheduled runs, unit costs by group.
pub fn write_rules(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for (path, text) in RULES {
        let name = Path::new(path).file_name().context("a rule file's name")?;
        let target = dir.join(name);
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write `{}`", target.display()))?;
    }
    Ok(())
}

fn tempdir() -> anyhow::Result<PathBuf> {
    // One per preparation, so that two in one process never share one.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("allot-demo-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_check() {
        let sources: Vec<(PathBuf, String)> = RULES
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let set = rules::check(&sources).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            set.rules[0].location,
            "allocation-rules/10-ownership.toml:5"
        );
        assert_eq!(set.pools.len(), 3);
    }
}
