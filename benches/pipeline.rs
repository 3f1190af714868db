//! End-to-end benchmark: generate an N-row FOCUS export (hourly charge
//! periods, 50+ columns, JSON tags), import it, allocate its month, detect
//! anomalies on it, and print rows per second, times and peak memory.
//!
//! ```text
//! cargo bench --bench pipeline                       # 1,000,000 rows (~1 GB)
//! cargo bench --bench pipeline -- --rows 200000
//! cargo bench --bench pipeline -- --database-url postgres://allot@127.0.0.1:5432/allot
//! ```
//!
//! The generated file is kept in `target/bench/` and reused by later runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use allot::domain::{CostBasis, Month};
use allot::importers::{Progress, focus};
use allot::store::Store;

const COLUMNS: &[&str] = &[
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SkuPriceDetails",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    "x_UsageType",
    "x_Operation",
];

const SERVICES: &[(&str, &str, &str, &str)] = &[
    (
        "Amazon Elastic Compute Cloud",
        "Compute",
        "Virtual Machines",
        "Hrs",
    ),
    (
        "Amazon Relational Database Service",
        "Databases",
        "Relational Databases",
        "Hrs",
    ),
    (
        "Amazon Simple Storage Service",
        "Storage",
        "Object Storage",
        "GB-Mo",
    ),
    (
        "Amazon Elastic Kubernetes Service",
        "Compute",
        "Containers",
        "Hrs",
    ),
    ("AWS Lambda", "Compute", "Serverless Compute", "Requests"),
    ("Amazon CloudFront", "Networking", "Content Delivery", "GB"),
    (
        "Amazon DynamoDB",
        "Databases",
        "NoSQL Databases",
        "ReadRequestUnits",
    ),
];
const TEAMS: &[&str] = &[
    "payments", "Payments", "pay", "search", "checkout", "data", "platform", "serach",
];
const TAG_KEYS: &[&str] = &["team", "Team", "owner_team", " team"];

struct Args {
    rows: u64,
    /// Hours of the month the rows cover; 1 makes every row its own line
    /// (no roll-up), the worst case for memory.
    hours: u64,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        rows: 1_000_000,
        hours: 720,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rows" => {
                a.rows = it
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("--rows N")
            }
            "--database-url" => a.database_url = it.next(),
            "--hours" => {
                a.hours = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|h| (1..=720).contains(h))
                    .expect("--hours 1..720")
            }
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    a
}

