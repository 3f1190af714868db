//! `check` diagnostics (exact message, position, snippet and hint) and rule
//! evaluation.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::domain::ChargeCategory;
use crate::domain::{Tags, sample};

fn sources(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect()
}

/// Every diagnostic for the given files; panics if they are valid.
fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match check(&sources(files)) {
        Ok(set) => panic!("expected errors, got {} valid rules", set.rules.len()),
        Err(e) => e.0,
    }
}

/// The single diagnostic for one file `r.toml`.
fn only_error(text: &str) -> Diagnostic {
    let mut all = errors(&[("r.toml", text)]);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

fn assert_diag(
    d: &Diagnostic,
    file: &str,
    (line, column): (usize, usize),
    message: &str,
    snippet: &str,
    hint: &str,
) {
    assert_eq!(
        (
            d.file.to_str().unwrap(),
            d.line,
            d.column,
            d.message.as_str(),
            d.snippet.as_str(),
            d.hint.as_deref(),
        ),
        (file, line, column, message, snippet, Some(hint)),
        "{d}"
    );
}

fn rules(text: &str) -> RuleSet {
    check(&sources(&[("r.toml", text)])).unwrap_or_else(|e| panic!("invalid rules:\n{e}"))
}

fn line() -> CostLine {
    let day = sample::day(2026, 10, 1);
    let l = sample::line(day, Decimal::ONE);
    CostLine {
        charge_period_end: l.charge_period_start + chrono::Duration::hours(1),
        billing_account_id: "000000000000".into(),
        ..l
    }
}

fn tagged(pairs: &[(&str, &str)]) -> CostLine {
    CostLine {
        tags: sample::tags(pairs),
        ..line()
    }
}

fn team(name: &str) -> TeamId {
    TeamId::parse(name).unwrap()
}

/// The owner's name and the deciding rule's name, as reports show them.
fn owner(set: &RuleSet, l: &CostLine) -> (String, String) {
    match set.assign(l) {
        Assignment::Team { team, rule } => (team.to_string(), set.rules[rule].name.clone()),
        Assignment::Pool { pool, rule } => (
            format!("pool:{}", set.pools[pool].name),
            set.rules[rule].name.clone(),
        ),
        Assignment::Unallocated { rule, .. } => (
            "unallocated".to_string(),
            rule.map(|r| set.rules[r].name.clone()).unwrap_or_default(),
        ),
    }
}

// ---- check: diagnostics ----

#[test]
fn unknown_rule_field_suggests_the_closest() {
    let d = only_error("[[rule]]\nname = \"r\"\nteem = \"payments\"\n");
    assert_diag(
        &d,
        "r.toml",
        (3, 1),
        "unknown field `teem`, expected one of `name`, `description`, `team`, `team_from_tag`, `pool`, `from`, `until`, `match`",
        "teem",
        "did you mean `team`?",
    );
}

#[test]
fn unknown_match_field_suggests_the_closest() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.servce = \"Amazon EC2\"\n");
    assert_diag(
        &d,
        "r.toml",
        (4, 7),
        "unknown field `servce`, expected one of `billing_account`, `sub_account`, `provider`, `service`, `service_category`, `region`, `resource_id`, `charge_category`, `tags`",
        "servce",
        "did you mean `service`?",
    );
}

#[test]
fn unknown_field_far_from_any_points_to_the_docs() {
    let d = only_error("[bogus]\n");
    assert_diag(
        &d,
        "r.toml",
        (1, 2),
        "unknown field `bogus`, expected one of `teams`, `tag_keys`, `usage`, `groups`, `environment`, `rule`, `pool`",
        "bogus",
        "see docs/rules.md for the fields a rule file may use",
    );
}

#[test]
fn toml_syntax_error() {
    let d = only_error("[[rule]]\nname = \"r\nteam = \"a\"\n");
    assert_diag(
        &d,
        "r.toml",
        (2, 10),
        "invalid basic string, expected `\"`",
        "name = \"r",
        "the file must be valid TOML in the shape docs/rules.md describes",
    );
}

#[test]
fn matcher_of_the_wrong_type() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.region = 3\n");
    assert_diag(
        &d,
        "r.toml",
        (4, 16),
        "a string or a list of strings",
        "3",
        "the file must be valid TOML in the shape docs/rules.md describes",
    );
}

