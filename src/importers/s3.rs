//! S3 sources: `s3://bucket/prefix` locations for the file importers. The
//! objects of a report (those a CUR manifest lists, or else every `.csv`,
//! `.csv.gz` and `.parquet` object under the prefix) are streamed to a
//! temporary directory and imported together, atomically. Works with any
//! S3-compatible store through `--endpoint-url` (path-style addressing).

use std::path::PathBuf;

use aws_sdk_s3::Client;
use tokio::io::AsyncWriteExt;

use super::ImportError;

/// A parsed `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket/prefix`; `None` for anything else (a local path).
    pub fn parse(s: &str) -> Option<Location> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

fn err(message: String) -> ImportError {
    ImportError::Remote {
        service: "S3".into(),
        message,
    }
}

/// A client from the default credential chain, optionally for an
/// S3-compatible endpoint (then with path-style addressing).
pub async fn client(endpoint_url: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(endpoint_url.is_some())
        .build();
    Client::from_conf(config)
}

/// The keys of the report at `location`: a CUR manifest's `reportKeys` when
/// a `*Manifest.json` is there, else every data object under the prefix.
pub async fn report_keys(client: &Client, location: &Location) -> Result<Vec<String>, ImportError> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&location.bucket)
            .prefix(&location.prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "listing s3://{}/{}: {}",
                    location.bucket,
                    location.prefix,
                    super::aws_failure(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
                ))
            })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    keys.sort();
    if let Some(manifest) = keys.iter().find(|k| k.ends_with("Manifest.json")).cloned() {
        let body = client
            .get_object()
            .bucket(&location.bucket)
            .key(&manifest)
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "reading s3://{}/{manifest}: {}",
                    location.bucket,
                    super::aws_failure(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
                ))
            })?
            .body
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?
            .into_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            err(format!(
                "s3://{}/{manifest} is not a CUR manifest: {e}",
                location.bucket
            ))
        })?;
        let listed: Vec<String> = value["reportKeys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if listed.is_empty() {
            return Err(err(format!(
                "s3://{}/{manifest} lists no `reportKeys`",
                location.bucket
            )));
        }
        return Ok(listed);
    }
    let data: Vec<String> = keys
        .into_iter()
        .filter(|k| k.ends_with(".csv") || k.ends_with(".csv.gz") || k.ends_with(".parquet"))
        .collect();
    if data.is_empty() {
        return Err(err(format!(
            "no .csv, .csv.gz or .parquet object under s3://{}/{}",
            location.bucket, location.prefix
        )));
    }
    Ok(data)
}

/// Streams the report's objects into `dir`; returns the local files in key order.
pub async fn download(
    client: &Client,
    location: &Location,
    dir: &std::path::Path,
) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for (i, key) in report_keys(client, location).await?.into_iter().enumerate() {
        let name = key.rsplit('/').next().unwrap_or("object");
        let path = dir.join(format!("{i:05}-{name}"));
        let mut object = client
            .get_object()
            .bucket(&location.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "reading s3://{}/{key}: {}",
                    location.bucket,
                    super::aws_failure(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
                ))
            })?;
        let io = |source| ImportError::Io {
            path: path.clone(),
            source,
        };
        let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
        while let Some(chunk) = object
            .body
            .try_next()
            .await
            .map_err(|e| err(format!("reading s3://{}/{key}: {e}", location.bucket)))?
        {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        files.push(path);
    }
    Ok(files)
}

/// A directory of downloaded objects, removed when dropped.
pub struct Downloaded {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Downloads the report at `location` into a fresh temporary directory.
pub async fn fetch(client: &Client, location: &Location) -> Result<Downloaded, ImportError> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "allot-s3-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).map_err(|source| ImportError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut downloaded = Downloaded { dir, files: vec![] };
    downloaded.files = download(client, location, &downloaded.dir).await?;
    Ok(downloaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("s3://billing/cur/2026-09/"),
            Some(Location {
                bucket: "billing".into(),
                prefix: "cur/2026-09/".into()
            })
        );
        assert_eq!(
            Location::parse("s3://billing"),
            Some(Location {
                bucket: "billing".into(),
                prefix: String::new()
            })
        );
        assert_eq!(Location::parse("/data/cur.csv"), None);
        assert_eq!(Location::parse("s3:///x"), None);
    }
}
