//! `docs/unit-costs.md` is executable: its files (a fenced block whose
//! first line is `# PATH`: `allot.toml`, a metrics CSV, a rule file) are
//! written to a fresh directory holding the shipped rules and a database
//! with the demo bill imported and allocated, and its `console` blocks are
//! run in order with the real binary: each `$ allot ...` line's standard
//! output must be exactly the lines after it (CSV's CRLF read as LF).

use std::path::Path;
use std::process::Command;

use crate::common;

/// The console commands the document must show at least.
const MIN_COMMANDS: usize = 8;

fn allot(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_allot"))
        .args(args)
        .env(
            "ALLOT_DATABASE_URL",
            format!("sqlite://{}", dir.join("allot.db").display()),
        )
        .env_remove("ALLOT_RULES_DIR")
        .env_remove("ALLOT_COST_BASIS")
        .env_remove("ALLOT_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run allot");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fenced blocks of a Markdown text: (line, language, body).
fn fences(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((i + 1, lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.push(open.take().expect("an open block")),
            (Some((_, _, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn the_unit_costs_guide_runs_as_written() {
    let doc_path = common::root().join("docs/unit-costs.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/unit-costs.md");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("allocation-rules");
    std::fs::create_dir(&rules).unwrap();
    for file in ["00-teams.toml", "10-ownership.toml"] {
        std::fs::copy(
            common::root().join("allocation-rules").join(file),
            rules.join(file),
        )
        .unwrap();
    }
    let fixture = common::demo_fixture();
    for args in [
        vec!["import", "focus", fixture.to_str().unwrap()],
        vec!["allocate", "--month", "2026-10"],
    ] {
        let (ok, _, err) = allot(dir.path(), &args);
        assert!(ok, "{args:?}: {err}");
    }
    let mut commands = 0;
    for (line, lang, body) in fences(&doc) {
        let first = body.lines().next().unwrap_or_default();
        if let Some(path) = first.strip_prefix("# ").filter(|p| !p.contains(' ')) {
            let rest: String = body.lines().skip(1).map(|l| format!("{l}\n")).collect();
            let target = dir.path().join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, rest).unwrap();
            continue;
        }
        if lang != "console" {
            continue;
        }
        // `$ allot ARGS` then its output, up to the next `$`.
        let mut steps: Vec<(String, String)> = Vec::new();
        for l in body.lines() {
            if let Some(cmd) = l.strip_prefix("$ ") {
                steps.push((cmd.to_string(), String::new()));
            } else if let Some((_, out)) = steps.last_mut() {
                out.push_str(l);
                out.push('\n');
            }
        }
        for (cmd, want) in steps {
            let args: Vec<&str> = cmd.split_whitespace().collect();
            assert_eq!(
                args[0], "allot",
                "docs/unit-costs.md:{line}: `{cmd}` is not an allot command"
            );
            let (ok, got, err) = allot(dir.path(), &args[1..]);
            // CSV rows end in CRLF; the document shows lines.
            let got = got.replace("\r\n", "\n");
            assert!(ok, "docs/unit-costs.md:{line}: `{cmd}` failed: {err}");
            assert_eq!(
                got, want,
                "docs/unit-costs.md:{line}: `{cmd}` printed something else"
            );
            commands += 1;
        }
    }
    assert!(commands >= MIN_COMMANDS, "only {commands} commands are run");
}

/// The `[[source]]` examples of the guide and the README are valid
/// configuration, given the metrics the guide's `allot.toml` declares.
#[test]
fn the_source_examples_are_valid_configuration() {
    let doc = std::fs::read_to_string(common::root().join("docs/unit-costs.md"))
        .expect("docs/unit-costs.md");
    let declared = fences(&doc)
        .into_iter()
        .find(|(_, lang, body)| lang == "toml" && body.starts_with("# allot.toml"))
        .map(|(_, _, body)| body)
        .expect("the guide declares its metrics in an `allot.toml` block");
    use allot::config::SourceKind;
    for file in ["docs/unit-costs.md", "README.md"] {
        let text = std::fs::read_to_string(common::root().join(file)).expect(file);
        let mut kinds = Vec::new();
        for (line, _, body) in fences(&text)
            .into_iter()
            .filter(|(_, lang, body)| lang == "toml" && body.contains("[[source]]"))
        {
            let config = allot::config::FileConfig::parse(
                Path::new("allot.toml"),
                &format!("{declared}\n{body}"),
            )
            .unwrap_or_else(|e| panic!("{file}:{line}: {e}"));
            kinds.extend(config.sources().into_iter().map(|s| s.kind));
        }
        for kind in [
            SourceKind::MetricsCsv,
            SourceKind::Prometheus,
            SourceKind::Sql,
        ] {
            assert!(kinds.contains(&kind), "{file} shows no {kind:?} source");
        }
    }
}