#[test]
fn rule_without_name() {
    let d = only_error("[[rule]]\nteam = \"a\"\n");
    assert_diag(
        &d,
        "r.toml",
        (1, 1),
        "missing field `name`",
        "[[rule]]",
        "every `[[rule]]` needs a `name = \"...\"` used in explanations",
    );
}

#[test]
fn rule_with_both_team_and_team_from_tag() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nteam_from_tag = \"team\"\n");
    assert_diag(
        &d,
        "r.toml",
        (4, 17),
        "rule `r` has both `team` and `team_from_tag`",
        "\"team\"",
        "keep one: `team` names a fixed team, `team_from_tag` reads it from a tag",
    );
}

#[test]
fn rule_with_neither_team_nor_team_from_tag() {
    let d = only_error("[[rule]]\nname = \"r\"\nmatch.service = \"x\"\n");
    assert_diag(
        &d,
        "r.toml",
        (2, 8),
        "rule `r` says no owner",
        "\"r\"",
        "add `team = \"...\"`, `team_from_tag = \"team\"` or `pool = \"...\"`",
    );
}

#[test]
fn invalid_team_name() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"Pay ments\"\n");
    assert_diag(
        &d,
        "r.toml",
        (3, 8),
        "`Pay ments` is not a valid team name",
        "\"Pay ments\"",
        "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
    );
}

#[test]
fn unallocated_is_reserved() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"Unallocated\"\n");
    assert_diag(
        &d,
        "r.toml",
        (3, 8),
        "`unallocated` is reserved",
        "\"Unallocated\"",
        "pick another team name",
    );
}

#[test]
fn team_not_in_known_list() {
    let text = "[teams]\nknown = [\"payments\", \"search\"]\n\n[[rule]]\nname = \"r\"\nteam = \"paymnts\"\nmatch.service = \"x\"\n";
    let d = only_error(text);
    assert_diag(
        &d,
        "r.toml",
        (6, 8),
        "team `paymnts` is not a known team",
        "\"paymnts\"",
        "did you mean `payments`? otherwise add `paymnts` to `[teams] known`",
    );
    let d = only_error(&text.replace("paymnts", "finance"));
    assert_eq!(d.hint.as_deref(), Some("add `finance` to `[teams] known`"));
}

#[test]
fn known_teams_declared_in_a_later_file_still_apply() {
    let e = errors(&[
        (
            "10-rules.toml",
            "[[rule]]\nname = \"r\"\nteam = \"finance\"\n",
        ),
        ("20-teams.toml", "[teams]\nknown = [\"payments\"]\n"),
    ]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_diag(
        &e[0],
        "10-rules.toml",
        (3, 8),
        "team `finance` is not a known team",
        "\"finance\"",
        "add `finance` to `[teams] known`",
    );
}

#[test]
fn known_team_declared_twice() {
    let d = only_error("[teams]\nknown = [\"payments\", \" Payments\"]\n");
    assert_diag(
        &d,
        "r.toml",
        (2, 22),
        "team `payments` is declared twice",
        "\" Payments\"",
        "remove the duplicate from `[teams] known`",
    );
}

#[test]
fn duplicate_rule_name() {
    let d = only_error(
        "[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.service = \"x\"\n\n[[rule]]\nname = \"r\"\nteam = \"b\"\nmatch.service = \"y\"\n",
    );
    assert_diag(
        &d,
        "r.toml",
        (7, 8),
        "rule name `r` is already used at r.toml:1",
        "\"r\"",
        "give every rule a unique name",
    );
}

#[test]
fn duplicate_rule_name_across_files() {
    let e = errors(&[
        (
            "a.toml",
            "# first\n[[rule]]\nname = \"ec2\"\nteam = \"a\"\nmatch.service = \"x\"\n",
        ),
        (
            "b.toml",
            "[[rule]]\nname = \" ec2 \"\nteam = \"b\"\nmatch.service = \"y\"\n",
        ),
    ]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_diag(
        &e[0],
        "b.toml",
        (2, 8),
        "rule name `ec2` is already used at a.toml:2",
        "\" ec2 \"",
        "give every rule a unique name",
    );
}

#[test]
fn empty_rule_name() {
    let d = only_error("[[rule]]\nname = \" \"\nteam = \"a\"\n");
    assert_diag(
        &d,
        "r.toml",
        (2, 8),
        "a rule name cannot be empty",
        "\" \"",
        "name the rule; explanations show it",
    );
}

#[test]
fn unknown_charge_category() {
    let d = only_error(
        "[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.charge_category = [\"Usage\", \"Refund\"]\n",
    );
    assert_diag(
        &d,
        "r.toml",
        (4, 25),
        "`refund` is not a FOCUS charge category",
        "[\"Usage\", \"Refund\"]",
        "use one of Usage, Purchase, Tax, Credit, Adjustment",
    );
}

#[test]
fn misspelt_charge_category_suggests_the_closest() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.charge_category = \"Taxes\"\n");
    assert_diag(
        &d,
        "r.toml",
        (4, 25),
        "`taxes` is not a FOCUS charge category",
        "\"Taxes\"",
        "did you mean `Tax`?",
    );
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.charge_category = \"usgae\"\n");
    assert_eq!(d.hint.as_deref(), Some("did you mean `Usage`?"));
    // Globs are not checked against the categories.
    rules("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.charge_category = \"*\"\n");
}

