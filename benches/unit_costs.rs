//! Unit costs at scale: 24 months of billing lines for 200 teams (four
//! services each, a `team` and an `env` tag, a shared cluster, a support
//! plan and tax in pools, some unallocated cost, a few teams billed in EUR
//! too), every month allocated through `service::allocate_month`, and five
//! declared metrics (sum, average and last) with a point per day for the
//! organisation and for every team, stored through
//! `service::metrics::record`. It then times, through the use-case layer,
//! a 12-month series for one team, for the organisation and for an
//! environment (`service::unit_costs::series`), and the last month's
//! summary (`service::unit_costs::summary`): one warm-up call, then
//! `--iterations` calls each, printing the median and p95.
//!
//! ```text
//! cargo bench --bench unit_costs                     # SQLite: target/bench/unit-costs.db, built afresh
//! cargo bench --bench unit_costs -- --iterations 10 --teams 50 --months 13
//! cargo bench --bench unit_costs -- --database-url postgres://allot@127.0.0.1:5432/postgres
//! cargo bench --bench unit_costs -- --reuse          # the last run's dataset, if this same build stored it
//! ```
//!
//! It leaves `target/bench/unit-costs.toml` (`unit-costs-postgres.toml`),
//! an `allot.toml` that serves the dataset: `benches/load.sh` runs its
//! load test against it.
//!
//! With a PostgreSQL URL the bench drops and creates the database
//! `allot_bench_unit_costs` on that server (the URL's own database is only
//! used to connect) and leaves it behind for inspection. `--reuse` skips
//! the setup (about a minute) when `target/bench/unit-costs*.key` says the
//! dataset was stored whole by this very executable with the same
//! parameters; any rebuild stores it afresh. The targets (issue 11):
//! summary under 50 ms, a series under 10 ms, medians.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use allot::config::FileConfig;
use allot::domain::{
    ChargeCategory, CostBasis, CostLine, Currency, MetricScope, Month, StoredLine, TeamId,
};
use allot::engine::unit_cost::minus_months;
use allot::service::metrics::PointInput;
use allot::service::{self, Caller, unit_costs};
use allot::store::Store;
use allot_core::domain::sample;
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

/// The services every team runs, with its daily base cost in cents.
const SERVICES: &[(&str, i64)] = &[
    ("Amazon Elastic Compute Cloud", 9_000),
    ("Amazon Relational Database Service", 4_500),
    ("Amazon Simple Storage Service", 1_200),
    ("AWS Lambda", 600),
];

/// The metrics: (name, aggregation, daily base value, decimal places).
const METRICS: &[(&str, &str, i64, u32)] = &[
    ("orders", "sum", 1_800, 0),
    ("deployments", "sum", 12, 0),
    ("api-requests", "sum", 2_500_000, 0),
    ("active-customers", "average", 40_000, 0),
    ("stored-gb", "last", 5_000_000, 3),
];

struct Args {
    teams: usize,
    months: usize,
    iterations: usize,
    database_url: Option<String>,
    reuse: bool,
}

