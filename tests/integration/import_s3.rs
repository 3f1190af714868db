//! CUR reports from S3 through an S3-compatible stand-in on loopback
//! (ListObjectsV2 and GetObject, path-style): a manifest's `reportKeys`
//! decide what is imported; without one, every data object under the prefix.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use allot::domain::Month;
use allot::importers::{Progress, cur, s3};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;

type Objects = Arc<BTreeMap<String, Vec<u8>>>;

/// Keys per listing page of the stand-in: small, so listings of a few
/// objects span several pages.
const PAGE_KEYS: usize = 2;

async fn list(
    State(objects): State<Objects>,
    Path(bucket): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    assert_eq!(bucket, "billing");
    assert_eq!(q.get("list-type").map(String::as_str), Some("2"));
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    // Pages of PAGE_KEYS keys, as S3 pages of 1,000: the continuation
    // token is the index of the next key.
    let matching: Vec<(&String, &Vec<u8>)> = objects
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    let start: usize = q
        .get("continuation-token")
        .map(|t| t.parse().unwrap())
        .unwrap_or(0);
    let end = (start + PAGE_KEYS).min(matching.len());
    let contents: String = matching[start..end]
        .iter()
        .map(|(k, v)| {
            format!(
                "<Contents><Key>{k}</Key><Size>{}</Size></Contents>",
                v.len()
            )
        })
        .collect();
    let more = if end < matching.len() {
        format!(
            "<IsTruncated>true</IsTruncated><NextContinuationToken>{end}</NextContinuationToken>"
        )
    } else {
        "<IsTruncated>false</IsTruncated>".to_string()
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>billing</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{PAGE_KEYS}</MaxKeys>{more}{contents}</ListBucketResult>",
        end - start
    );
    ([("content-type", "application/xml")], body).into_response()
}

async fn object(
    State(objects): State<Objects>,
    Path((bucket, key)): Path<(String, String)>,
) -> Response {
    assert_eq!(bucket, "billing");
    match objects.get(&key) {
        Some(bytes) => ([("content-type", "application/octet-stream")], bytes.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, [("content-type", "application/xml")], "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>").into_response(),
    }
}

async fn stand_in(objects: BTreeMap<String, Vec<u8>>) -> String {
    let app = axum::Router::new()
        .route("/{bucket}", get(list))
        .route("/{bucket}/", get(list))
        .route("/{bucket}/{*key}", get(object))
        .with_state(Arc::new(objects));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn client(url: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "static"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::root().join("fixtures/cur").join(name)).unwrap()
}

async fn amortized(db: &common::TestDb) -> Decimal {
    let lines = db
        .store
        .lines_for_month(Month::parse("2026-09").unwrap())
        .await
        .unwrap();
    lines.iter().map(|l| l.line.effective_cost).sum()
}

backend_tests! {
    async fn a_manifest_decides_which_objects_are_the_report(db) {
        let url = stand_in(BTreeMap::from([
            ("cur/2026-09/report-Manifest.json".to_string(), br#"{"reportKeys": ["cur/2026-09/part-00001.csv.gz"]}"#.to_vec()),
            ("cur/2026-09/part-00001.csv.gz".to_string(), fixture("legacy-2026-09.csv.gz")),
            // An object the manifest does not list (an older part): ignored.
            ("cur/2026-09/old-part.csv".to_string(), fixture("snake-2026-09.csv")),
        ]))
        .await;
        let location = s3::Location::parse("s3://billing/cur/2026-09/").unwrap();
        let downloaded = s3::fetch(&client(&url), &location).await.unwrap();
        assert_eq!(downloaded.files.len(), 1);
        let summary = cur::import(&db.store, &downloaded.files, Progress::Hidden).await.unwrap();
        assert_eq!(summary.rows_read, 12);
        assert_eq!(amortized(&db).await.to_string(), "27.2833333");
        let dir = downloaded.dir.clone();
        drop(downloaded);
        assert!(!dir.exists(), "downloads are removed after the import");
    }

    async fn without_a_manifest_every_data_object_under_the_prefix(db) {
        let url = stand_in(BTreeMap::from([
            ("exports/cur2/2026-09/data.parquet".to_string(), fixture("cur2-2026-09.parquet")),
            ("exports/cur2/2026-09/README.txt".to_string(), b"not data".to_vec()),
            ("exports/other/2026-09/data.csv".to_string(), b"elsewhere".to_vec()),
        ]))
        .await;
        let location = s3::Location::parse("s3://billing/exports/cur2/").unwrap();
        let downloaded = s3::fetch(&client(&url), &location).await.unwrap();
        assert_eq!(downloaded.files.len(), 1, "only data objects under the prefix");
        cur::import(&db.store, &downloaded.files, Progress::Hidden).await.unwrap();
        assert_eq!(amortized(&db).await.to_string(), "27.2833333");
        let empty = s3::Location::parse("s3://billing/nothing/").unwrap();
        let err = s3::fetch(&client(&url), &empty).await.err().unwrap();
        assert_eq!(err.to_string(), "S3: no .csv, .csv.gz or .parquet object under s3://billing/nothing/");
    }

    async fn a_listing_truncated_into_pages_is_read_to_its_last_page(db) {
        // Five data objects and the manifest naming two of them: three pages
        // of two keys, the manifest on the last one.
        let mut objects: BTreeMap<String, Vec<u8>> = (1..=5)
            .map(|i| (format!("paged/2026-09/part-{i}.csv"), fixture("snake-2026-09.csv")))
            .collect();
        objects.insert("paged/2026-09/report-Manifest.json".to_string(),
            br#"{"reportKeys": ["paged/2026-09/part-5.csv"]}"#.to_vec());
        let url = stand_in(objects).await;
        let location = s3::Location::parse("s3://billing/paged/").unwrap();
        let mut keys = s3::report_keys(&client(&url), &location).await.unwrap();
        keys.sort();
        assert_eq!(keys, vec!["paged/2026-09/part-5.csv"], "the manifest, on page 3, decides");
        let downloaded = s3::fetch(&client(&url), &location).await.unwrap();
        cur::import(&db.store, &downloaded.files, Progress::Hidden).await.unwrap();
        assert!(amortized(&db).await > Decimal::ZERO);
    }
}