#[test]
fn alias_naming_an_unknown_team() {
    let d = only_error(
        "[teams]\nknown = [\"payments\"]\n\n[teams.aliases]\npay = \"payments\"\nsrch = \"search\"\n",
    );
    assert_diag(
        &d,
        "r.toml",
        (6, 8),
        "alias `srch` names unknown team `search`",
        "\"search\"",
        "aliases must name a team in `[teams] known`; add `search` there",
    );
}

#[test]
fn alias_declared_twice_across_files() {
    let e = errors(&[
        ("a.toml", "[teams.aliases]\nPay = \"payments\"\n"),
        ("b.toml", "[teams.aliases]\n\" pay\" = \"payments\"\n"),
    ]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_diag(
        &e[0],
        "b.toml",
        (2, 10),
        "alias `pay` is declared twice",
        "\"payments\"",
        "keep one `[teams.aliases]` entry per alias",
    );
}

#[test]
fn empty_pattern() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.service = [\"x\", \" \"]\n");
    assert_diag(
        &d,
        "r.toml",
        (4, 17),
        "matcher `service` has an empty pattern",
        "[\"x\", \" \"]",
        "write the value to match, or `*` for any value",
    );
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.region = []\n");
    assert_eq!(
        (d.line, d.column, d.message.as_str(), d.snippet.as_str()),
        (4, 16, "matcher `region` has an empty pattern", "[]")
    );
    let d = only_error("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.tags.env = \"\"\n");
    assert_eq!(
        (d.line, d.column, d.message.as_str(), d.snippet.as_str()),
        (4, 18, "matcher `env` has an empty pattern", "\"\"")
    );
}

#[test]
fn empty_team_from_tag() {
    let d = only_error("[[rule]]\nname = \"r\"\nteam_from_tag = \" \"\n");
    assert_diag(
        &d,
        "r.toml",
        (3, 17),
        "`team_from_tag` names no tag key",
        "\" \"",
        "name the tag key, e.g. \"team\"",
    );
}

#[test]
fn tag_key_problems() {
    let e = errors(&[(
        "r.toml",
        "[tag_keys]\nteam = []\nowner = [\"o\"]\ncost = [\"O \"]\n",
    )]);
    assert_eq!(e.len(), 2, "{e:#?}");
    // Reported in reading order.
    assert_diag(
        &e[0],
        "r.toml",
        (2, 8),
        "tag key `team` lists no spellings",
        "[]",
        "list the spellings that mean this key, e.g. [\"team\", \"owner_team\"]",
    );
    assert_diag(
        &e[1],
        "r.toml",
        (3, 10),
        "tag key spelling `o` already means `cost`",
        "\"o\"",
        "a spelling may belong to only one canonical key",
    );
}

#[test]
fn tag_key_that_is_also_a_spelling_of_another_key() {
    // `owner` is both a spelling of `team` and a canonical key: whichever
    // file or key order, it is reported.
    let e = errors(&[
        ("a.toml", "[tag_keys]\nteam = [\"owner\"]\n"),
        ("b.toml", "[tag_keys]\nowner = [\"owned_by\"]\n"),
    ]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_diag(
        &e[0],
        "b.toml",
        (2, 9),
        "tag key `owner` is already a spelling of `team`",
        "[\"owned_by\"]",
        "a key is either canonical or a spelling of another key, not both",
    );
    let e = errors(&[(
        "a.toml",
        "[tag_keys]\nowner = [\"x\"]\nteam = [\"owner\"]\n",
    )]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0].message,
        "tag key spelling `owner` already means `owner`"
    );
    // Listing a canonical key among its own spellings is fine.
    rules("[tag_keys]\nteam = [\"team\", \"Owner_Team\"]\n");
}

