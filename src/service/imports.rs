//! Importing billing data from wherever it is: local files, a directory, an
//! S3 report or the Cost Explorer API. One workflow for the CLI's `import`
//! commands and the scheduler's sources, so both read the same files and
//! ask Cost Explorer for the same days.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{Action, Caller, ServiceError};
use crate::importers::{ReadOptions, cost_explorer, cur, focus, s3};
use crate::store::{ImportSummary, Store};

/// Where an export's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Files {
    /// These files, as given.
    Local(Vec<PathBuf>),
    /// A directory's `.csv`, `.csv.gz` and `.parquet` files, in name order.
    Directory(PathBuf),
    /// An S3 report (a manifest or a prefix), downloaded first.
    S3 {
        location: s3::Location,
        endpoint_url: Option<String>,
    },
}

impl Files {
    /// The files of `args` (paths, or one `s3://bucket/prefix`) as the
    /// command line gives them.
    pub fn from_args(args: &[String], endpoint_url: Option<String>) -> Result<Files, ServiceError> {
        match args.iter().find_map(|f| s3::Location::parse(f)) {
            Some(_) if args.len() != 1 => Err(ServiceError::MixedLocations),
            Some(location) => Ok(Files::S3 {
                location,
                endpoint_url,
            }),
            None => Ok(Files::Local(args.iter().map(PathBuf::from).collect())),
        }
    }

    /// The files of a configured source's `path`: a file, a directory, or
    /// `s3://bucket/prefix`.
    pub fn from_source_path(path: &Path, endpoint_url: Option<String>) -> Files {
        match path.to_str().and_then(s3::Location::parse) {
            Some(location) => Files::S3 {
                location,
                endpoint_url,
            },
            None if path.is_file() => Files::Local(vec![path.to_path_buf()]),
            None => Files::Directory(path.to_path_buf()),
        }
    }
}

/// The format of an export's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Focus,
    Cur,
}

/// What to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportSpec {
    /// An export's files.
    Export { format: Format, files: Files },
    /// Cost Explorer's daily costs for `start..end` (exclusive); without
    /// them, from the first day Cost Explorer may still change
    /// ([`cost_explorer::default_start`]) to tomorrow.
    CostExplorer {
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        group_by: Vec<cost_explorer::GroupKey>,
        endpoint_url: Option<String>,
    },
}

/// What an import stored, and for Cost Explorer what it asked for.
#[derive(Clone, Debug)]
pub struct Imported {
    pub summary: ImportSummary,
    pub cost_explorer: Option<CostExplorerFetch>,
}

/// The days a Cost Explorer import asked for and what that cost.
#[derive(Clone, Debug)]
pub struct CostExplorerFetch {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// `GetCostAndUsage` requests made (each is billed by AWS).
    pub requests: u32,
    /// Days Cost Explorer marked as estimated, to be fetched again.
    pub estimated_days: Vec<NaiveDate>,
}

impl ImportSpec {
    /// The source's name in the audit log: `focus`, `cur` or `cost-explorer`.
    pub fn source(&self) -> &'static str {
        match self {
            ImportSpec::Export {
                format: Format::Focus,
                ..
            } => "focus",
            ImportSpec::Export {
                format: Format::Cur,
                ..
            } => "cur",
            ImportSpec::CostExplorer { .. } => "cost-explorer",
        }
    }

    /// What was read, for the audit log: the files as given (or the
    /// directory, or the S3 location), or Cost Explorer's window.
    fn audit_details(&self) -> serde_json::Value {
        match self {
            ImportSpec::Export { files, .. } => {
                let files: Vec<String> = match files {
                    Files::Local(paths) => paths.iter().map(|p| p.display().to_string()).collect(),
                    Files::Directory(dir) => vec![dir.display().to_string()],
                    Files::S3 { location, .. } => {
                        vec![format!("s3://{}/{}", location.bucket, location.prefix)]
                    }
                };
                serde_json::json!({ "files": files })
            }
            ImportSpec::CostExplorer { start, end, .. } => serde_json::json!({
                "start": start.map(|d| d.to_string()),
                "end": end.map(|d| d.to_string()),
            }),
        }
    }
}

