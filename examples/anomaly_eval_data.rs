//! The detector's evaluation on labelled billing data that allot did not
//! generate: each directory holds a FOCUS export (`billing.csv`) and its
//! labels (`labels.csv`: `kind,team,service,first_day,last_day,percent`,
//! kind `spike` or `level_shift`), written by one of the independent
//! generators in `eval/anomaly/generators/` (or by hand from real data).
//!
//! End to end: the export is imported by the FOCUS importer into a fresh
//! SQLite database, every month is allocated by its `team` tag, and the
//! detector judges every day, as `allot serve` would after each import.
//! The anomalies are scored against the labels like `anomaly-eval` does.
//!
//! `cargo run --release --example anomaly-eval-data -- DIR... [--drops] [--verbose] [--set=sensitivity=4]`
//! (`eval/anomaly/run.sh` generates the sets and runs this on each generator.)
//! Each set's detector input is left beside its export, so that
//! `cargo run --release -p allot-eval --example anomaly-eval-daily -- DIR...`
//! judges it again in seconds after a change to the detector.

use std::path::Path;
use std::process::ExitCode;

use allot::domain::CostBasis;
use allot::engine::anomaly::{self, AnomalySettings};
use allot::importers::{Progress, focus};
use allot::store::Store;
use allot_eval::labelled::{self, DetectorInput};
use allot_eval::{Score, rules};

/// Imports, allocates and judges one labelled set; returns its score. The
/// detector's input is left in the set's directory (`daily.csv`,
/// `known.csv`) for `anomaly-eval-daily`.
async fn evaluate(dir: &Path, settings: &AnomalySettings) -> Result<Score, String> {
    let labels = labelled::read_labels(&dir.join("labels.csv"))?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", tmp.path().join("eval.db").display());
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    focus::import(&store, &[dir.join("billing.csv")], Progress::Hidden)
        .await
        .map_err(|e| e.to_string())?;
    let rules = rules();
    let months = store.months_with_data().await.map_err(|e| e.to_string())?;
    for month in &months {
        allot::service::allocate_month(&store, &rules, *month, CostBasis::Effective)
            .await
            .map_err(|e| e.to_string())?;
    }
    let first = months.first().ok_or("no data")?.first_day();
    let (rows, runs) = store.daily_rows(first).await.map_err(|e| e.to_string())?;
    let known_months: Vec<_> = runs.iter().map(|r| (r.0, r.2)).collect();
    let input = DetectorInput {
        amounts: anomaly::daily_amounts(&rows),
        known: anomaly::known_days(&known_months),
    };
    labelled::write_input(dir, &input)?;
    labelled::score_set(&input, &labels, settings)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dirs, settings) = match labelled::read_args(&args, "anomaly-eval-data") {
        Ok(read) => read,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut total = Score::default();
    println!("{}", labelled::SET_HEADER);
    for dir in &dirs {
        match evaluate(dir, &settings).await {
            Ok(sc) => {
                println!("{:<24}  {}", dir.display().to_string(), sc.columns());
                total.add(&sc);
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let verbose = args.iter().any(|a| a == "--verbose");
    if labelled::print_summary(&total, dirs.len(), verbose) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
