//! Importers: read billing data (and usage metrics) from a source and store it through one
//! atomic [`crate::store::ImportTx`]. Each importer streams its input with
//! bounded memory; a malformed row fails the whole import with its position.

pub mod focus;
mod progress;
mod rollup;
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
    #[error("{path}: missing required column `{column}`; is this {expected}?")]
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