/// Writes `rows` rows: resources x hours of September 2026.
fn generate(path: &Path, rows: u64, hours: u64) -> std::io::Result<()> {
    let resources = rows.div_ceil(hours);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "{}", COLUMNS.join(","))?;
    let mut written = 0u64;
    'outer: for hour in 0..hours {
        let day = 1 + hour / 24;
        let h = hour % 24;
        let start = format!("2026-09-{day:02}T{h:02}:00:00Z");
        let end = if h == 23 {
            format!("2026-09-{:02}T00:00:00Z", day + 1).replace("09-31", "10-01")
        } else {
            format!("2026-09-{day:02}T{:02}:00:00Z", h + 1)
        };
        for r in 0..resources {
            if written == rows {
                break 'outer;
            }
            let (service, category, subcategory, unit) =
                SERVICES[(r % SERVICES.len() as u64) as usize];
            let account = 100000000000u64 + r % 40;
            let team = TEAMS[(r % TEAMS.len() as u64) as usize];
            let key = TAG_KEYS[(r / 7 % TAG_KEYS.len() as u64) as usize];
            let tags = if r % 11 == 0 {
                String::new()
            } else {
                format!(
                    "\"{{\"\"{key}\"\": \"\"{team}\"\", \"\"env\"\": \"\"{}\"\", \"\"cost-center\"\": \"\"CC-{}\"\", \"\"app\"\": \"\"app-{}\"\", \"\"project\"\": \"\"project-{}\"\", \"\"owner-email\"\": \"\"team-{}@example.com\"\", \"\"aws:createdBy\"\": \"\"AssumedRole:AROAEXAMPLE{}:terraform\"\"}}\"",
                    if r % 3 == 0 { "prod" } else { "dev" },
                    1000 + r % 50,
                    r % 200,
                    r % 30,
                    r % 8,
                    r % 17
                )
            };
            let qty = 1 + (r * 7 + hour) % 13;
            let price = format!("0.{:06}", 1000 + (r * 37) % 90000);
            let list = format!(
                "{}.{:010}",
                qty / 4,
                (r * 7919 + hour * 104729) % 10_000_000_000
            );
            let effective = format!("{}.{:010}", qty / 5, (r * 6007 + hour * 7) % 10_000_000_000);
            writeln!(
                w,
                "us-east-1{az},{effective},{billing},Acme Corp,Billing Account,USD,2026-10-01T00:00:00Z,2026-09-01T00:00:00Z,,,Usage,,${price} per On Demand Linux {itype} Instance Hour for {service} in US East (N. Virginia),Usage-Based,{end},{start},,,,,,,,{qty},{unit},{effective},{price},{effective},INV-2026-09,\"Amazon Web Services, Inc.\",{list},{price},Standard,USD,{qty},{unit},AWS,\"Amazon Web Services, Inc.\",us-east-1,US East (N. Virginia),arn:aws:{svc}:us-east-1:{account}:resource/r-{r:08x},resource-{r},{subcategory},{category},{service},{subcategory},SKU{sku:06},{unit} meter,SKU{sku:06}.PRICE{h},\"{{\"\"InstanceType\"\": \"\"{itype}\"\", \"\"OperatingSystem\"\": \"\"Linux\"\", \"\"Tenancy\"\": \"\"Shared\"\", \"\"LicenseModel\"\": \"\"No License required\"\"}}\",{account},account-{acct_name},AWS Account,{tags},USE1-{unit},Run{op}",
                az = ["a", "b", "c"][(r % 3) as usize],
                billing = 999900000000u64,
                svc = service
                    .split(' ')
                    .next_back()
                    .unwrap_or("svc")
                    .to_lowercase(),
                sku = r % 997,
                acct_name = r % 40,
                op = r % 5,
                itype = ["t3.medium", "m6i.xlarge", "c7g.2xlarge", "r6g.large"][(r % 4) as usize],
            )?;
            written += 1;
        }
    }
    w.flush()
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(if args.hours == 720 {
        format!("focus-{}.csv", args.rows)
    } else {
        format!("focus-{}-{}h.csv", args.rows, args.hours)
    });
    if !file.exists() {
        let t = Instant::now();
        let partial = file.with_extension("partial");
        generate(&partial, args.rows, args.hours)?;
        std::fs::rename(&partial, &file)?;
        println!("generated {} in {:.1?}", file.display(), t.elapsed());
    }
    let size = std::fs::metadata(&file)?.len();
    let db_path = dir.join("bench.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    let url = args
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}", db_path.display()));
    let store = Store::connect(&url).await?;
    let rss_before = peak_rss_mib();

    let t = Instant::now();
    let summary = focus::import(&store, std::slice::from_ref(&file), Progress::Auto).await?;
    let import_secs = t.elapsed().as_secs_f64();
    let rss_import = peak_rss_mib();

    let rules =
        allot::rules::load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("allocation-rules"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let month = Month::parse("2026-09")?;
    let t = Instant::now();
    let allocation = allot::service::allocate_month(&store, &rules, month, CostBasis::Effective)
        .await?
        .charge
        .ok_or_else(|| anyhow::anyhow!("nothing was charged in {month}"))?;
    let allocate_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let detection = allot::service::detect_months(
        &store,
        &allot::engine::anomaly::AnomalySettings::default(),
        &[],
        &[month],
    )
    .await?;
    let detect_secs = t.elapsed().as_secs_f64();

    println!(
        "file:       {} ({:.0} MiB, {} columns)",
        file.display(),
        size as f64 / 1048576.0,
        COLUMNS.len()
    );
    println!("database:   {}", store.backend());
    println!(
        "import:     {} rows in {:.2} s = {:.0} rows/s ({:.0} MiB/s), {} stored lines",
        summary.rows_read,
        import_secs,
        summary.rows_read as f64 / import_secs,
        size as f64 / 1048576.0 / import_secs,
        summary.lines_stored
    );
    println!(
        "allocate:   {month}: {} source rows in {:.2} s (both views), {} allocation rows",
        allocation.lines,
        allocate_secs,
        allocation.rows.len()
    );
    if let Some(d) = detection {
        println!(
            "detect:     {}..{}: {} anomalies in {:.2} s",
            d.from, d.to, d.found, detect_secs
        );
    }
    println!(
        "peak RSS:   {:.0} MiB (before import {:.0} MiB, after import {:.0} MiB)",
        peak_rss_mib().unwrap_or(f64::NAN),
        rss_before.unwrap_or(f64::NAN),
        rss_import.unwrap_or(f64::NAN)
    );
    Ok(())
}
