//! The detector's evaluation on labelled sets that allot did not generate,
//! from the input `anomaly-eval-data` left beside each export (`daily.csv`,
//! `known.csv`): the same judgement and score without importing and
//! allocating again, and built from the pure core alone, so a change to the
//! detector is judged in seconds while it is being worked on.
//! `anomaly-eval-data` (end to end) gives the published figures.
//!
//! `cargo run --release -p allot-eval --example anomaly-eval-daily -- DIR... [--drops] [--verbose] [--set=NAME=VALUE]`

use std::process::ExitCode;

use allot_eval::Score;
use allot_eval::labelled;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dirs, settings) = match labelled::read_args(&args, "anomaly-eval-daily") {
        Ok(read) => read,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut total = Score::default();
    println!("{}", labelled::SET_HEADER);
    for dir in &dirs {
        let scored = labelled::read_input(dir).and_then(|input| {
            let labels = labelled::read_labels(&dir.join("labels.csv"))?;
            labelled::score_set(&input, &labels, &settings)
        });
        match scored {
            Ok(sc) => {
                println!("{:<24}  {}", dir.display().to_string(), sc.columns());
                total.add(&sc);
            }
            Err(e) => {
                eprintln!("{}: {e} (run anomaly-eval-data on it first)", dir.display());
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