#[test]
fn catch_all_followed_by_another_rule() {
    let d = only_error(
        "[[rule]]\nname = \"everything\"\nteam = \"a\"\n\n[[rule]]\nname = \"next\"\nteam = \"b\"\nmatch.service = \"y\"\n",
    );
    assert_diag(
        &d,
        "r.toml",
        (6, 8),
        "rule `next` can never match: rule `everything` before it matches every line",
        "\"next\"",
        "move the catch-all rule last, or give it a `match`",
    );
    // A catch-all last is fine, and a `team_from_tag` rule without a match is
    // no catch-all: lines without the tag fall through.
    let set = rules(
        "[[rule]]\nname = \"tag\"\nteam_from_tag = \"team\"\n\n[[rule]]\nname = \"rest\"\nteam = \"a\"\n",
    );
    assert_eq!(set.rules.len(), 2);
}

#[test]
fn catch_all_in_an_earlier_file() {
    let e = errors(&[
        (
            "a.toml",
            "[[rule]]\nname = \"all\"\nteam = \"a\"\nmatch = {}\n",
        ),
        (
            "b.toml",
            "[[rule]]\nname = \"late\"\nteam = \"b\"\nmatch.region = \"x\"\n",
        ),
    ]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        (e[0].file.to_str(), e[0].line, e[0].column),
        (Some("b.toml"), 2, 8)
    );
}

#[test]
fn every_error_in_every_file_is_reported() {
    let e = errors(&[
        (
            "10-teams.toml",
            "[teams]\nknown = [\"payments\", \"search\"]\n\n[teams.aliases]\nsrch = \"serch\"\n",
        ),
        (
            "20-rules.toml",
            "[[rule]]\nname = \"a\"\nteam = \"payment\"\nmatch.service = \"x\"\n\n[[rule]]\nname = \"b\"\nteam = \"search\"\nmatch.charge_category = \"Refund\"\n\n[[rule]]\nname = \"a\"\nteam_from_tag = \"team\"\n",
        ),
        ("30-broken.toml", "[[rule]\nname = \"c\"\n"),
    ]);
    let got: Vec<(&str, usize, usize, &str)> = e
        .iter()
        .map(|d| {
            (
                d.file.to_str().unwrap(),
                d.line,
                d.column,
                d.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "10-teams.toml",
                5,
                8,
                "alias `srch` names unknown team `serch`"
            ),
            ("20-rules.toml", 3, 8, "team `payment` is not a known team"),
            (
                "20-rules.toml",
                9,
                25,
                "`refund` is not a FOCUS charge category"
            ),
            (
                "20-rules.toml",
                12,
                8,
                "rule name `a` is already used at 20-rules.toml:1"
            ),
            ("30-broken.toml", 1, 8, "unclosed array table, expected `]`"),
        ]
    );
    // Rendered as `allot rules check` prints them.
    let text = RuleErrors(e).to_string();
    assert!(
        text.contains(
            "\n30-broken.toml:1:8: unclosed array table, expected `]`\n    | [[rule]\n    = help: "
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\n20-rules.toml:3:8: team `payment` is not a known team\n    | \"payment\"\n    = help: did you mean `payments`? otherwise add `payment` to `[teams] known`\n"
        ),
        "{text}"
    );
}

// ---- evaluation ----

#[test]
fn first_match_wins() {
    let set = rules(
        r#"
[[rule]]
name = "ec2-in-prod"
team = "platform"
match.service = "Amazon EC2"
match.sub_account = "prod"

[[rule]]
name = "ec2"
team = "compute"
match.service = "Amazon EC2"

[[rule]]
name = "aws"
team = "finance"
match.provider = "AWS"
"#,
    );
    let mut l = line();
    l.service_name = Some("Amazon EC2".into());
    l.sub_account_id = Some("prod".into());
    assert_eq!(
        set.assign(&l),
        Assignment::Team {
            team: team("platform"),
            rule: 0
        }
    );
    l.sub_account_id = Some("dev".into());
    assert_eq!(
        set.assign(&l),
        Assignment::Team {
            team: team("compute"),
            rule: 1
        }
    );
    l.service_name = Some("Amazon S3".into());
    assert_eq!(
        set.assign(&l),
        Assignment::Team {
            team: team("finance"),
            rule: 2
        }
    );
    l.provider = "Microsoft".into();
    assert_eq!(
        set.assign(&l),
        Assignment::Unallocated {
            rule: None,
            reason: None
        }
    );
}