fn args() -> Args {
    let mut a = Args {
        teams: 200,
        months: 24,
        iterations: 50,
        database_url: None,
        reuse: false,
    };
    let number = |v: Option<String>, name: &str| -> usize {
        v.and_then(|v| v.replace('_', "").parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name} N (N > 0)"))
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--teams" => a.teams = number(it.next(), "--teams"),
            "--months" => a.months = number(it.next(), "--months"),
            "--iterations" => a.iterations = number(it.next(), "--iterations"),
            "--database-url" => a.database_url = it.next(),
            "--reuse" => a.reuse = true,
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    assert!(
        a.months >= 13,
        "--months must be at least 13 (a 12-month series and its year before)"
    );
    a
}

/// A small deterministic pseudo-random sequence (no `rand` dependency).
struct Noise(u64);

impl Noise {
    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn team_name(t: usize) -> String {
    format!("team-{t:03}")
}

/// The allocation rules: every team known, the team tag, an environment
/// tag, three pools and some groups.
fn rules_text(teams: usize) -> Vec<(String, String)> {
    let names: Vec<String> = (0..teams)
        .map(|t| format!("\"{}\"", team_name(t)))
        .collect();
    let groups: String = (0..teams.div_ceil(20))
        .map(|g| {
            let members: Vec<&str> = names
                .iter()
                .skip(g * 20)
                .take(20)
                .map(String::as_str)
                .collect();
            format!("unit-{g:02} = [{}]\n", members.join(", "))
        })
        .collect();
    let teams_toml = format!(
        "[teams]\nknown = [{}]\n\n[environment]\ntag = \"env\"\naliases = {{ prod = \"production\" }}\n\n[groups]\n{groups}",
        names.join(", ")
    );
    let ownership = r#"
[[rule]]
name = "team-tag"
team_from_tag = "team"

[[rule]]
name = "shared-kubernetes"
pool = "shared-cluster"
match.service = "Amazon Elastic Kubernetes Service"

[[rule]]
name = "support-plan"
pool = "support"
match.service = "*Support*"

[[rule]]
name = "tax"
pool = "tax"
match.charge_category = "Tax"

[[pool]]
name = "shared-cluster"
method = "proportional"
targets = "all"

[[pool]]
name = "support"
method = "even"
targets = "all"

[[pool]]
name = "tax"
method = "proportional"
targets = "all"
"#;
    vec![
        ("00-teams.toml".to_string(), teams_toml),
        ("10-ownership.toml".to_string(), ownership.to_string()),
    ]
}

fn settings_text() -> String {
    METRICS
        .iter()
        .map(|(name, aggregation, _, _)| {
            format!(
                "[[metric]]\nname = \"{name}\"\nunit = \"{}\"\naggregation = \"{aggregation}\"\n\n",
                name.trim_end_matches('s')
            )
        })
        .collect()
}

fn days(month: Month) -> Vec<NaiveDate> {
    month
        .first_day()
        .iter_days()
        .take_while(|d| *d < month.end_exclusive())
        .collect()
}

/// One month's lines. Month `i` of the dataset costs 1.5% more than the
/// one before.
fn month_lines(month: Month, i: usize, teams: usize, noise: &mut Noise) -> Vec<StoredLine> {
    let usd = Currency::parse("USD").expect("USD");
    let eur = Currency::parse("EUR").expect("EUR");
    let trend = 1000 + 15 * i as i64;
    let mut lines = Vec::new();
    let cost = |cents: i64, noise: &mut Noise| -> Decimal {
        // Cents scaled by the trend, with +-10% noise, to 6 places.
        let micro = cents * trend * 10 + (noise.below(200_000) as i64 - 100_000) * cents / 1000;
        Decimal::new(micro.max(0), 6)
    };
    let monthly = |l: CostLine| CostLine {
        charge_period_start: Utc
            .from_utc_datetime(&month.first_day().and_hms_opt(0, 0, 0).expect("midnight")),
        charge_period_end: Utc.from_utc_datetime(
            &month
                .end_exclusive()
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        ),
        ..l
    };
    for day in days(month) {
        for t in 0..teams {
            let team = team_name(t);
            for (s, (service, base)) in SERVICES.iter().enumerate() {
                let amount = cost(base + (t as i64 * 37 % 900) * 10, noise);
                let env = if (t + s) % 3 == 0 { "staging" } else { "prod" };
                lines.push(sample::stored(
                    CostLine {
                        sub_account_id: Some(format!(
                            "{:012}",
                            100_000_000_000u64 + (t % 40) as u64
                        )),
                        service_name: Some(service.to_string()),
                        resource_id: Some(format!("arn:aws:{s}:{team}")),
                        region: Some("us-east-1".into()),
                        tags: sample::tags(&[("team", &team), ("env", env)]),
                        ..sample::line(day, amount)
                    },
                    24,
                ));
            }
            if t % 10 == 0 {
                let amount = cost(2_000, noise);
                lines.push(sample::stored(
                    CostLine {
                        billing_account_id: "azure-ea".into(),
                        provider: "Microsoft".into(),
                        service_name: Some("Azure Cosmos DB".into()),
                        currency: eur,
                        tags: sample::tags(&[("team", &team), ("env", "prod")]),
                        ..sample::line(day, amount)
                    },
                    24,
                ));
            }
        }
        // The untagged shared cluster, and untagged cost nobody owns.
        let cluster = cost(300 * teams as i64, noise);
        lines.push(sample::stored(
            CostLine {
                service_name: Some("Amazon Elastic Kubernetes Service".into()),
                ..sample::line(day, cluster)
            },
            24,
        ));
        let orphan = cost(40 * teams as i64, noise);
        lines.push(sample::stored(
            CostLine {
                service_name: Some("AWS CloudTrail".into()),
                ..sample::line(day, orphan)
            },
            24,
        ));
    }
    // A monthly support fee and tax, spread over the month's days.
    let support = cost(20_000 * teams as i64, noise);
    lines.push(sample::stored(
        monthly(CostLine {
            service_name: Some("AWS Support (Business)".into()),
            ..sample::line(month.first_day(), support)
        }),
        1,
    ));
    let tax = cost(8_000 * teams as i64, noise);
    lines.push(sample::stored(
        monthly(CostLine {
            charge_category: ChargeCategory::Tax,
            service_name: Some("Tax".into()),
            ..sample::line(month.first_day(), tax)
        }),
        1,
    ));
    debug_assert!(
        lines
            .iter()
            .all(|l| l.line.currency == usd || l.line.currency == eur)
    );
    lines
}

/// Every metric's daily points for the organisation and every team.
fn metric_points(months: &[Month], teams: usize, noise: &mut Noise) -> Vec<PointInput> {
    let mut scopes = vec![String::new()];
    scopes.extend((0..teams).map(|t| format!("team:{}", team_name(t))));
    let mut out = Vec::new();
    for (i, month) in months.iter().enumerate() {
        for day in days(*month) {
            for (s, scope) in scopes.iter().enumerate() {
                let share = if s == 0 {
                    teams as i64
                } else {
                    1 + (s as i64 % 7)
                };
                for (name, _, base, dp) in METRICS {
                    let level = base * share * (1000 + 10 * i as i64) / 1000;
                    let jitter = noise.below(1 + level as u64 / 5) as i64;
                    let value = Decimal::new(
                        (level + jitter) * 10i64.pow(*dp)
                            + noise.below(10i64.pow(*dp) as u64) as i64,
                        *dp,
                    );
                    out.push(PointInput {
                        date: day.to_string(),
                        metric: name.to_string(),
                        value: value.to_string(),
                        scope: scope.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The bench's database on the PostgreSQL server of `--database-url`.
const PG_DATABASE: &str = "allot_bench_unit_costs";

/// The bench's database: the SQLite file `target/bench/unit-costs.db`, or
/// the database [`PG_DATABASE`] on the PostgreSQL server of `url`.
async fn open_store(dir: &Path, url: Option<&str>) -> anyhow::Result<(Store, String)> {
    let dataset = dataset_url(dir, url)?;
    let store = Store::connect(&dataset).await?;
    match url {
        Some(_) => Ok((store, format!("postgres database {PG_DATABASE}"))),
        None => Ok((store, dir.join("unit-costs.db").display().to_string())),
    }
}

/// The URL of the dataset's database: `PG_DATABASE` on the server of
/// `url`, or `unit-costs.db` in `dir`.
fn dataset_url(dir: &Path, url: Option<&str>) -> anyhow::Result<String> {
    match url {
        Some(url) if url.starts_with("postgres") => {
            let (base, _) = url
                .rsplit_once('/')
                .ok_or_else(|| anyhow::anyhow!("a URL ending in /DATABASE"))?;
            Ok(format!("{base}/{PG_DATABASE}"))
        }
        Some(other) => anyhow::bail!(
            "--database-url: expected postgres://..., found `{other}` (SQLite is the default)"
        ),
        None => Ok(format!("sqlite://{}", dir.join("unit-costs.db").display())),
    }
}

/// [`open_store`] on a database created afresh.
async fn fresh_store(dir: &Path, url: Option<&str>) -> anyhow::Result<(Store, String)> {
    match url {
        Some(url) if url.starts_with("postgres") => {
            const NAME: &str = PG_DATABASE;
            let admin = sqlx::PgPool::connect(url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"
            )))
            .execute(&admin)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {NAME}")))
                .execute(&admin)
                .await?;
            admin.close().await;
            open_store(dir, Some(url)).await
        }
        Some(_) => open_store(dir, url).await,
        None => {
            let path = dir.join("unit-costs.db");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            open_store(dir, None).await
        }
    }
}

/// Median and p95 of `n` calls of `f`, after one warm-up call whose result
/// is returned.
async fn time<T, F, Fut>(n: usize, mut f: F) -> anyhow::Result<(T, Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, service::ServiceError>>,
{
    let first = f().await?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f().await?);
        times.push(t.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    Ok((first, at(0.5), at(0.95)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the setup stored, and how long it took.
struct Dataset {
    lines: u64,
    allocation_rows: usize,
    points: u64,
    /// Seconds to import, allocate and store the points.
    secs: [f64; 3],
}

impl Dataset {
    fn to_text(&self) -> String {
        let [a, b, c] = self.secs;
        format!(
            "{} {} {} {a} {b} {c}",
            self.lines, self.allocation_rows, self.points
        )
    }

    fn from_text(text: &str) -> Option<Dataset> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [lines, rows, points, a, b, c] = f.as_slice() else {
            return None;
        };
        Some(Dataset {
            lines: lines.parse().ok()?,
            allocation_rows: rows.parse().ok()?,
            points: points.parse().ok()?,
            secs: [a.parse().ok()?, b.parse().ok()?, c.parse().ok()?],
        })
    }
}

/// Imports, allocates and stores the metric points of `months`.
async fn build(
    store: &Store,
    args: &Args,
    rules: &allot::rules::RuleSet,
    settings: &allot::config::Settings,
    months: &[Month],
) -> anyhow::Result<Dataset> {
    let mut noise = Noise(42);
    let t = Instant::now();
    let mut lines = 0u64;
    for (i, month) in months.iter().enumerate() {
        let batch = month_lines(*month, i, args.teams, &mut noise);
        let mut tx = store
            .begin_import("bench", &[format!("bench-{month}")], None)
            .await?;
        for chunk in batch.chunks(5_000) {
            tx.insert_lines(chunk).await?;
        }
        tx.commit(batch.iter().map(|l| l.source_rows).sum()).await?;
        lines += batch.len() as u64;
    }
    let import_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut allocation_rows = 0usize;
    for month in months {
        let allocated = service::allocate_month(store, rules, *month, CostBasis::Effective).await?;
        allocation_rows += allocated.charge.map_or(0, |a| a.rows.len());
    }
    let allocate_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let points = metric_points(months, args.teams, &mut noise);
    let recorded =
        service::metrics::record(store, &Caller::Operator, &settings.metrics, &points).await?;
    Ok(Dataset {
        lines,
        allocation_rows,
        points: recorded.added,
        secs: [import_secs, allocate_secs, t.elapsed().as_secs_f64()],
    })
}

/// What a stored dataset must match to be reused: the parameters, the
/// database, and this very executable (its size and modification time),
/// so a rebuilt allot (whose store may write other tables) never reads a
/// dataset an older one stored.
fn dataset_key(args: &Args, database: &str) -> anyhow::Result<String> {
    let exe = std::fs::metadata(std::env::current_exe()?)?;
    let modified = exe
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    Ok(format!(
        "teams={} months={} database={database} exe={}:{modified}",
        args.teams,
        args.months,
        exe.len()
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;

    let rules_dir = dir.join("unit-costs-rules");
    let _ = std::fs::remove_dir_all(&rules_dir);
    std::fs::create_dir_all(&rules_dir)?;
    for (name, text) in rules_text(args.teams) {
        std::fs::write(rules_dir.join(name), text)?;
    }
    let rules = allot::rules::load_dir(&rules_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = FileConfig::parse(Path::new("allot.toml"), &settings_text())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .settings(
            None,
            None,
            Some(CostBasis::Effective),
            Some(rules_dir.clone()),
        );

    let last = Month::parse("2026-10")?;
    let mut months = vec![last];
    while months.len() < args.months {
        months.push(minus_months(months[months.len() - 1], 1));
    }
    months.reverse();

    // `--reuse`: the dataset of an earlier run of this same executable with
    // the same parameters, if its record says it was stored whole.
    let pg = args.database_url.is_some();
    let key_file = dir.join(if pg {
        "unit-costs-postgres.key"
    } else {
        "unit-costs.key"
    });
    let key = dataset_key(&args, args.database_url.as_deref().unwrap_or("sqlite"))?;
    let reused = args
        .reuse
        .then(|| std::fs::read_to_string(&key_file).ok())
        .flatten()
        .and_then(|text| {
            let (stored_key, dataset) = text.split_once('\n')?;
            (stored_key == key)
                .then(|| Dataset::from_text(dataset))
                .flatten()
        });
    let (store, database, dataset) = match reused {
        Some(dataset) => {
            let (store, database) = open_store(&dir, args.database_url.as_deref()).await?;
            (store, format!("{database}, reused"), dataset)
        }
        None => {
            let _ = std::fs::remove_file(&key_file);
            let (store, database) = fresh_store(&dir, args.database_url.as_deref()).await?;
            let dataset = build(&store, &args, &rules, &settings, &months).await?;
            std::fs::write(&key_file, format!("{key}\n{}\n", dataset.to_text()))?;
            (store, database, dataset)
        }
    };
    let [import_secs, allocate_secs, points_secs] = dataset.secs;
    // An `allot.toml` for `allot serve` on the dataset (the load test's).
    let config = dir.join(if pg {
        "unit-costs-postgres.toml"
    } else {
        "unit-costs.toml"
    });
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\n\n[allocation]\nrules = \"{}\"\ncost_basis = \"effective\"\n\n[auth]\ntoken_key_file = \"{}\"\n\n{}",
            dataset_url(&dir, args.database_url.as_deref())?,
            rules_dir.display(),
            dir.join("unit-costs.key-file").display(),
            settings_text()
        ),
    )?;

    println!("database:    {} ({database})", store.backend());
    println!(
        "dataset:     {} months {}..{}, {} teams x {} services: {} stored lines, imported in {import_secs:.1} s",
        months.len(),
        months[0],
        last,
        args.teams,
        SERVICES.len(),
        dataset.lines,
    );
    println!(
        "allocated:   {} charge-month allocation rows (and the invoice view) in {allocate_secs:.1} s",
        dataset.allocation_rows
    );
    println!(
        "metrics:     {} metrics x {} scopes, daily: {} points stored in {points_secs:.1} s",
        METRICS.len(),
        args.teams + 1,
        dataset.points
    );

    let caller = Caller::Operator;
    let from = minus_months(last, 11);
    let team = MetricScope::Team(TeamId::parse(&team_name(args.teams / 2))?);
    let production = MetricScope::parse("environment:production").expect("a scope");
    let n = args.iterations;
    println!("timings:     {n} calls each after one warm-up, through allot::service::unit_costs");
    let report = |what: &str, median: Duration, p95: Duration, target: Option<f64>| {
        let verdict = match target {
            Some(t) if ms(median) < t => format!("  (target < {t} ms: met)"),
            Some(t) => format!("  (target < {t} ms: MISSED)"),
            None => String::new(),
        };
        println!(
            "  {what:<44} median {:>8.2} ms   p95 {:>8.2} ms{verdict}",
            ms(median),
            ms(p95)
        );
    };
    for (label, scope) in [
        ("team", &team),
        ("organisation", &MetricScope::Organisation),
    ] {
        let (series, median, p95) = time(n, || {
            unit_costs::series(&store, &caller, &settings, "orders", scope, from, last)
        })
        .await?;
        let ok = series
            .rows
            .iter()
            .filter(|r| r.status.as_str() == "ok")
            .count();
        assert!(
            ok >= 12,
            "the {label} series has {ok} ok rows: {:?}",
            series.rows
        );
        report(
            &format!(
                "series orders {scope} {from}..{last} ({} rows)",
                series.rows.len()
            ),
            median,
            p95,
            Some(10.0),
        );
    }
    let (series, median, p95) = time(n, || {
        unit_costs::series(
            &store,
            &caller,
            &settings,
            "orders",
            &production,
            from,
            last,
        )
    })
    .await?;
    report(
        &format!("series orders {production} ({} rows)", series.rows.len()),
        median,
        p95,
        None,
    );
    let (summary, median, p95) =
        time(n, || unit_costs::summary(&store, &caller, &settings, last)).await?;
    assert!(
        summary.entries.len() > args.teams,
        "{} summary entries",
        summary.entries.len()
    );
    report(
        &format!("summary {last} ({} entries)", summary.entries.len()),
        median,
        p95,
        Some(50.0),
    );
    Ok(())
}
