//! Proptest-driven fuzzing of the export readers (test support): hostile
//! cells, mutated exports and arbitrary bytes go through a reader exactly
//! as an import reads them (its threads, its CSV bounds), without a
//! database. Whatever comes in, a reader gives lines or an error that names
//! the file, in a bounded message; it never panics or hangs.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::ImportError;
use crate::domain::StoredLine;

/// A cell as a hostile export might hold it: any text, numbers at and past
/// every bound, dates of every shape, formula cells, JSON-ish tags, empty,
/// and fields far longer than any real one.
pub fn hostile_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[-+]?[0-9]{0,32}(\\.[0-9]{0,32})?([eE][-+]?[0-9]{1,5})?",
        "[=+@-][A-Za-z0-9(),:;\"! ]{0,24}",
        "[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}([T ][0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3}(\\.[0-9]{1,12})?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?",
        "\\{\"[a-z:]{0,8}\": ?\"?.{0,12}\"?\\}",
        Just(String::new()),
        Just("NULL".to_string()),
        (1usize..300_000).prop_map(|n| "9".repeat(n)),
    ]
}

/// A header and a first data row, read from an export fixture.
pub fn sample(fixture: &str) -> (Vec<String>, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
    let mut reader = csv::Reader::from_path(&path).expect("the fixture opens");
    let header = reader
        .headers()
        .expect("a header")
        .iter()
        .map(String::from)
        .collect();
    let row = reader
        .records()
        .next()
        .expect("a data row")
        .expect("a readable row")
        .iter()
        .map(String::from)
        .collect();
    (header, row)
}

/// `header` and `rows` as CSV, quoted as needed.
pub fn csv_text(header: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    out.write_record(header).expect("in memory");
    for row in rows {
        out.write_record(row).expect("in memory");
    }
    out.into_inner().expect("in memory")
}

/// Writes `bytes` as `name` in a fresh directory and reads it with `read`
/// (a reader's entry point, given the file and the channel its lines go
/// to). Returns the file's path, its directory (kept alive) and what the
/// reader said.
pub fn read_with<F>(
    name: &str,
    bytes: &[u8],
    read: F,
) -> (PathBuf, tempfile::TempDir, Result<u64, ImportError>)
where
    F: FnOnce(Vec<PathBuf>, tokio::sync::mpsc::Sender<Vec<StoredLine>>) -> Result<u64, ImportError>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("the file is written");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StoredLine>>(4);
    let drain = std::thread::spawn(move || {
        let mut lines = 0usize;
        while let Some(batch) = rx.blocking_recv() {
            lines += batch.len();
        }
        lines
    });
    let result = read(vec![path.clone()], tx);
    drain.join().expect("the drain ends");
    (path, dir, result)
}

/// What every outcome must be: lines, or an error that names `path` in a
/// message short enough to print (a 300 KB cell is never echoed back).
pub fn assert_bounded(path: &Path, result: &Result<u64, ImportError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let message = e.to_string();
        prop_assert!(
            message.contains(&path.display().to_string()),
            "the error does not name the file: {message}"
        );
        prop_assert!(
            message.len() < 4_000,
            "an unbounded message of {} bytes",
            message.len()
        );
    }
    Ok(())
}