#[test]
fn tag_key_alias() {
    let set = rules(
        r#"
[tag_keys]
team = ["owner_team", "Owner-Team"]
env = ["environment"]

[[rule]]
name = "prod-by-tag"
team_from_tag = "Team"
match.tags.environment = "prod"
"#,
    );
    for key in ["team", " Team", "OWNER_TEAM", "owner-team"] {
        let l = tagged(&[(key, "search"), ("Env", "Prod")]);
        assert_eq!(
            set.assign(&l),
            Assignment::Team {
                team: team("search"),
                rule: 0
            },
            "{key}"
        );
    }
    assert_eq!(set.canonical_tag_key(" Owner-Team "), "team");
    assert_eq!(set.canonical_tag_key("Cost-Center"), "cost-center");
    // A spelling not declared is a different key.
    let l = tagged(&[("owning_team", "search"), ("env", "prod")]);
    assert_eq!(owner(&set, &l), ("unallocated".into(), String::new()));
}

#[test]
fn value_alias() {
    let set = rules(
        r#"
[teams]
known = ["payments", "search"]

[teams.aliases]
pay = "payments"
"Search Team" = "search"

[[rule]]
name = "team-tag"
team_from_tag = "team"
"#,
    );
    for (value, expected) in [
        ("payments", "payments"),
        (" PAY ", "payments"),
        ("search team", "search"),
        ("Search", "search"),
    ] {
        assert_eq!(
            set.assign(&tagged(&[("team", value)])),
            Assignment::Team {
                team: team(expected),
                rule: 0
            },
            "{value}"
        );
    }
    assert_eq!(set.resolve_team("team", "Pay"), Ok(team("payments")));
}

