//! The `allot` binary end to end: exit codes, one-line errors on stderr,
//! and the finance CSV matching the golden file.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn allot(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(args)
        .env("ALLOT_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env_remove("ALLOT_RULES_DIR")
        .env_remove("ALLOT_COST_BASIS")
        .current_dir(common::root())
        .output()
        .expect("run allot")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn import_allocate_showback_csv_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("allot.db");
    let fixture = common::demo_fixture();
    let out = allot(&db, &["import", "focus", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported 408 rows"),
        "{}",
        text(&out.stdout)
    );
    let out = allot(&db, &["allocate", "--month", "2026-10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("total 538.59 EUR + 3254.67 USD"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unknown team `serach`"),
        "unknown tag values are reported: {stdout}"
    );
    let out = allot(&db, &["showback", "--month", "2026-10", "--format", "csv"]);
    assert!(out.status.success());
    common::golden::assert_golden("demo-showback-team.csv", &text(&out.stdout));
    let out = allot(
        &db,
        &[
            "showback",
            "--month",
            "2026-10",
            "--by",
            "team,service",
            "--format",
            "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["group_by"], "team,service");
    assert_eq!(json["totals"][1]["total_cost"], "3254.67");
    // The invoice view was allocated with it, at billed cost.
    assert!(
        stdout.contains("invoice 2026-10 (billed cost, `--period billing`): 407 source rows, total 538.59 EUR + 3171.83 USD"),
        "{stdout}"
    );
    let out = allot(
        &db,
        &["showback", "--month", "2026-10", "--period", "billing"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("showback of the invoice 2026-10"),
        "{stdout}"
    );
    assert!(stdout.contains("3171.83"), "{stdout}");
    // The audit log: the import and the allocation, by the operator.
    let out = allot(&db, &["audit", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let said: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [("allocation", "2026-10"), ("import", "focus")],
        "{log}"
    );
    for e in entries {
        assert_eq!(
            (e["actor"].as_str(), e["role"].as_str()),
            (Some("operator"), Some("operator"))
        );
        assert!(e["client"].as_str().unwrap().starts_with("local"), "{e}");
    }
    let import = &entries[1]["details"];
    assert_eq!(
        import["files"],
        serde_json::json!([fixture.to_str().unwrap()])
    );
    assert_eq!(
        (import["rows"].as_u64(), import["lines"].as_u64()),
        (Some(408), Some(408)),
        "{import}"
    );
    assert_eq!(
        import["months_changed"],
        serde_json::json!(["2026-10", "2026-11"])
    );
    let allocation = &entries[0]["details"];
    let rules = allot::rules::load_dir(&common::root().join("allocation-rules")).unwrap();
    assert_eq!(allocation["rules"], rules.digest());
    assert_eq!(
        allocation["charge"]["totals"]["USD"], "3254.6678693",
        "{allocation}"
    );
    assert_eq!(
        allocation["billing"]["totals"]["USD"], "3171.8318234",
        "{allocation}"
    );
    let out = allot(&db, &["audit", "--action", "import", "--format", "csv"]);
    let csv = text(&out.stdout);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.starts_with("id,at,actor,role,client,action,target,details"),
        "{csv}"
    );
}

#[test]
fn failures_exit_non_zero_with_a_one_line_cause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("allot.db");
    let out = allot(&db, &["showback", "--month", "2026-10"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("run `allot allocate --month 2026-10`"),
        "{stderr}"
    );

    let out = allot(&db, &["allocate", "--month", "2026-10"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no cost lines for month 2026-10"),
        "{}",
        text(&out.stderr)
    );

    let out = allot(&db, &["showback", "--month", "2026-13"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("`2026-13`"));
}

#[test]
fn rules_check_reports_every_error_with_location_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("a.toml"),
        "[[rule]]\nname = \"x\"\nteam = \"Bad Team\"\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("b.toml"),
        "[[rule]]\nname = \"y\"\nteam = \"ok\"\nmatch.servce = \"EC2\"\n",
    )
    .unwrap();
    let db = dir.path().join("allot.db");
    let out = allot(&db, &["rules", "check", rules.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:3:8: `Bad Team` is not a valid team name",
            rules.join("a.toml").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:4:7:", rules.join("b.toml").display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `service`?"), "{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");

    let out = allot(&db, &["rules", "check"]);
    assert!(
        out.status.success(),
        "the shipped rules are valid: {}",
        text(&out.stderr)
    );

    let out = allot(
        &db,
        &[
            "allocate",
            "--month",
            "2026-10",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing was allocated"),
        "an invalid rule set is never applied"
    );
}

#[test]
fn demo_prepares_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    std::fs::write(&db, b"not a database").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(["demo", "--no-serve", "--database", db.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("TOTAL") && l.contains("USD") && l.ends_with("3254.67")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_demo_prints_tokens_that_work() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db.to_str().unwrap(),
        ])
        .env_remove("ALLOT_TOKEN_KEY")
        .env_remove("ALLOT_LOG")
        .env_remove("ALLOT_LOG_FORMAT")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut tokens) = (String::new(), Vec::new());
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("allot demo is serving on ") {
            base = rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('.')
                .to_string();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [role, token] = words.as_slice()
            && token.starts_with("allot_")
        {
            tokens.push((role.to_string(), token.to_string()));
        }
        if line.starts_with("Endpoints to try") {
            break;
        }
    }
    async {
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let roles: Vec<&str> = tokens.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["admin", "team:payments"]);
        let url = format!("{base}/api/v1/showback?month=2026-10");
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);
        let team: serde_json::Value = common::bearer_client(&tokens[1].1)
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let teams: Vec<&str> = team["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["team"].as_str().unwrap())
            .collect();
        assert!(
            !teams.is_empty() && teams.iter().all(|t| *t == "payments"),
            "{team}"
        );
        let admin = common::bearer_client(&tokens[0].1)
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200);
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    // Logs to a file are JSON, one request per line at `info`, with the
    // identity's label and never its token.
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(!log.contains('\x1b'), "no colour codes in a file: {log}");
    for (_, token) in &tokens {
        assert!(!log.contains(token.as_str()), "a token was logged: {log}");
    }
    let requests: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let seen: Vec<(&str, &str, u64, &str)> = requests
        .iter()
        .map(|r| {
            let f = &r["fields"];
            (
                r["level"].as_str().unwrap(),
                f["route"].as_str().unwrap(),
                f["status"].as_u64().unwrap(),
                f["identity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{log}");
    assert_eq!(seen[0], ("INFO", "/api/v1/showback", 401, "-"));
    assert_eq!((seen[1].2, seen[2].2), (200, 200));
    assert!(
        seen[1].3.starts_with("token:") && seen[1].3 != seen[2].3,
        "{seen:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r["fields"]["ms"].as_f64().is_some() && r["fields"]["method"] == "GET"),
        "{log}"
    );
}

#[test]
fn explain_and_preview_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("allot.db");
    let fixture = common::demo_fixture();
    assert!(
        allot(&db, &["import", "focus", fixture.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        allot(&db, &["allocate", "--month", "2026-10"])
            .status
            .success()
    );

    let out = allot(
        &db,
        &[
            "rules", "explain", "--month", "2026-10", "--team", "platform", "--format", "csv",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "month,team,currency,source,rule,pool,method,weight,total_weight,lines,amount\r\n2026-10,platform,USD,pool,,support,even,1,5,,50.00\r\n"
    );

    // A candidate in which platform pays the support plan alone.
    let candidate = dir.path().join("candidate");
    std::fs::create_dir(&candidate).unwrap();
    let root = common::root().join("allocation-rules");
    std::fs::copy(root.join("00-teams.toml"), candidate.join("00-teams.toml")).unwrap();
    let ownership = std::fs::read_to_string(root.join("10-ownership.toml"))
        .unwrap()
        .replace(
            "pool = \"support\"\nmatch.service",
            "team = \"platform\"\nmatch.service",
        );
    std::fs::write(candidate.join("10-ownership.toml"), ownership).unwrap();
    let out = allot(
        &db,
        &[
            "rules",
            "preview",
            "--month",
            "2026-10",
            candidate.to_str().unwrap(),
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    // Platform now pays the plan alone and, with that direct cost, a share of tax.
    assert!(
        csv.contains("2026-10,platform,USD,50.00,257.62,207.62\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-10,data,USD,1031.48,978.84,-52.64\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-10,search,EUR,314.18,314.18,0.00\r\n"),
        "{csv}"
    );
    // Nothing was stored: the showback is unchanged.
    let out = allot(&db, &["showback", "--month", "2026-10", "--format", "csv"]);
    common::golden::assert_golden("demo-showback-team.csv", &text(&out.stdout));
}

#[test]
fn settings_come_from_allot_toml_unless_a_flag_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-config.db");
    let rules = common::root().join("allocation-rules");
    std::fs::write(
        dir.path().join("allot.toml"),
        format!(
            "database_url = \"sqlite://{}\"\n\n[allocation]\ncost_basis = \"billed\"\nrules = \"{}\"\n",
            db.display(),
            rules.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_allot"))
            .args(args)
            .env_remove("ALLOT_DATABASE_URL")
            .env_remove("ALLOT_RULES_DIR")
            .env_remove("ALLOT_COST_BASIS")
            .env_remove("ALLOT_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let fixture = common::demo_fixture();
    let out = run(&["import", "focus", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(db.exists(), "the database named in allot.toml is used");
    let out = run(&["allocate", "--month", "2026-10"]);
    assert!(
        text(&out.stdout).contains("(billed cost basis)"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&[
        "allocate",
        "--month",
        "2026-10",
        "--cost-basis",
        "effective",
    ]);
    assert!(
        text(&out.stdout).contains("(effective cost basis)"),
        "a flag wins: {}",
        text(&out.stdout)
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[allocation]\ncost_basis = \"amortised\"\n",
    )
    .unwrap();
    let out = run(&["--config", "bad.toml", "showback", "--month", "2026-10"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.toml:2:1: expected a cost basis"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--config", "missing.toml", "showback", "--month", "2026-10"]);
    assert!(
        text(&out.stderr).contains("cannot read `missing.toml`"),
        "a named config must exist"
    );
}

/// `allot serve` with a scheduled source, stopped by SIGTERM once a run has
/// started: it exits cleanly, the run is finished (never left half-done) and
/// its data is whole.
#[cfg(unix)]
#[test]
fn sigterm_lets_a_scheduled_run_finish_and_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    std::fs::copy(common::demo_fixture(), exports.join("part-1.csv")).unwrap();
    let db = dir.path().join("allot.db");
    std::fs::write(
        dir.path().join("allot.toml"),
        format!(
            "database_url = \"sqlite://{}\"\n[allocation]\nrules = \"{}\"\n[[source]]\nname = \"bill\"\nkind = \"focus\"\npath = \"{}\"\nschedule = \"* * * * * *\"\nretries = 0\n",
            db.display(),
            common::root().join("allocation-rules").display(),
            exports.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("ALLOT_DATABASE_URL")
        .env_remove("ALLOT_CONFIG")
        .env("ALLOT_LOG", "allot=info")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The structured log says when runs start and end: wait for the first to
    // succeed and the next to start, then stop the server in that run.
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut seen = String::new();
    while log.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if seen.contains("import run succeeded") && line.contains("import run started") {
            break;
        }
        line.clear();
    }
    assert!(
        seen.contains("import run succeeded") && line.contains("import run started"),
        "{seen}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
    let rest: String = log
        .lines()
        .map_while(Result::ok)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(rest.contains("shutting down"), "{rest}");
    // Every recorded run finished; the data is the whole export.
    let out = allot(&db, &["showback", "--month", "2026-10", "--format", "csv"]);
    common::golden::assert_golden("demo-showback-team.csv", &text(&out.stdout));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = runtime.block_on(async {
        let store = allot::store::Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.import_runs(100).await.unwrap()
    });
    assert!(!runs.is_empty());
    assert!(
        runs.iter()
            .all(|r| r.status == allot::store::RunStatus::Succeeded),
        "no run left running or half-done: {runs:?}"
    );
}

#[test]
fn an_unreachable_database_is_named_with_its_cause_within_seconds() {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args([
            "--database-url",
            "postgres://allot:secret@127.0.0.1:1/allot",
            "showback",
            "--month",
            "2026-10",
        ])
        .env_remove("ALLOT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "error: cannot connect to the database at 127.0.0.1:1: connection refused (os error 111); is PostgreSQL running there and the URL right?"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn cost_explorer_without_credentials_says_how_to_give_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "import",
            "cost-explorer",
            "--start",
            "2026-10-01",
            "--end",
            "2026-10-03",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: AWS Cost Explorer: no AWS credentials found (set AWS_ACCESS_KEY_ID"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn a_directory_given_as_an_export_says_to_name_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = allot(
        &dir.path().join("a.db"),
        &["import", "focus", dir.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "error: `{0}` is a directory: name the export files in it (for example `{0}/*.csv.gz`)",
            dir.path().display()
        )
    );
}

#[test]
fn a_new_user_with_a_bill_and_no_rules_is_pointed_to_init_which_makes_allocate_work() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_allot"))
            .current_dir(dir.path())
            .args(args)
            .env_remove("ALLOT_DATABASE_URL")
            .env_remove("ALLOT_RULES_DIR")
            .env_remove("ALLOT_CONFIG")
            .output()
            .unwrap()
    };
    let fixture = common::demo_fixture();
    let out = run(&["import", "focus", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("next: allot init (there is no `allocation-rules` yet"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["allocate", "--month", "2026-10"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .starts_with("error: no rules directory `allocation-rules`: run `allot init`"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("wrote `./allot.toml`")
            && text(&out.stdout).contains("wrote `./allocation-rules/00-start.toml`"),
        "{}",
        text(&out.stdout)
    );
    // Run again: nothing is overwritten.
    let again = run(&["init"]);
    assert!(
        text(&again.stdout).contains("kept `./allot.toml`: it exists"),
        "{}",
        text(&again.stdout)
    );
    assert!(run(&["rules", "check"]).status.success());
    let out = run(&["allocate", "--month", "2026-10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["showback", "--month", "2026-10", "--format", "csv"]);
    let csv = text(&out.stdout);
    assert!(
        csv.contains(",payments,") && csv.contains(",unallocated,"),
        "{csv}"
    );
}

#[test]
fn an_unknown_table_suggests_a_field_allowed_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.toml"), "[team]\nknown = [\"a\"]\n").unwrap();
    let out = allot(
        &dir.path().join("a.db"),
        &["rules", "check", dir.path().to_str().unwrap()],
    );
    let err = text(&out.stderr) + &text(&out.stdout);
    assert!(err.contains("did you mean `[teams]`?"), "{err}");
    assert!(!err.contains("did you mean `team`?"), "{err}");
}

#[test]
fn metrics_are_listed_imported_and_give_unit_costs_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("allot.db");
    let config = dir.path().join("allot.toml");
    std::fs::write(
        &config,
        "[[metric]]\nname = \"orders\"\nunit = \"order\"\ndescription = \"Completed orders\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        allot(&db, &all)
    };
    let out = run(&["metrics", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "metric  unit   aggregation  description\norders  order  sum          Completed orders\n"
    );
    let fixture = common::demo_fixture();
    assert!(
        run(&["import", "focus", fixture.to_str().unwrap()])
            .status
            .success()
    );
    assert!(run(&["allocate", "--month", "2026-10"]).status.success());
    let points = dir.path().join("orders.csv");
    std::fs::write(
        &points,
        "date,metric,value,scope\n2026-10,orders,400,team:payments\n",
    )
    .unwrap();
    let out = run(&["import", "metrics", points.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "imported 1 metric points: 1 added, 0 replaced, 0 unchanged\nunit costs changed: orders 2026-10\n"
    );
    let out = run(&[
        "unit-costs",
        "--metric",
        "orders",
        "--from",
        "2026-10",
        "--scope",
        "team:payments",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "cost per order (orders), team:payments, 2026-10..2026-10\n\
         month    status  currency     cost  value  unit cost  mom %  yoy %\n\
         2026-10  ok      EUR        224.41    400   0.561025\n\
         2026-10  ok      USD       1072.80    400      2.682\n"
    );
    let out = run(&["unit-costs", "--metric", "revenue", "--from", "2026-10"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "error: unknown metric `revenue`: the declared metrics are `orders`"
    );
}
