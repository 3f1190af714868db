//! Golden files: what a test produced, compared with a file under
//! `fixtures/golden/`. With `ALLOT_BLESS=1` a differing file is rewritten
//! instead, so an intended change of output is one command and a reviewed
//! diff (the pool cases' figures are computed by hand: check each blessed
//! change against that computation before committing it).

use std::path::Path;

use allot::domain::{CostBasis, Month, StoredLine, UsageRecord};
use allot::engine::{Allocation, GroupBy, Showback, allocate, showback};
use allot::rules::RuleSet;

/// Whether this run rewrites golden files (`ALLOT_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var_os("ALLOT_BLESS").is_some()
}

/// Asserts that `got` is the content of the golden file `name` (relative to
/// `fixtures/golden/`), or rewrites the file when blessing.
pub fn assert_golden(name: &str, got: &str) {
    let path = super::root().join("fixtures/golden").join(name);
    if let Err(diff) = compare(&path, got) {
        panic!("{diff}");
    }
}

/// [`assert_golden`] without panicking: the difference, if any, as a
/// message naming the file.
pub fn compare(path: &Path, got: &str) -> Result<(), String> {
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == got {
        return Ok(());
    }
    if blessing() {
        std::fs::write(path, got).map_err(|e| format!("cannot bless `{}`: {e}", path.display()))?;
        return Ok(());
    }
    Err(format!(
        "{} differs (run with ALLOT_BLESS=1 to rewrite it, then review the diff):\n--- expected\n{expected}--- got\n{got}",
        path.display()
    ))
}

/// The step every "lines + rules -> showback" case runs (the golden pool
/// cases and the numeric examples of `docs/rules.md`): `month` of `lines`
/// allocated with `rules` and `usage` at effective cost, and its showback
/// per team.
pub fn allocate_month(
    month: Month,
    lines: &[StoredLine],
    rules: &RuleSet,
    usage: &[UsageRecord],
) -> (Allocation, Showback) {
    let a = allocate(month, lines, rules, CostBasis::Effective, usage)
        .unwrap_or_else(|e| panic!("{month} cannot be allocated: {e}"));
    let s = showback(month, CostBasis::Effective, &a.rows, GroupBy::Team);
    (a, s)
}