#[test]
fn unknown_team_reason() {
    let set = rules(
        r#"
[teams]
known = ["payments"]

[[rule]]
name = "team-tag"
team_from_tag = "team"

[[rule]]
name = "rest"
team = "payments"
"#,
    );
    // The tag rule matched: its verdict stands, later rules are not tried.
    let got = set.assign(&tagged(&[("team", " Billing ")]));
    assert_eq!(
        got,
        Assignment::Unallocated {
            rule: Some(0),
            reason: Some(Unassignable::UnknownTeam {
                tag: "team".into(),
                value: "Billing".into()
            })
        }
    );
    let Assignment::Unallocated {
        reason: Some(reason),
        ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!(
        reason.to_string(),
        "tag `team` names unknown team `Billing`: add it to `[teams] known` or as an alias in `[teams.aliases]`"
    );
    let got = set.assign(&tagged(&[("team", "the payments team")]));
    assert_eq!(
        got,
        Assignment::Unallocated {
            rule: Some(0),
            reason: Some(Unassignable::InvalidTeam {
                tag: "team".into(),
                value: "the payments team".into()
            })
        }
    );
    assert_eq!(
        set.assign(&tagged(&[("team", "unallocated")])),
        Assignment::Unallocated {
            rule: Some(0),
            reason: Some(Unassignable::InvalidTeam {
                tag: "team".into(),
                value: "unallocated".into()
            })
        }
    );
    // Without the tag, or with an empty value, the tag rule does not match.
    for l in [line(), tagged(&[("team", "  ")])] {
        assert_eq!(
            set.assign(&l),
            Assignment::Team {
                team: team("payments"),
                rule: 1
            }
        );
    }
}

#[test]
fn without_known_teams_any_valid_tag_value_is_a_team() {
    let set = rules("[[rule]]\nname = \"t\"\nteam_from_tag = \"team\"\n");
    assert_eq!(
        set.assign(&tagged(&[("team", "Anything-Goes")])),
        Assignment::Team {
            team: team("anything-goes"),
            rule: 0
        }
    );
    assert!(set.known_teams().is_none());
}

#[test]
fn glob_matching_on_resource_id() {
    let set = rules(
        r#"
[[rule]]
name = "search-clusters"
team = "search"
match.resource_id = ["arn:aws:eks:*:cluster/search-*", "*/SEARCH-INDEX"]
"#,
    );
    let mut l = line();
    for (id, matches) in [
        (
            "arn:aws:eks:us-east-1:123456789012:cluster/search-blue",
            true,
        ),
        ("ARN:AWS:EKS:eu-west-1:1:cluster/Search-", true),
        ("arn:aws:eks:us-east-1:1:cluster/checkout", false),
        ("arn:aws:s3:::bucket/search-index", true),
        ("arn:aws:s3:::bucket/search-index-old", false),
    ] {
        l.resource_id = Some(id.into());
        assert_eq!(
            matches!(set.assign(&l), Assignment::Team { .. }),
            matches,
            "{id}"
        );
    }
    // A line without a resource id does not match, not even `*`.
    let any = rules("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.resource_id = \"*\"\n");
    l.resource_id = None;
    assert_eq!(owner(&any, &l).0, "unallocated");
    l.resource_id = Some("x".into());
    assert_eq!(owner(&any, &l).0, "a");
}

#[test]
fn sub_account_matches_by_name_and_id() {
    let set = rules(
        r#"
[[rule]]
name = "data"
team = "data"
match.sub_account = ["data-prod", "111122223333"]
"#,
    );
    let mut l = line();
    l.sub_account_id = Some("999999999999".into());
    l.sub_account_name = Some("Data-Prod".into());
    assert_eq!(owner(&set, &l), ("data".into(), "data".into()));
    l.sub_account_id = Some("111122223333".into());
    l.sub_account_name = Some("something else".into());
    assert_eq!(owner(&set, &l), ("data".into(), "data".into()));
    l.sub_account_id = Some("444455556666".into());
    assert_eq!(owner(&set, &l), ("unallocated".into(), String::new()));
    l.sub_account_id = None;
    l.sub_account_name = Some(" DATA-PROD ".into());
    assert_eq!(owner(&set, &l), ("data".into(), "data".into()));
}

#[test]
fn billing_account_matches_by_name_and_id() {
    let set =
        rules("[[rule]]\nname = \"r\"\nteam = \"a\"\nmatch.billing_account = \"*sandbox*\"\n");
    let mut l = line();
    assert_eq!(owner(&set, &l).0, "unallocated");
    l.billing_account_name = Some("Contoso Sandbox".into());
    assert_eq!(owner(&set, &l).0, "a");
    l.billing_account_name = None;
    l.billing_account_id = "sandbox-01".into();
    assert_eq!(owner(&set, &l).0, "a");
}

#[test]
fn all_matchers_of_a_rule_must_match() {
    let set = rules(
        r#"
[[rule]]
name = "eu-prod-tax"
team = "finance"
match.region = ["eu-*"]
match.charge_category = ["tax", "Credit"]
match.tags.env = "prod*"
"#,
    );
    let mut l = tagged(&[("ENV", "Production")]);
    l.region = Some("eu-west-1".into());
    l.charge_category = ChargeCategory::Tax;
    assert_eq!(owner(&set, &l).0, "finance");
    l.charge_category = ChargeCategory::Credit;
    assert_eq!(owner(&set, &l).0, "finance");
    l.charge_category = ChargeCategory::Usage;
    assert_eq!(owner(&set, &l).0, "unallocated");
    l.charge_category = ChargeCategory::Tax;
    l.region = Some("us-east-1".into());
    assert_eq!(owner(&set, &l).0, "unallocated");
    l.region = Some("eu-west-1".into());
    l.tags = Tags::default();
    assert_eq!(owner(&set, &l).0, "unallocated");
}

#[test]
fn declared_teams_include_known_and_fixed_targets() {
    let set = rules(
        "[teams]\nknown = [\"b\", \"a\"]\n\n[[rule]]\nname = \"r\"\nteam = \"A\"\nmatch.service = \"x\"\n",
    );
    let names: Vec<String> = set.declared_teams().iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_mistake_in_one_rule_does_not_hide_the_mistakes_in_others() {
    let e = errors(&[(
        "r.toml",
        "[[rule]]\nname = \"one\"\nteem = \"payments\"\n\n[[rule]]\nname = \"two\"\nteam = \"ok\"\nmatch.servce = \"EC2\"\n\n[[rule]]\nname = \"three\"\nteam = \"Bad Team\"\n\n[bogus]\nx = 1\n",
    )]);
    let at: Vec<(usize, usize)> = e.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(at, vec![(3, 1), (8, 7), (12, 8), (14, 2)], "{e:#?}");
    assert!(e[1].message.starts_with("unknown field `servce`"));
    assert!(e[3].message.starts_with("unknown field `bogus`"));
}

/// Issue 9 (invoice view): a late charge on next month's invoice is given
/// an owner by the rules of the invoice's month, so it does not land in a
/// pool that month no longer has.
#[test]
fn a_line_is_assigned_by_the_rules_of_the_month_it_is_reported_in() {
    let set = rules(
        r#"
[[pool]]
name = "platform-even"
method = "even"
targets = ["payments", "search"]
until = "2026-09"

[[pool]]
name = "platform-by-cost"
method = "even"
targets = ["payments"]
from = "2026-10"

[[rule]]
name = "platform-until-september"
pool = "platform-even"
match.service = "Shared Platform"
until = "2026-09"

[[rule]]
name = "platform-from-october"
pool = "platform-by-cost"
match.service = "Shared Platform"
from = "2026-10"
"#,
    );
    let mut late = line();
    late.service_name = Some("Shared Platform".into());
    late.charge_period_start = Utc.with_ymd_and_hms(2026, 9, 30, 0, 0, 0).unwrap();
    late.charge_period_end = late.charge_period_start + chrono::Duration::hours(1);
    let name = |a: Assignment| match a {
        Assignment::Pool { pool, .. } => set.pools[pool].name.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        name(set.assign(&late)),
        "platform-even",
        "its charge month's rules"
    );
    let october = Month::parse("2026-10").unwrap();
    assert_eq!(
        name(set.assign_in(&late, october)),
        "platform-by-cost",
        "the invoice month's"
    );
}

#[test]
fn groups_hold_teams_and_nested_groups() {
    let set = rules(
        r#"
[teams]
known = ["web", "api", "mobile", "data"]

[groups]
platform = ["web", "api"]
digital = ["mobile", "group:platform"]
analytics = ["data", "web"]

[[rule]]
name = "all"
team = "web"
"#,
    );
    let g = |name: &str| {
        set.groups()
            .teams(&crate::domain::ScopeName::parse(name).unwrap())
            .map(|teams| teams.iter().map(TeamId::as_str).collect::<Vec<_>>())
    };
    assert_eq!(g("platform"), Some(vec!["api", "web"]));
    assert_eq!(g("digital"), Some(vec!["api", "mobile", "web"]));
    // A team may belong to several groups.
    assert_eq!(g("analytics"), Some(vec!["data", "web"]));
    assert_eq!(g("nope"), None);
}

#[test]
fn a_group_that_contains_itself_is_named_with_its_cycle() {
    let d = only_error(
        r#"[groups]
a = ["web", "group:b"]
b = ["group:a"]
"#,
    );
    assert_eq!(d.message, "group `a` contains itself: a -> b -> a");
    assert_eq!(d.line, 2);
}

#[test]
fn a_group_member_must_be_a_known_team_or_a_declared_group() {
    let all = errors(&[(
        "r.toml",
        r#"[teams]
known = ["web", "api"]

[groups]
platform = ["web", "apj", "group:platfrom"]
"#,
    )]);
    let messages: Vec<_> = all
        .iter()
        .map(|d| (d.message.as_str(), d.hint.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "team `apj` is not a known team",
                "did you mean `api`? otherwise add `apj` to `[teams] known`"
            ),
            ("unknown group `platfrom`", "did you mean `group:platform`?"),
        ]
    );
}

#[test]
fn a_lines_environment_comes_from_its_tag_after_spellings_and_aliases() {
    let set = rules(
        r#"
[tag_keys]
environment = ["env", "Environment"]

[environment]
tag = "environment"
aliases = { prod = "production", prd = "production", stg = "staging" }

[[rule]]
name = "all"
team = "web"
"#,
    );
    let env = |pairs: &[(&str, &str)]| set.environment_of(&tagged(pairs)).to_string();
    assert_eq!(env(&[("env", "PROD")]), "production");
    assert_eq!(env(&[("Environment", "prd")]), "production");
    assert_eq!(env(&[("environment", "staging")]), "staging");
    assert_eq!(env(&[("environment", "qa")]), "qa");
    assert_eq!(env(&[("environment", "not a name!")]), "unspecified");
    assert_eq!(env(&[("team", "web")]), "unspecified");
    // Without `[environment]`, every line is unspecified.
    let plain = rules("[[rule]]\nname = \"all\"\nteam = \"web\"\n");
    assert_eq!(
        plain
            .environment_of(&tagged(&[("environment", "prod")]))
            .as_str(),
        "unspecified"
    );
}

#[test]
fn environment_is_declared_once() {
    let all = errors(&[
        ("a.toml", "[environment]\ntag = \"env\"\n"),
        ("b.toml", "[environment]\ntag = \"stage\"\n"),
    ]);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].message, "`[environment]` is declared twice");
    assert_eq!(all[0].file.to_str(), Some("b.toml"));
}

