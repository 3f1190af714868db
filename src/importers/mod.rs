//! Importers: read billing data (and usage metrics) from a source and store it through one
//! atomic [`crate::store::ImportTx`]. Each importer streams its input with
//! bounded memory; a malformed row fails the whole import with its position.

pub mod cost_explorer;
pub mod cur;
pub mod focus;
mod progress;
mod rollup;
pub mod s3;
pub mod usage;
mod values;

use std::path::PathBuf;

use crate::store::StoreError;

pub use progress::Progress;

/// What can go wrong in an import. Nothing is stored when any of these occurs.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: column {column}: expected {expected}, found `{found}`")]
    Value {
        path: PathBuf,
        line: u64,
        column: String,
        expected: String,
        found: String,
    },
    #[error(
        "{path}:1: column {column}: expected it in the header row, found no such column; is this {expected}?"
    )]
    MissingColumn {
        path: PathBuf,
        column: String,
        expected: &'static str,
    },
    #[error("{path}:{line}: malformed CSV: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{service}: {message}")]
    Remote { service: String, message: String },
    #[error("no files given: name at least one export to import")]
    NoFiles,
    #[error("`{0}` is given twice: each file of an export is imported once")]
    DuplicateFile(PathBuf),
    #[error("{0}: no header row; is the file empty?")]
    NoHeader(PathBuf),
    #[error("the import was interrupted before it finished; nothing was stored")]
    Interrupted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a file whose header row is missing or blank (an empty file).
pub(crate) fn ensure_header(
    path: &std::path::Path,
    headers: &csv::StringRecord,
) -> Result<(), ImportError> {
    if headers
        .iter()
        .all(|h| h.trim_start_matches('\u{feff}').trim().is_empty())
    {
        return Err(ImportError::NoHeader(path.to_path_buf()));
    }
    Ok(())
}

/// A CSV reader error as an import error with its position; with the
/// header row known, text that is not UTF-8 is reported by column.
pub(crate) fn csv_error(
    path: &std::path::Path,
    headers: Option<&csv::StringRecord>,
    e: csv::Error,
) -> ImportError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.kind() {
        csv::ErrorKind::Io(_) => ImportError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        },
        csv::ErrorKind::Utf8 { err, .. } => ImportError::Value {
            path: path.to_path_buf(),
            line,
            column: headers
                .and_then(|h| h.get(err.field()))
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|| format!("#{}", err.field() + 1)),
            expected: "UTF-8 text (re-export the file as UTF-8)".to_string(),
            found: "bytes that are not UTF-8".to_string(),
        },
        _ => ImportError::Csv {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        },
    }
}

/// Runs a file import: checks that each file is named once, starts one
/// import transaction, lets `read` start the blocking reader (it sends
/// batches of rolled-up lines and returns the rows it read), writes the
/// batches as they come, and commits. Any error stores nothing.
pub(crate) async fn import_files<F>(
    store: &crate::store::Store,
    kind: &str,
    paths: &[PathBuf],
    read: F,
) -> Result<crate::store::ImportSummary, ImportError>
where
    F: FnOnce(
        Vec<PathBuf>,
        tokio::sync::mpsc::Sender<Vec<crate::store::StoredLine>>,
    ) -> tokio::task::JoinHandle<Result<u64, ImportError>>,
{
    if paths.is_empty() {
        return Err(ImportError::NoFiles);
    }
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        let canonical = std::fs::canonicalize(path).map_err(|source| ImportError::Io {
            path: path.clone(),
            source,
        })?;
        if !seen.insert(canonical) {
            return Err(ImportError::DuplicateFile(path.clone()));
        }
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut tx = store.begin_import(kind, &names).await?;
    // One batch in flight while the next is built: memory stays bounded.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let reader = read(paths.to_vec(), sender);
    while let Some(batch) = receiver.recv().await {
        tx.insert_lines(&batch).await?;
    }
    let rows = reader.await.map_err(|_| ImportError::Interrupted)??;
    Ok(tx.commit(rows).await?)
}
