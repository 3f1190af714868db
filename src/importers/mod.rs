//! Importers: read billing data (and usage metrics) from a source and store it through one
//! atomic [`crate::store::ImportTx`]. Each importer streams its input with
//! bounded memory; a malformed row fails the whole import with its position.

pub mod cost_explorer;
mod csv_input;
pub mod cur;
pub mod focus;
#[cfg(test)]
mod fuzz;
pub mod metrics;
mod parquet_rows;
mod progress;
pub mod prometheus;
mod rollup;
pub mod s3;
pub mod usage;
mod values;

use std::path::PathBuf;

use crate::store::StoreError;

pub(crate) use csv_input::CsvFile;
pub use csv_input::Limits;
pub use progress::Progress;
pub use values::MAX_MAGNITUDE;

/// How files are read: progress drawing and input bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub progress: Progress,
    pub limits: Limits,
    /// The source run the import belongs to, recorded with it.
    pub run: Option<i64>,
}

impl From<Progress> for ReadOptions {
    fn from(progress: Progress) -> Self {
        ReadOptions {
            progress,
            limits: Limits::default(),
            run: None,
        }
    }
}

/// The most characters of a cell an error shows.
const EXCERPT_CHARS: usize = 80;

/// `text` in backticks as an error shows it: whole when short, else its
/// first [`EXCERPT_CHARS`] characters and its length, so that a huge cell
/// is never echoed back whole.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!(
            "`{}...` ({} characters in all)",
            &text[..end],
            text.chars().count()
        ),
        None => format!("`{text}`"),
    }
}

/// What can go wrong in an import. Nothing is stored when any of these occurs.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: column {column}: expected {expected}, found {}", excerpt(.found))]
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
    #[error(
        "{path}:{line}: a row longer than {limit} bytes; is this a CSV export? (raise `import.max_record_bytes` in allot.toml if the row is real)"
    )]
    RecordTooLong {
        path: PathBuf,
        line: u64,
        limit: u64,
    },
    #[error(
        "{path}:{line}: column {column}: a value longer than {limit} bytes (raise `import.max_field_bytes` in allot.toml if the value is real)"
    )]
    FieldTooLong {
        path: PathBuf,
        line: u64,
        column: String,
        limit: usize,
    },
    #[error(
        "{path}:{line}: expected {expected} fields as in the header row, found {found}; every row needs one value per column"
    )]
    FieldCount {
        path: PathBuf,
        line: u64,
        expected: u64,
        found: u64,
    },
    #[error(
        "{path}:1: columns {first} `{first_name}` and {second} `{second_name}` are both the column {column}: remove one of them"
    )]
    DuplicateColumn {
        path: PathBuf,
        column: String,
        first: usize,
        first_name: String,
        second: usize,
        second_name: String,
    },
    #[error("{path}:{line}: malformed CSV: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: this looks like {found}, not {expected}; {hint}")]
    WrongFormat {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
        hint: &'static str,
    },
    #[error("{service}: {message}")]
    Remote { service: String, message: String },
    #[error(
        "`{}` is a directory: name the export files in it (for example `{}/*.csv.gz`)",
        .0.display(),
        .0.display()
    )]
    Directory(PathBuf),
    #[error("no files given: name at least one export to import")]
    NoFiles,
    #[error("`{0}` is given twice: each file of an export is imported once")]
    DuplicateFile(PathBuf),
    #[error(
        "`{second}` repeats the rows of `{first}` ({shared} of its rows checked, all found there): they are one export given twice; import one of them"
    )]
    RepeatedRows {
        first: PathBuf,
        second: PathBuf,
        shared: u64,
    },
    #[error("{0}: no header row; is the file empty?")]
    NoHeader(PathBuf),
    #[error("the import was interrupted before it finished; nothing was stored")]
    Interrupted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The kinds of billing export allot recognises by their header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExportKind {
    Cur,
    Focus,
    AzureCostDetails,
    GoogleBilling,
}

