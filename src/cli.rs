//! The `allot` command line: argument parsing and one function per command.
//! This is an edge of the program, so it reports errors with `anyhow`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::config::{DEFAULT_CONFIG_FILE, FileConfig, Settings};
use chrono::NaiveDate;

use crate::domain::{CostBasis, MetricScope, Month, Period, SCOPE_EXPECTED};
use crate::engine::Allocation;
use crate::engine::anomaly::AnomalyStatus;
use crate::engine::unit_cost::UnitCostStatus;
use crate::importers::{Progress, cost_explorer};
use crate::present::{self, Format};
use crate::rules;
use crate::service::imports::{self, Files, ImportSpec};
use crate::service::reports::ShowbackBy;
use crate::service::tokens::TokenKey;
use crate::service::{Caller, ROLE_EXPECTED, Role, ServiceError};
use crate::store::{AllocationRun, AnomalyFilter, ImportSummary, Store};
use crate::{demo, scheduler, service};

#[derive(Debug, Parser)]
#[command(
    name = "allot",
    version,
    about = "FinOps cost allocation: every cost gets an owner, to the cent"
)]
pub struct Cli {
    /// Database URL: `sqlite://FILE` (created on first use) or
    /// `postgres://USER@HOST/DB` [default: from the config file, else sqlite://allot.db].
    #[arg(long, global = true, env = "ALLOT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Configuration file [default: allot.toml, when it exists].
    #[arg(long, global = true, env = "ALLOT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import billing data.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Allocate a month: give every cost line an owner and store the result.
    Allocate {
        /// The month, as YYYY-MM.
        #[arg(long, value_parser = Month::parse)]
        month: Month,
        /// Directory of rule files [default: from the config file, else allocation-rules].
        #[arg(long, env = "ALLOT_RULES_DIR")]
        rules: Option<PathBuf>,
        /// Cost column to allocate: effective, billed or list [default: from the
        /// config file, else effective].
        #[arg(long, env = "ALLOT_COST_BASIS", value_parser = str::parse::<CostBasis>)]
        cost_basis: Option<CostBasis>,
    },
    /// Show an allocated month per team (or per team and service).
    Showback {
        #[arg(long, value_parser = Month::parse)]
        month: Month,
        /// `team`, `team,service`, `team,environment` (the rules'
        /// `[environment]`; shared cost follows each team's direct cost) or
        /// `group` (the rules' `[groups]`).
        #[arg(long, default_value = "team", value_parser = str::parse::<ShowbackBy>)]
        by: ShowbackBy,
        /// `charge`: the costs charged in the month, at the allocation's
        /// cost basis; `billing`: the costs of the invoice (billing period)
        /// starting in the month, at billed cost, which add up to the invoice.
        #[arg(long, default_value = "charge", value_parser = str::parse::<Period>)]
        period: Period,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List anomalies (spend spikes, and drops where configured), newest
    /// first; `anomalies detect` runs detection on demand.
    #[command(args_conflicts_with_subcommands = true)]
    Anomalies {
        #[command(subcommand)]
        command: Option<AnomaliesCommand>,
        /// Only anomalies with a day in this month.
        #[arg(long, value_parser = Month::parse)]
        month: Option<Month>,
        /// Only this team's anomalies (its own and per service).
        #[arg(long)]
        team: Option<String>,
        /// `open`, `acknowledged` or `withdrawn` [default: open and acknowledged].
        #[arg(long, value_parser = parse_status)]
        status: Option<AnomalyStatus>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The business metrics declared in allot.toml (`[[metric]]`).
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// A metric's unit costs month by month: a scope's allocated cost
    /// (direct plus shared) per unit of the metric, with month-over-month
    /// and year-over-year changes. With `--month` instead: every metric
    /// and scope of that month against the month before, with what moved
    /// the cost.
    UnitCosts {
        /// A declared metric.
        #[arg(long, required_unless_present = "month")]
        metric: Option<String>,
        /// The first month, YYYY-MM.
        #[arg(long, value_parser = Month::parse, required_unless_present_any = ["month", "explain"])]
        from: Option<Month>,
        /// The summary of this month, YYYY-MM.
        #[arg(long, value_parser = Month::parse, conflicts_with_all = ["metric", "from", "to", "scope", "explain"])]
        month: Option<Month>,
        /// Take this month's unit cost of `--metric` apart: the cost items
        /// and the metric points behind it.
        #[arg(long, value_parser = Month::parse, conflicts_with_all = ["from", "to"])]
        explain: Option<Month>,
        /// The last month, YYYY-MM [default: `from`].
        #[arg(long, value_parser = Month::parse)]
        to: Option<Month>,
        /// `team:NAME`, `group:NAME` or `environment:NAME` [default: the organisation].
        #[arg(long, default_value = "", value_parser = parse_scope)]
        scope: MetricScope,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Work with allocation rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// API tokens: each has a role (`admin`, `finance`, `group:NAME`,
    /// `team:NAME`, `monitoring`); clients send it as `Authorization: Bearer TOKEN`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log, newest first: imports, allocations, previews, source
    /// runs, token changes, acknowledgements and writes, with who did them.
    Audit {
        /// The first day, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: Option<NaiveDate>,
        /// The last day, YYYY-MM-DD (UTC), included.
        #[arg(long)]
        to: Option<NaiveDate>,
        /// Only this action (such as `allocation` or `source.run`).
        #[arg(long)]
        action: Option<String>,
        /// Only this actor, as entries name it (such as `scheduler`).
        #[arg(long)]
        actor: Option<String>,
        /// How many entries, 1 to 10000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on [default: from the config file, else 127.0.0.1:8080].
        #[arg(long, env = "ALLOT_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Write a commented `allot.toml` and starter rules (`allocation-rules/`:
    /// team from a `team` tag, everything else unallocated). Existing files
    /// are left alone.
    Init {
        /// Where to write them [default: the working directory].
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Load the bundled sample bill into a fresh database, allocate it and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where to create the demo database (replaced if it exists).
        #[arg(long, default_value = "allot-demo.db")]
        database: PathBuf,
        /// Prepare the database and print the showback, but do not serve.
        #[arg(long)]
        no_serve: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// FOCUS 1.0-1.3 cost-and-usage exports (CSV or .csv.gz). Files given
    /// together are imported as one export, atomically.
    Focus {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// AWS Cost and Usage Reports (legacy, snake_case or CUR 2.0; CSV,
    /// .csv.gz or Parquet). Files given together are one report, imported atomically;
    /// each payer account's billing period replaces the earlier import of it.
    Cur {
        /// Local files, or one `s3://bucket/prefix` (a CUR manifest there
        /// lists the report's objects; otherwise every data object under it).
        #[arg(required = true)]
        files: Vec<String>,
        /// An S3-compatible endpoint instead of AWS's (path-style addressing).
        #[arg(long, env = "ALLOT_S3_ENDPOINT")]
        endpoint_url: Option<String>,
    },
    /// AWS Cost Explorer (GetCostAndUsage, daily, amortized and unblended),
    /// with the default AWS credential chain. Each day replaces its earlier
    /// import; days Cost Explorer calls estimated are fetched again later.
    CostExplorer {
        /// First day [default: the earliest day still estimated, or the first
        /// day of this month].
        #[arg(long, value_parser = parse_date)]
        start: Option<chrono::NaiveDate>,
        /// Day after the last one (exclusive, as Cost Explorer takes it)
        /// [default: tomorrow, UTC].
        #[arg(long, value_parser = parse_date)]
        end: Option<chrono::NaiveDate>,
        /// Up to two groupings: `tag:KEY`, `service`, `account`.
        #[arg(long, value_delimiter = ',', default_value = "tag:team,service")]
        group_by: Vec<cost_explorer::GroupKey>,
        /// Another endpoint (a proxy or a stand-in) instead of AWS's.
        #[arg(long, env = "ALLOT_COST_EXPLORER_ENDPOINT")]
        endpoint_url: Option<String>,
    },
    /// Usage metrics for usage-based splits: CSV `date,team,metric,quantity`
    /// (date `YYYY-MM-DD`, or `YYYY-MM` for a monthly figure). A figure
    /// imported again for the same date, team and metric replaces the old one.
    Usage {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Business metrics for unit costs: CSV `date,metric,value[,scope]`
    /// (date `YYYY-MM-DD`, or `YYYY-MM` for a month's value; scope empty
    /// for the organisation, else `team:NAME`, `group:NAME` or
    /// `environment:NAME`). Metrics must be declared in allot.toml. A
    /// point imported again with another value replaces the old one.
    Metrics {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only a hash of it is kept).
    Create {
        /// `admin` (everything), `finance` (read everything), `group:NAME`
        /// (read the teams of a group of the rules), `team:NAME` (read one team)
        /// or `monitoring` (read `/metrics` only).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A label for lists and logs, such as who holds it.
        #[arg(long, default_value = "")]
        name: String,
        /// The day the token stops working (at 00:00 UTC), YYYY-MM-DD [default: no expiry].
        #[arg(long)]
        expires: Option<NaiveDate>,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token: from now on it is refused.
    Revoke {
        /// The token's id (from `allot token list`), or the token itself.
        id: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("expected {ROLE_EXPECTED}, found `{s}`"))
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// List the declared metrics.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn parse_scope(s: &str) -> Result<MetricScope, String> {
    MetricScope::parse(s).ok_or_else(|| format!("expected {SCOPE_EXPECTED}, found `{s}`"))
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesCommand {
    /// Detect anomalies on the days of an allocated month (with the weeks
    /// before as history), store them and send the alerts due.
    Detect {
        #[arg(long, value_parser = Month::parse)]
        month: Month,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Acknowledge an anomaly, with a note.
    Ack {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn parse_status(s: &str) -> Result<AnomalyStatus, String> {
    AnomalyStatus::parse(s)
        .ok_or_else(|| format!("expected `open`, `acknowledged` or `withdrawn`, found `{s}`"))
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files; print every error as file:line:col with a hint.
    Check {
        /// [default: the configured rules directory, else allocation-rules]
        dir: Option<PathBuf>,
    },
    /// Show how the rules in DIR would change each team's total for an
    /// allocated month, compared with its stored allocation. Stores nothing.
    Preview {
        #[arg(long, value_parser = Month::parse)]
        month: Month,
        /// [default: the configured rules directory, else allocation-rules]
        dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Explain what a team received in an allocated month: direct cost by
    /// rule, and each pool share with its method and weights.
    Explain {
        #[arg(long, value_parser = Month::parse)]
        month: Month,
        /// A team name, or `unallocated`.
        #[arg(long)]
        team: String,
        /// `charge` (the month's charges) or `billing` (the month's invoice).
        #[arg(long, default_value = "charge", value_parser = str::parse::<Period>)]
        period: Period,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings(&cli)?;
    match cli.command {
        Command::Import { source } => import(&settings, source).await,
        Command::Init { dir } => {
            for line in init(&dir)? {
                println!("{line}");
            }
            println!("next: allot import focus FILE..., then allot allocate --month YYYY-MM");
            Ok(())
        }
        Command::Allocate { month, .. } => allocate(&settings, month).await,
        Command::Anomalies {
            command: Some(AnomaliesCommand::Detect { month, format }),
            ..
        } => detect(&settings, month, format).await,
        Command::Anomalies {
            command: Some(AnomaliesCommand::Ack { id, note }),
            ..
        } => acknowledge(&settings, id, &note).await,
        Command::Anomalies {
            command: None,
            month,
            team,
            status,
            format,
        } => anomalies(&settings, month, team.as_deref(), status, format).await,
        Command::Showback {
            month,
            by,
            period,
            format,
        } => showback(&settings, month, by, period, format).await,
        Command::Rules {
            command: RulesCommand::Check { .. },
        } => check_rules(&settings.rules_dir),
        Command::Metrics {
            command: MetricsCommand::List { format },
        } => {
            let list = present::MetricList(settings.metrics.values().collect());
            print!("{}", present::render(&list, format));
            Ok(())
        }
        Command::UnitCosts {
            month: Some(month),
            format,
            ..
        } => unit_cost_summary(&settings, month, format).await,
        Command::UnitCosts {
            metric: Some(metric),
            explain: Some(month),
            scope,
            format,
            ..
        } => unit_cost_explain(&settings, &metric, &scope, month, format).await,
        Command::UnitCosts {
            metric,
            from,
            to,
            scope,
            format,
            ..
        } => {
            let (Some(metric), Some(from)) = (metric, from) else {
                bail!("give `--metric NAME --from YYYY-MM`, or `--month YYYY-MM` for the summary");
            };
            unit_costs(&settings, &metric, &scope, from, to.unwrap_or(from), format).await
        }
        Command::Rules {
            command:
                RulesCommand::Explain {
                    month,
                    team,
                    period,
                    format,
                },
        } => explain(&settings, month, &team, period, format).await,
        Command::Rules {
            command: RulesCommand::Preview { month, format, .. },
        } => preview(&settings, month, format).await,
        Command::Token { command } => token(&settings, command).await,
        Command::Audit {
            from,
            to,
            action,
            actor,
            limit,
            format,
        } => {
            let store = open(&settings.database_url).await?;
            let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
            let entries = service::audit::list(
                &store,
                &Caller::Operator,
                from.map(midnight),
                to.map(|d| midnight(d) + chrono::Duration::days(1)),
                action,
                actor,
                limit,
            )
            .await?;
            print!("{}", present::render(&present::AuditLog(entries), format));
            Ok(())
        }
        Command::Serve { .. } => {
            let store = open(&settings.database_url).await?;
            serve(store, settings.listen, settings).await
        }
        Command::Demo {
            listen,
            database,
            no_serve,
        } => run_demo(listen, &database, no_serve).await,
    }
}

/// `allot token ...`.
async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let now = chrono::Utc::now();
    match command {
        TokenCommand::Create {
            role,
            name,
            expires,
        } => {
            let key = token_key(settings)?;
            // It stops working when its day begins.
            let expires = expires.map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc());
            let new = service::tokens::NewToken {
                role: role.clone(),
                name,
                expires,
            };
            let created =
                service::tokens::create(&store, &Caller::Operator, settings, &key, &new, now)
                    .await?;
            println!("{}", created.token);
            eprintln!(
                "token `{}` ({role}) created; it is shown only now: keep it secret",
                created.record.id
            );
        }
        TokenCommand::List => {
            let tokens = service::tokens::list(&store, &Caller::Operator).await?;
            print!("{}", present::token_table(&tokens, now));
        }
        TokenCommand::Revoke { id } => {
            let t = service::tokens::revoke(&store, &Caller::Operator, &id, now).await?;
            println!("token `{}` ({}) revoked", t.id, t.role);
        }
    }
    Ok(())
}

/// The key tokens are hashed with: `ALLOT_TOKEN_KEY` (64 hex digits), else
/// the key file, created with a new random key when missing.
pub fn token_key(settings: &Settings) -> anyhow::Result<TokenKey> {
    if let Ok(text) = std::env::var("ALLOT_TOKEN_KEY") {
        return TokenKey::from_hex(&text).ok_or_else(|| {
            anyhow::anyhow!("`ALLOT_TOKEN_KEY` must be 64 hex digits (32 bytes), such as the output of `openssl rand -hex 32`")
        });
    }
    let path = &settings.token_key_file;
    match std::fs::read_to_string(path) {
        Ok(text) => TokenKey::from_hex(&text).ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` does not hold a token key (64 hex digits): restore it, or remove it to start over (every token must then be created again)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = TokenKey::random();
            write_private(path, &format!("{}\n", key.to_hex())).map_err(|e| {
                anyhow::anyhow!("cannot create the token key file `{}`: {e}", path.display())
            })?;
            tracing::info!(file = %path.display(), "created the token key file");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read the token key file `{}`: {e}",
            path.display()
        )),
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// The settings for `cli`: flags and environment win over the
/// configuration file, which wins over defaults.
fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path, true)?,
        None => FileConfig::load(Path::new(DEFAULT_CONFIG_FILE), false)?,
    };
    let (rules_flag, basis_flag, listen_flag) = match &cli.command {
        Command::Allocate {
            rules, cost_basis, ..
        } => (rules.clone(), *cost_basis, None),
        Command::Rules {
            command: RulesCommand::Check { dir } | RulesCommand::Preview { dir, .. },
        } => (dir.clone(), None, None),
        Command::Serve { listen } => (None, None, *listen),
        _ => (None, None, None),
    };
    Ok(file.settings(
        cli.database_url.clone(),
        listen_flag,
        basis_flag,
        rules_flag,
    ))
}

/// `allot import ...`.
async fn import(settings: &Settings, source: ImportSource) -> anyhow::Result<()> {
    let spec = match source {
        ImportSource::Focus { files } => ImportSpec::Export {
            format: imports::Format::Focus,
            files: Files::Local(files),
        },
        ImportSource::Cur {
            files,
            endpoint_url,
        } => ImportSpec::Export {
            format: imports::Format::Cur,
            files: Files::from_args(&files, endpoint_url)?,
        },
        ImportSource::CostExplorer {
            start,
            end,
            group_by,
            endpoint_url,
        } => ImportSpec::CostExplorer {
            start,
            end,
            group_by,
            endpoint_url,
        },
        ImportSource::Usage { files } => return import_usage(settings, &files).await,
        ImportSource::Metrics { files } => return import_metrics(settings, &files).await,
    };
    import_billing(settings, &spec).await
}

/// `allot import usage`.
async fn import_usage(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let summary = service::usage::import_files(&store, &Caller::Operator, files).await?;
    let list = |months: &[Month]| {
        if months.is_empty() {
            "none".to_string()
        } else {
            months
                .iter()
                .map(Month::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!(
        "imported {} usage records; months: {}; changed (re-allocate them): {}",
        summary.records,
        list(&summary.months),
        list(&summary.changed_months)
    );
    Ok(())
}

/// `allot import metrics`.
async fn import_metrics(settings: &Settings, files: &[PathBuf]) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let summary =
        service::metrics::import_files(&store, &Caller::Operator, &settings.metrics, files).await?;
    println!(
        "imported {} metric points: {} added, {} replaced, {} unchanged",
        summary.points, summary.added, summary.replaced, summary.unchanged
    );
    if !summary.changed.is_empty() {
        let changed: Vec<String> = summary
            .changed
            .iter()
            .map(|(metric, month)| format!("{metric} {month}"))
            .collect();
        println!("unit costs changed: {}", changed.join(", "));
    }
    Ok(())
}

/// `allot unit-costs --month M`.
async fn unit_cost_summary(
    settings: &Settings,
    month: Month,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let summary = service::unit_costs::summary(&store, &Caller::Operator, settings, month).await?;
    print!("{}", present::render(&summary, format));
    Ok(())
}

/// `allot unit-costs --metric NAME --explain M`.
async fn unit_cost_explain(
    settings: &Settings,
    metric: &str,
    scope: &MetricScope,
    month: Month,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let explanation =
        service::unit_costs::explain(&store, &Caller::Operator, settings, metric, scope, month)
            .await?;
    print!("{}", present::render(&explanation, format));
    Ok(())
}

/// `allot unit-costs`.
async fn unit_costs(
    settings: &Settings,
    metric: &str,
    scope: &MetricScope,
    from: Month,
    to: Month,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let series =
        service::unit_costs::series(&store, &Caller::Operator, settings, metric, scope, from, to)
            .await?;
    if series
        .rows
        .iter()
        .any(|r| r.status == UnitCostStatus::Stale)
    {
        eprintln!(
            "warning: some months' billing data or usage changed after they were allocated (status `stale`); re-allocate them with `allot allocate --month YYYY-MM`"
        );
    }
    print!("{}", present::render(&series, format));
    Ok(())
}

/// The rules of `dir`, for a command that would `action` with them.
fn load_rules(dir: &Path, action: &str) -> anyhow::Result<rules::RuleSet> {
    rules::load_dir(dir).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nthe rules in `{}` are invalid; {action}",
            dir.display()
        )
    })
}

/// `allot allocate`: allocates, detects anomalies, sends the alerts due.
async fn allocate(settings: &Settings, month: Month) -> anyhow::Result<()> {
    let dir = &settings.rules_dir;
    anyhow::ensure!(
        dir.is_dir(),
        "no rules directory `{}`: run `allot init` to write a starter `allot.toml` and `allocation-rules/` (team from a `team` tag, everything else unallocated), or pass `--rules DIR`",
        dir.display()
    );
    let rules = load_rules(dir, "nothing was allocated")?;
    let store = open(&settings.database_url).await?;
    let done = service::allocate(&store, &Caller::Operator, settings, &rules, month).await?;
    match &done.allocation.charge {
        Some(a) => print_allocation(a),
        None => println!("nothing was charged in {month}"),
    }
    if let Some(b) = &done.allocation.billing {
        println!(
            "invoice {month} (billed cost, `--period billing`): {} source rows, total {}",
            b.lines,
            present::amounts_text(&b.totals)
        );
    }
    if let Some(d) = &done.detection {
        print_detection(d);
    }
    Ok(())
}

/// `allot anomalies detect`.
async fn detect(settings: &Settings, month: Month, format: Format) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let d = service::detect_months(&store, &settings.anomalies, &settings.webhooks, &[month])
        .await?
        .ok_or_else(|| anyhow::anyhow!("no month to detect anomalies in"))?;
    anyhow::ensure!(
        d.cost_basis.is_some(),
        "month {month} has not been allocated: run `allot allocate --month {month}` first"
    );
    service::anomalies::deliver_alerts(&store, &settings.webhooks, &Default::default()).await;
    let filter = AnomalyFilter {
        from: Some(d.from),
        to: Some(d.to),
        ..AnomalyFilter::default()
    };
    let list = service::anomalies::list(&store, &Caller::Operator, &filter).await?;
    if format == Format::Table {
        print_detection(&d);
    }
    print!("{}", present::render(&present::AnomalyList(&list), format));
    Ok(())
}

/// `allot anomalies ack`.
async fn acknowledge(settings: &Settings, id: i64, note: &str) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let acked =
        service::anomalies::acknowledge(&store, &Caller::Operator, id, note, chrono::Utc::now())
            .await
            .map_err(|e| match e {
                ServiceError::UnknownAnomaly(id) => {
                    anyhow::anyhow!("no anomaly `{id}`: list them with `allot anomalies`")
                }
                other => other.into(),
            })?;
    println!(
        "acknowledged #{}: {}",
        acked.id,
        present::anomaly_sentence(&acked)
    );
    Ok(())
}

/// `allot anomalies`.
async fn anomalies(
    settings: &Settings,
    month: Option<Month>,
    team: Option<&str>,
    status: Option<AnomalyStatus>,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let filter = AnomalyFilter {
        from: month.map(|m| m.first_day()),
        to: month.map(|m| m.last_day()),
        team: team.map(crate::domain::normalise_team_name),
        status,
    };
    let list = service::anomalies::list(&store, &Caller::Operator, &filter).await?;
    print!("{}", present::render(&present::AnomalyList(&list), format));
    Ok(())
}

/// Warns when the month's inputs changed after it was allocated.
async fn warn_if_stale(store: &Store, run: &AllocationRun) -> anyhow::Result<bool> {
    let stale = service::is_stale(store, run).await?;
    if stale {
        eprintln!(
            "warning: billing data for {0} was imported after it was allocated; run `allot allocate --month {0}` for current figures",
            run.month
        );
    }
    Ok(stale)
}

/// `allot showback`.
async fn showback(
    settings: &Settings,
    month: Month,
    by: ShowbackBy,
    period: Period,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let by = match by {
        ShowbackBy::Rows(by) => by,
        ShowbackBy::Group => {
            let (run, report) = service::reports::group_showback(
                &store,
                &Caller::Operator,
                settings,
                month,
                period,
            )
            .await?;
            let stale = warn_if_stale(&store, &run).await?;
            let report = present::GroupShowbackReport {
                run: &run,
                showback: &report,
                stale,
            };
            print!("{}", present::render(&report, format));
            return Ok(());
        }
    };
    let (run, report) = service::showback(&store, &Caller::Operator, month, by, period).await?;
    let stale = warn_if_stale(&store, &run).await?;
    let report = present::ShowbackReport {
        run: &run,
        showback: &report,
        stale,
    };
    print!("{}", present::render(&report, format));
    Ok(())
}

/// `allot rules check`.
fn check_rules(dir: &Path) -> anyhow::Result<()> {
    match rules::load_dir(dir) {
        Ok(set) => {
            println!(
                "{}: {} rules, {} pools, ok",
                dir.display(),
                set.rules.len(),
                set.pools.len()
            );
            Ok(())
        }
        Err(errors) => {
            eprintln!("{errors}");
            bail!("{} error(s) in `{}`", errors.0.len(), dir.display())
        }
    }
}

/// `allot rules explain`.
async fn explain(
    settings: &Settings,
    month: Month,
    team: &str,
    period: Period,
    format: Format,
) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let (run, explanation) =
        service::explain(&store, &Caller::Operator, month, team, period).await?;
    warn_if_stale(&store, &run).await?;
    print!("{}", present::render(&explanation, format));
    Ok(())
}

/// `allot rules preview`.
async fn preview(settings: &Settings, month: Month, format: Format) -> anyhow::Result<()> {
    let rules = load_rules(&settings.rules_dir, "nothing to preview")?;
    let store = open(&settings.database_url).await?;
    let (run, candidate, rows) = service::preview(&store, &Caller::Operator, &rules, month).await?;
    let notes = present::allocation_notes(&candidate);
    let report = present::PreviewReport {
        month,
        cost_basis: run.cost_basis,
        rows: &rows,
        notes: &notes,
    };
    print!("{}", present::render(&report, format));
    Ok(())
}

/// `allot demo`.
async fn run_demo(listen: SocketAddr, database: &Path, no_serve: bool) -> anyhow::Result<()> {
    let prepared = demo::prepare(database).await?;
    print_allocation(&prepared.allocation);
    print!(
        "{}",
        present::showback_table(&prepared.showback, Period::Charge)
    );
    if no_serve {
        return Ok(());
    }
    let mut settings = demo::settings();
    // Beside the database, so that the group showback can read them.
    settings.rules_dir = database.with_extension("rules");
    demo::write_rules(&settings.rules_dir)?;
    let app = Application::build(prepared.store.clone(), listen)
        .await
        .with_context(|| format!("cannot listen on `{listen}`; pass --listen with a free address"))?
        .with_settings(settings.clone());
    let addr = app.local_addr()?;
    let month = prepared.allocation.month;
    let last_day = month.last_day();
    // Tokens to try, valid while this demo runs (its key is new each run).
    let mut tokens = Vec::new();
    for (role, name) in [
        ("admin", "demo admin"),
        ("team:payments", "demo payments team"),
    ] {
        let role = Role::parse(role).context("a demo role")?;
        let new = service::tokens::NewToken {
            role: role.clone(),
            name: name.to_string(),
            expires: None,
        };
        let created = service::tokens::create(
            &prepared.store,
            &Caller::Operator,
            &settings,
            app.token_key(),
            &new,
            chrono::Utc::now(),
        )
        .await?;
        tokens.push((role, created.token));
    }
    println!("\nallot demo is serving on http://{addr} (Ctrl-C to stop).");
    println!("The dashboard is at http://{addr}/ : sign in with one of these tokens.");
    println!("Every /api/v1 request needs a token (valid while this demo runs):");
    for (role, token) in &tokens {
        println!("  {role:<14} {token}");
    }
    println!(
        "for example:\n  curl -H 'Authorization: Bearer {}' 'http://{addr}/api/v1/showback?month={month}'",
        tokens[0].1
    );
    println!("Endpoints to try:");
    println!("  http://{addr}/api/v1/showback?month={month}");
    println!("  http://{addr}/api/v1/showback?month={month}&group_by=team,service");
    println!("  http://{addr}/api/v1/showback?month={month}&format=csv");
    println!(
        "  http://{addr}/api/v1/teams/payments/costs?from={}&to={last_day}",
        month.first_day()
    );
    println!(
        "  http://{addr}/api/v1/teams/payments/costs?from={}&to={last_day}&granularity=month",
        month.first_day()
    );
    println!("  http://{addr}/api/v1/teams/payments/explain?month={month}");
    let first = demo::history::FIRST;
    println!(
        "unit costs over {} months ({first} to {month}):",
        demo::history::MONTHS
    );
    println!("  http://{addr}/api/v1/unit-costs?metric=orders&from={first}&to={month}");
    println!(
        "  http://{addr}/api/v1/unit-costs?metric=orders&from={first}&to={month}&scope=team:checkout"
    );
    println!(
        "  http://{addr}/api/v1/unit-costs?metric=deployments&from={first}&to={month}&scope=team:payments"
    );
    println!(
        "  http://{addr}/api/v1/unit-costs?metric=active-customers&from={first}&to={month}&format=csv"
    );
    println!("  http://{addr}/api/v1/unit-costs/summary?month={month}");
    println!("  http://{addr}/api/v1/unit-costs/explain?metric=orders&month=2026-03");
    println!("  http://{addr}/healthz");
    println!(
        "the database is `{0}`; from another terminal, try\n  cargo run --release -- --database-url sqlite://{0} rules explain --month {month} --team payments",
        database.display()
    );
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn open(url: &str) -> anyhow::Result<Store> {
    // The store's errors name the database (its password hidden).
    Ok(service::connect(url).await?)
}

async fn serve(store: Store, listen: SocketAddr, settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(store.clone(), listen)
        .await
        .with_context(|| format!("cannot listen on `{listen}`; is another server running there?"))?
        .with_settings(settings.clone())
        .with_token_key(token_key(&settings)?);
    let metrics = app.metrics_addr()?;
    tracing::info!(addr = %app.local_addr()?, sources = settings.sources.len(), "serving");
    println!("allot is serving on http://{}", app.local_addr()?);
    match (settings.metrics_endpoint, metrics) {
        (_, Some(at)) => println!("metrics: http://{at}/metrics (open, without a token)"),
        (crate::config::MetricsEndpoint::Token, _) => println!(
            "metrics: http://{}/metrics (for `admin` and `monitoring` tokens)",
            app.local_addr()?
        ),
        _ => {}
    }
    for source in &settings.sources {
        println!(
            "scheduled: source `{}` ({})",
            source.name,
            source.path.display()
        );
    }
    // One shutdown signal stops both the API and the schedules; an import
    // in progress finishes (or rolls back) before the process exits.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let schedules = tokio::spawn(scheduler::run_schedules(
        store,
        settings,
        app.telemetry().clone(),
        stopped,
    ));
    app.run_until(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    })
    .await?;
    let _ = schedules.await;
    Ok(())
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    crate::domain::month::parse_day(s.trim()).ok_or_else(|| {
        format!("expected a date as `YYYY-MM-DD` in the years 2000 to 2099, found `{s}`")
    })
}

/// The files `allot init` writes, relative to its directory.
const INIT_FILES: [(&str, &str); 2] = [
    ("allot.toml", include_str!("init/allot.toml")),
    (
        "allocation-rules/00-start.toml",
        include_str!("init/00-start.toml"),
    ),
];

/// Writes the starter configuration and rules under `dir`, never over an
/// existing file; returns what it did, a line per file.
pub fn init(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for (name, text) in INIT_FILES {
        let path = dir.join(name);
        if name.starts_with("allocation-rules/")
            && path.parent().is_some_and(|p| p.is_dir())
            && std::fs::read_dir(path.parent().unwrap_or(dir))?
                .next()
                .is_some()
        {
            done.push(format!(
                "kept `{}`: it already holds rules",
                path.parent().unwrap_or(dir).display()
            ));
            continue;
        }
        if path.exists() {
            done.push(format!("kept `{}`: it exists", path.display()));
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        done.push(format!("wrote `{}`", path.display()));
    }
    Ok(done)
}

/// `allot import focus|cur|cost-explorer`: imports and says what changed.
async fn import_billing(settings: &Settings, spec: &ImportSpec) -> anyhow::Result<()> {
    let store = open(&settings.database_url).await?;
    let started = std::time::Instant::now();
    let today = chrono::Utc::now().date_naive();
    let imported = imports::import_for(
        &store,
        &Caller::Operator,
        spec,
        settings.read_options(Progress::Auto),
        today,
    )
    .await?;
    print_import(&imported.summary, started, &settings.rules_dir);
    if let Some(fetch) = &imported.cost_explorer {
        println!(
            "{} GetCostAndUsage request(s) for {}..{}; {} estimated day(s), to be fetched again",
            fetch.requests,
            fetch.start,
            fetch.end,
            fetch.estimated_days.len()
        );
    }
    Ok(())
}

fn print_import(summary: &ImportSummary, started: std::time::Instant, rules: &Path) {
    let months: Vec<String> = summary.months.iter().map(Month::to_string).collect();
    println!(
        "imported {} rows as {} lines in {:.1?} (import {}); months: {}",
        summary.rows_read,
        summary.lines_stored,
        started.elapsed(),
        summary.import_id,
        if months.is_empty() {
            "none".to_string()
        } else {
            months.join(", ")
        }
    );
    if summary.changed_months.is_empty() {
        println!("the same data was already imported: nothing changed");
    }
    if !summary.changed_months.is_empty() && !rules.is_dir() {
        println!(
            "next: allot init (there is no `{}` yet: it writes starter rules), then:",
            rules.display()
        );
    }
    for m in &summary.changed_months {
        println!("next: allot allocate --month {m}");
    }
}

fn print_detection(d: &service::Detection) {
    println!(
        "anomaly detection {}..{}: {} anomalies ({} new, {} updated, {} withdrawn)",
        d.from,
        d.to,
        d.found,
        d.saved.new.len(),
        d.saved.updated,
        d.saved.withdrawn
    );
}

fn print_allocation(a: &Allocation) {
    println!(
        "allocated {} ({} cost basis): {} source rows, total {}",
        a.month,
        a.cost_basis,
        a.lines,
        present::amounts_text(&a.totals)
    );
    for note in &a.diagnostics {
        println!("note: {note}");
    }
    for warning in present::allocation_warnings(a) {
        println!("warning: {warning}");
    }
}

/// An error and its causes on one line, each cause once: a message that
/// already quotes its cause (as most do) is not followed by it again.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod one_line_tests {
    use super::*;

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "Is a directory (os error 21)",
        );
        let e = anyhow::Error::new(crate::importers::ImportError::Io {
            path: "x.csv".into(),
            source: io,
        });
        assert_eq!(
            one_line(&e),
            "cannot read `x.csv`: Is a directory (os error 21)"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&e), "outer: inner");
    }
}