#[test]
fn the_digest_names_the_files_not_where_they_are_checked_out() {
    let text = "[[rule]]\nname = \"all\"\nmatch = { service = \"*\" }\nteam = \"web\"\n";
    let digest = |files: &[(&str, &str)]| {
        check(&sources(files))
            .unwrap_or_else(|e| panic!("invalid rules:\n{e}"))
            .digest()
            .to_string()
    };
    let here = digest(&[("r.toml", text)]);
    assert_eq!(here.len(), 64, "{here}");
    assert!(here.bytes().all(|b| b.is_ascii_hexdigit()), "{here}");
    // The directory does not count; the name, order-free, and text do.
    assert_eq!(digest(&[("/srv/rules/r.toml", text)]), here);
    assert_ne!(digest(&[("s.toml", text)]), here);
    assert_ne!(digest(&[("r.toml", &format!("{text}\n"))]), here);
    let two = digest(&[("a.toml", "[teams]\nknown = [\"web\"]\n"), ("r.toml", text)]);
    assert_eq!(
        digest(&[("r.toml", text), ("a.toml", "[teams]\nknown = [\"web\"]\n")]),
        two
    );
    assert_ne!(two, here);
}

/// Proptest-driven fuzzing of the rule-file parser and checker: arbitrary
/// text and mutated copies of the shipped rules are either a rule set or
/// diagnostics whose positions lie in the file; never a panic.
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// The shipped rule files, as (name, text).
    fn shipped() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../allocation-rules");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the shipped rules")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| {
                let name = p
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read_to_string(&p).expect("readable"))
            })
            .collect();
        files.sort();
        files
    }

    /// A piece of TOML (or not) a hostile edit might insert.
    fn hostile_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,16}",
            "[\\[\\]{}=\"'#.,\\n ]{1,8}",
            Just("\n[[rule]]\nname = \"x\"\n".to_string()),
            Just("\n[[pool]]\nname = \"p\"\nsplit = \"usage\"\n".to_string()),
            Just("match.tags.team = \"*\"\n".to_string()),
            Just("active = { from = \"0000-01-01\" }\n".to_string()),
            "[a-z_.]{1,12} = (\"[^\"\\n]{0,12}\"|[0-9]{1,30}|\\[\\])\n",
            (1usize..20_000).prop_map(|n| "a".repeat(n)),
        ]
    }

    /// Every diagnostic points into its file's text.
    fn positions_hold(
        files: &[(String, String)],
        result: &Result<RuleSet, RuleErrors>,
    ) -> Result<(), TestCaseError> {
        if let Err(errors) = result {
            prop_assert!(!errors.0.is_empty(), "an error without a diagnostic");
            for d in &errors.0 {
                let text = files
                    .iter()
                    .find(|(n, _)| std::path::Path::new(n) == d.file)
                    .map(|(_, t)| t.as_str());
                let lines = text.map_or(1, |t| t.lines().count().max(1) + 1);
                prop_assert!(
                    d.line >= 1 && d.line <= lines,
                    "line {} of {lines}: {d}",
                    d.line
                );
                prop_assert!(d.column >= 1, "column {}: {d}", d.column);
            }
        }
        Ok(())
    }

    fn checked(files: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(n, t)| (PathBuf::from(n), t.clone()))
            .collect();
        check(&sources)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(sample::fuzz_cases(256)))]

        #[test]
        fn any_text_is_checked_without_a_panic(text in ".{0,600}") {
            let files = vec![("r.toml".to_string(), text)];
            positions_hold(&files, &checked(&files))?;
        }

        #[test]
        fn mutated_shipped_rules_are_checked_without_a_panic(
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0usize..40, hostile_piece()),
                1..6,
            ),
        ) {
            let mut files = shipped();
            for (file, at, delete, piece) in &edits {
                let which = file.index(files.len());
                let (_, text) = &mut files[which];
                let mut start = at.index(text.len() + 1);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + delete).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(start..end, piece);
            }
            positions_hold(&files, &checked(&files))?;
        }
    }
}