impl ExportKind {
    /// The error for a file of this kind given to the importer of `expected`:
    /// what the file is, and what to do with it.
    pub(crate) fn wrong_format(
        self,
        path: &std::path::Path,
        expected: &'static str,
    ) -> ImportError {
        let (found, hint) = match self {
            ExportKind::Cur => (
                "an AWS Cost and Usage Report",
                "import it with `allot import cur FILE`",
            ),
            ExportKind::Focus => ("a FOCUS export", "import it with `allot import focus FILE`"),
            ExportKind::AzureCostDetails => (
                "an Azure cost details export (not FOCUS)",
                "in Azure Cost Management, create an export of type \"Cost and usage details (FOCUS)\" and import that with `allot import focus`",
            ),
            ExportKind::GoogleBilling => (
                "a Google Cloud billing export (not FOCUS)",
                "export the billing data as FOCUS (Google Cloud's FOCUS BigQuery view) and import that with `allot import focus`",
            ),
        };
        ImportError::WrongFormat {
            path: path.to_path_buf(),
            found,
            expected,
            hint,
        }
    }
}

/// What kind of billing export a header row is, when allot knows it.
pub(crate) fn recognise(headers: &csv::StringRecord) -> Option<ExportKind> {
    let has = |name: &str| {
        headers.iter().any(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let any_prefix = |prefix: &str| {
        headers
            .iter()
            .any(|h| h.trim_start_matches('\u{feff}').trim().starts_with(prefix))
    };
    if any_prefix("lineItem/") || any_prefix("line_item_") {
        Some(ExportKind::Cur)
    } else if has("ChargePeriodStart") && has("BilledCost") {
        Some(ExportKind::Focus)
    } else if has("MeterCategory") || has("CostInBillingCurrency") || has("PreTaxCost") {
        Some(ExportKind::AzureCostDetails)
    } else if has("service.description") || has("sku.description") {
        Some(ExportKind::GoogleBilling)
    } else {
        None
    }
}

/// An AWS SDK failure as one line: a missing credential chain is said in
/// plain words with how to provide credentials; anything else keeps the
/// SDK's account of it, on one line.
pub(crate) fn aws_failure(detail: String) -> String {
    if detail.contains("no credentials found")
        || detail.contains("credential provider was not enabled")
    {
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile in ~/.aws/config, or run where an instance or task role is available)".to_string();
    }
    detail.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// A header row indexed by an importer's spelling rule (`key`). Looking a
/// column up that two headers spell remembers it, and [`HeaderIndex::finish`]
/// refuses the file: the last one must not silently win.
pub(crate) struct HeaderIndex<'h> {
    path: &'h std::path::Path,
    headers: &'h csv::StringRecord,
    key: fn(&str) -> String,
    by_key: std::collections::HashMap<String, Vec<usize>>,
    duplicate: std::cell::RefCell<Option<(String, usize, usize)>>,
}

impl<'h> HeaderIndex<'h> {
    /// Indexes every header for which `keep` holds.
    pub(crate) fn new(
        path: &'h std::path::Path,
        headers: &'h csv::StringRecord,
        key: fn(&str) -> String,
        keep: impl Fn(&str) -> bool,
    ) -> Self {
        let mut by_key: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (i, h) in headers.iter().enumerate().filter(|(_, h)| keep(h)) {
            by_key.entry(key(h)).or_default().push(i);
        }
        HeaderIndex {
            path,
            headers,
            key,
            by_key,
            duplicate: Default::default(),
        }
    }

    /// The column of `name`, if the file has it.
    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        let found = self.by_key.get(&(self.key)(name))?;
        if let [first, second, ..] = found.as_slice() {
            self.duplicate
                .borrow_mut()
                .get_or_insert((name.to_string(), *first, *second));
        }
        found.first().copied()
    }

    /// Refuses the header row if a column looked up is spelt twice.
    pub(crate) fn finish(self) -> Result<(), ImportError> {
        match self.duplicate.into_inner() {
            None => Ok(()),
            Some((column, first, second)) => Err(ImportError::DuplicateColumn {
                path: self.path.to_path_buf(),
                column,
                first: first + 1,
                first_name: self.headers.get(first).unwrap_or("").trim().to_string(),
                second: second + 1,
                second_name: self.headers.get(second).unwrap_or("").trim().to_string(),
            }),
        }
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
    run: Option<i64>,
    read: F,
) -> Result<crate::store::ImportSummary, ImportError>
where
    F: FnOnce(
        Vec<PathBuf>,
        tokio::sync::mpsc::Sender<Vec<crate::domain::StoredLine>>,
    ) -> tokio::task::JoinHandle<Result<u64, ImportError>>,
{
    if paths.is_empty() {
        return Err(ImportError::NoFiles);
    }
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        if path.is_dir() {
            return Err(ImportError::Directory(path.clone()));
        }
        let canonical = std::fs::canonicalize(path).map_err(|source| ImportError::Io {
            path: path.clone(),
            source,
        })?;
        if !seen.insert(canonical) {
            return Err(ImportError::DuplicateFile(path.clone()));
        }
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut tx = store.begin_import(kind, &names, run).await?;
    // One batch in flight while the next is built: memory stays bounded.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let reader = read(paths.to_vec(), sender);
    while let Some(batch) = receiver.recv().await {
        tx.insert_lines(&batch).await?;
    }
    let rows = reader.await.map_err(|_| ImportError::Interrupted)??;
    Ok(tx.commit(rows).await?)
}

/// Rows of a file sampled for [`FileRows`]: the smallest row hashes.
const SKETCH_ROWS: usize = 4096;
/// Sampled rows that must all be found in another file to call a file's
/// rows a repeat (fewer when the file is that small).
const REPEAT_EVIDENCE: u64 = 16;

/// The data rows of one file of an import, in fixed memory: their number,
/// an order-independent digest, and the [`SKETCH_ROWS`] smallest row hashes
/// (a bottom-k sketch). Two files with the same rows have the same digest;
/// when one file's rows are all in another, every sampled hash of the first
/// below the second's largest sampled hash is among the second's samples.
pub(crate) struct FileRows {
    path: PathBuf,
    rows: u64,
    digest: u64,
    sketch: std::collections::BTreeSet<u64>,
}

impl FileRows {
    pub(crate) fn new(path: &std::path::Path) -> Self {
        FileRows {
            path: path.to_path_buf(),
            rows: 0,
            digest: 0,
            sketch: Default::default(),
        }
    }

    /// Counts one data row (its cells as parsed, so quoting, line endings
    /// and compression do not matter).
    pub(crate) fn add(&mut self, record: &csv::StringRecord) {
        use std::hash::{BuildHasher, Hasher};
        // A fast hash (every row of every file passes here); fixed seed, so
        // the same rows hash alike in every file of the import.
        let mut h = foldhash::fast::FixedState::with_seed(0x616c6c6f74).build_hasher();
        h.write(record.as_slice().as_bytes());
        for field in record.iter() {
            h.write_usize(field.len());
        }
        let hash = h.finish();
        self.rows += 1;
        self.digest = self.digest.wrapping_add(hash);
        if self.sketch.len() < SKETCH_ROWS {
            self.sketch.insert(hash);
        } else if self.sketch.last().is_some_and(|&max| hash < max) && self.sketch.insert(hash) {
            self.sketch.pop_last();
        }
    }

    /// How many of this file's sampled rows show it repeats `other`: `None`
    /// when some sampled row is not in `other`, or too few could be checked.
    fn repeats(&self, other: &FileRows) -> Option<u64> {
        if self.rows == 0 || self.rows > other.rows {
            return None;
        }
        if self.rows == other.rows && self.digest == other.digest {
            return Some(self.rows);
        }
        let limit = if other.sketch.len() < SKETCH_ROWS {
            u64::MAX
        } else {
            *other.sketch.last()?
        };
        let mut checked = 0;
        for hash in self.sketch.iter().take_while(|h| **h <= limit) {
            if !other.sketch.contains(hash) {
                return None;
            }
            checked += 1;
        }
        (checked >= REPEAT_EVIDENCE.min(self.sketch.len() as u64)).then_some(checked)
    }
}

/// Refuses an import whose files repeat each other's rows (the same export
/// as CSV and as gzip, or a part that a whole export also holds), naming both.
pub(crate) fn check_repeated_rows(files: &[FileRows]) -> Result<(), ImportError> {
    for (i, a) in files.iter().enumerate() {
        for b in &files[i + 1..] {
            let (small, large) = if a.rows <= b.rows { (a, b) } else { (b, a) };
            if let Some(shared) = small.repeats(large) {
                return Err(ImportError::RepeatedRows {
                    first: a.path.clone(),
                    second: b.path.clone(),
                    shared,
                });
            }
        }
    }
    Ok(())
}

/// Opens one of the small CSV files allot reads whole (usage figures,
/// business metrics), with the default limits.
fn open_small_csv(
    path: &std::path::Path,
) -> Result<CsvFile<std::io::BufReader<std::fs::File>>, ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    CsvFile::open(path, std::io::BufReader::new(file), Limits::default())
}

/// How the columns of those files are matched: case, spaces and a BOM do
/// not matter.
fn plain_column_key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
}