/// [`import`] on behalf of `caller` (the CLI's operator), recorded in the
/// audit log as `import` with the files, rows and months changed. The
/// scheduler's runs are recorded as `source.run` instead.
pub async fn import_for(
    store: &Store,
    caller: &Caller,
    spec: &ImportSpec,
    options: ReadOptions,
    today: NaiveDate,
) -> Result<Imported, ServiceError> {
    caller.authorize(Action::ImportAndAllocate)?;
    let imported = import(store, spec, options, today).await?;
    let s = &imported.summary;
    let mut details = spec.audit_details();
    details["import"] = s.import_id.into();
    details["rows"] = s.rows_read.into();
    details["lines"] = s.lines_stored.into();
    details["months_changed"] = s
        .changed_months
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .into();
    super::audit::record(store, caller, "import", spec.source(), details).await;
    Ok(imported)
}

/// Imports `spec` in one transaction (see the importers); `today` (UTC)
/// places Cost Explorer's default window.
pub async fn import(
    store: &Store,
    spec: &ImportSpec,
    options: ReadOptions,
    today: NaiveDate,
) -> Result<Imported, ServiceError> {
    match spec {
        ImportSpec::CostExplorer {
            start,
            end,
            group_by,
            endpoint_url,
        } => {
            let start = match start {
                Some(start) => *start,
                None => cost_explorer::default_start(store, today).await?,
            };
            let end = end.unwrap_or(today + chrono::Duration::days(1));
            let client = cost_explorer::client(endpoint_url.as_deref()).await;
            let request = cost_explorer::Request {
                start,
                end,
                group_by: group_by.clone(),
                run: options.run,
            };
            let fetched = cost_explorer::import(store, &client, &request).await?;
            Ok(Imported {
                summary: fetched.summary,
                cost_explorer: Some(CostExplorerFetch {
                    start,
                    end,
                    requests: fetched.requests,
                    estimated_days: fetched.estimated_days,
                }),
            })
        }
        ImportSpec::Export { format, files } => {
            // An S3 report is downloaded first; its temporary copy is
            // removed when `_downloaded` is dropped, after the import.
            let (paths, _downloaded) = local_files(files).await?;
            let summary = match format {
                Format::Focus => focus::import(store, &paths, options).await?,
                Format::Cur => cur::import(store, &paths, options).await?,
            };
            Ok(Imported {
                summary,
                cost_explorer: None,
            })
        }
    }
}

/// The local paths of `files`: an S3 prefix is downloaded first, into a
/// temporary copy removed when the returned [`s3::Downloaded`] is dropped;
/// a directory gives its `.csv`, `.csv.gz` and `.parquet` files.
pub(super) async fn local_files(
    files: &Files,
) -> Result<(Vec<PathBuf>, Option<s3::Downloaded>), ServiceError> {
    Ok(match files {
        Files::S3 {
            location,
            endpoint_url,
        } => {
            let d = s3::fetch(&s3::client(endpoint_url.as_deref()).await, location).await?;
            (d.files.clone(), Some(d))
        }
        Files::Directory(dir) => (export_files(dir)?, None),
        Files::Local(paths) => (paths.clone(), None),
    })
}

/// A directory's `.csv`, `.csv.gz` and `.parquet` files in name order.
fn export_files(dir: &Path) -> Result<Vec<PathBuf>, ServiceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ServiceError::ReadSource {
        path: dir.to_path_buf(),
        cause: e.to_string().to_lowercase(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file()
                && (name.ends_with(".csv")
                    || name.ends_with(".csv.gz")
                    || name.ends_with(".parquet"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ServiceError::EmptySource(dir.to_path_buf()));
    }
    Ok(files)
}
