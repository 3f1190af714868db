//! Test support: a fresh database per test on each backend.
//!
//! SQLite always runs. PostgreSQL runs when `ALLOT_TEST_POSTGRES_URL` names a
//! server (`.ci/run` starts one); each test gets its own new database there.
//! With `ALLOT_TEST_REQUIRE_POSTGRES=1` (set by CI) a missing server fails
//! the test instead of skipping it.

#![allow(dead_code)]

pub mod contract;
pub mod golden;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use allot::store::Store;

pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// (admin URL, database name) of a PostgreSQL test database to drop.
    drop: Option<(String, String)>,
}

impl Drop for TestDb {
    /// Drops a PostgreSQL test database (on a thread of its own: the test's
    /// runtime may be shutting down).
    fn drop(&mut self) {
        let Some((admin, name)) = self.drop.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("allot.db").display());
    let store = Store::connect(&url).await.expect("open sqlite");
    TestDb {
        store,
        url,
        _dir: Some(dir),
        drop: None,
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub async fn postgres() -> Option<TestDb> {
    let Ok(admin) = std::env::var("ALLOT_TEST_POSTGRES_URL") else {
        if std::env::var("ALLOT_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("ALLOT_TEST_REQUIRE_POSTGRES=1 but ALLOT_TEST_POSTGRES_URL is not set");
        }
        eprintln!("postgres backend not tested: set ALLOT_TEST_POSTGRES_URL (see .ci/run)");
        return None;
    };
    let name = format!(
        "allot_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("connect to ALLOT_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let url = format!("{base}/{name}");
    let store = Store::connect(&url).await.expect("open postgres");
    Some(TestDb {
        store,
        url,
        _dir: None,
        drop: Some((admin, name)),
    })
}

/// Defines each test twice, `NAME::sqlite` and `NAME::postgres`, with a fresh
/// database bound to the given identifier.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $db = common::sqlite().await;
                    $body
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($db) = common::postgres().await else { return };
                    $body
                }
            }
        )*
    };
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled demo bill.
pub fn demo_fixture() -> PathBuf {
    root().join("fixtures/focus/demo-2026-10.csv")
}

/// Writes `content` to `name` in a new temporary directory.
pub fn write_temp(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write temp file");
    (dir, path)
}

/// The shipped rules.
pub fn shipped_rules() -> allot::rules::RuleSet {
    allot::rules::load_dir(&root().join("allocation-rules")).expect("shipped rules are valid")
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Runs one statement on the test database behind the store, as another
/// program (an older allot, an operator) would.
pub async fn execute_raw(url: &str, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("open sqlite");
        sqlx::query(sql).execute(&pool).await.expect("statement");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("open postgres");
        sqlx::query(sql).execute(&pool).await.expect("statement");
        pool.close().await;
    }
}

/// A new token with `role` (`admin`, `team:payments`...) that `app`
/// accepts; teams and groups are those of the shipped rules.
pub async fn token(store: &Store, app: &allot::app::Application, role: &str) -> String {
    let settings = allot::config::FileConfig::default().settings(
        None,
        None,
        None,
        Some(root().join("allocation-rules")),
    );
    let new = allot::service::tokens::NewToken {
        role: allot::service::Role::parse(role).expect("a role"),
        name: "test".into(),
        expires: None,
    };
    allot::service::tokens::create(
        store,
        &allot::service::Caller::Operator,
        &settings,
        app.token_key(),
        &new,
        chrono::Utc::now(),
    )
    .await
    .expect("create a token")
    .token
}

/// A client that sends `token` with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value");
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// A client with an admin token for `app`.
pub async fn admin_client(store: &Store, app: &allot::app::Application) -> reqwest::Client {
    bearer_client(&token(store, app, "admin").await)
}

/// Settings with the shipped rules, `server` as the `[server]` table, and
/// the demo export as the configured source `bill`.
pub fn demo_source_settings(server: &str) -> allot::config::Settings {
    let text = format!(
        "[allocation]\nrules = \"{}\"\n[server]\n{server}\n[[source]]\nname = \"bill\"\nkind = \"focus\"\npath = \"{}\"\nschedule = \"0 0 3 * * *\"\n",
        path_str(&root().join("allocation-rules")),
        path_str(&demo_fixture()),
    );
    allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), &text)
        .expect("valid settings")
        .settings(None, None, None, None)
}

/// The demo bill imported and its month 2026-10 allocated with the
/// shipped rules.
pub async fn allocated_demo(store: &Store) {
    allot::importers::focus::import(store, &[demo_fixture()], allot::importers::Progress::Hidden)
        .await
        .expect("the demo bill imports");
    allot::service::allocate_month(
        store,
        &shipped_rules(),
        allot::domain::Month::parse("2026-10").expect("a month"),
        allot::domain::CostBasis::Effective,
    )
    .await
    .expect("the demo month allocates");
}
