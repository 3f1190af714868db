//! Shared-cost pools end to end through the pure engine and the showback
//! rounding: fallbacks, explanations and the errors of pool rules. The
//! split figures themselves are golden cases (`fixtures/golden/pools/`).

use std::path::PathBuf;

use allot::domain::StoredLine;
use allot::domain::money::format_fixed;
use allot::domain::sample;
use allot::domain::{CostBasis, CostLine, Currency, Month, TeamId};
use allot::engine::allocate;
use allot::rules::check;
use rust_decimal::Decimal;

fn line(team: Option<&str>, service: &str, amount: &str) -> StoredLine {
    let tags = team
        .map(|t| sample::tags(&[("team", t)]))
        .unwrap_or_default();
    sample::stored(
        CostLine {
            service_name: Some(service.into()),
            tags,
            ..sample::line(sample::day(2026, 10, 5), sample::amount(amount))
        },
        1,
    )
}

/// engineering $6,000, marketing $3,000, finops $1,000 direct; a $1,000.00 shared line.
fn month_lines() -> Vec<StoredLine> {
    vec![
        line(Some("engineering"), "Amazon EC2", "6000"),
        line(Some("marketing"), "Amazon EC2", "3000"),
        line(Some("finops"), "Amazon EC2", "1000"),
        line(None, "Shared Platform", "1000.00"),
    ]
}

fn money(d: Decimal) -> String {
    format_fixed(d, 2)
}

#[test]
fn all_zero_weights_fall_back_to_an_even_split_with_a_diagnostic() {
    let lines = vec![line(None, "Shared Platform", "90.00")];
    let rules = "[teams]\nknown = [\"a\", \"b\", \"c\"]\n[usage]\nmetrics = [\"requests\"]\n[[pool]]\nname = \"shared\"\nmethod = \"usage\"\nmetric = \"requests\"\ntargets = [\"a\", \"b\", \"c\"]\n[[rule]]\nname = \"shared\"\npool = \"shared\"\n";
    let rules = check(&[(PathBuf::from("r.toml"), rules.to_string())]).unwrap();
    let month = Month::parse("2026-10").unwrap();
    let a = allocate(month, &lines, &rules, CostBasis::Effective, &[]).unwrap();
    assert_eq!(
        a.diagnostics,
        vec!["pool `shared`: every usage weight is zero in USD; split evenly among its targets"]
    );
    let amounts: Vec<Decimal> = a.shares.iter().map(|s| s.amount).collect();
    assert_eq!(amounts, vec![Decimal::from(30); 3]);
}

/// The single error a rule text gets, as `rules check` prints it.
fn error_of(text: &str) -> String {
    let errors =
        check(&[(PathBuf::from("p.toml"), text.to_string())]).expect_err("the rules are invalid");
    assert_eq!(errors.0.len(), 1, "{errors}");
    errors.0[0].to_string()
}

#[test]
fn unknown_method_is_named_with_a_suggestion() {
    assert_eq!(
        error_of("[[pool]]\nname = \"shared\"\nmethod = \"evn\"\ntargets = \"all\"\n"),
        "p.toml:3:10: unknown split method `evn`\n    | \"evn\"\n    = help: did you mean `even`? methods are even, fixed, proportional, usage"
    );
}

#[test]
fn percentages_must_sum_to_100() {
    assert_eq!(
        error_of(
            "[teams]\nknown = [\"a\", \"b\"]\n[[pool]]\nname = \"shared\"\nmethod = \"fixed\"\nshares = { a = 50, b = \"40.5\" }\n"
        ),
        "p.toml:6:10: the shares of pool `shared` sum to 90.5, not 100\n    | { a = 50, b = \"40.5\" }\n    = help: adjust the percentages so that they add up to exactly 100"
    );
}

#[test]
fn a_cycle_is_named() {
    let text = "[[pool]]\nname = \"one\"\nmethod = \"even\"\ntargets = [\"two\", \"a\"]\n\n[[pool]]\nname = \"two\"\nmethod = \"fixed\"\nshares = { one = 100 }\n";
    assert_eq!(
        error_of(text),
        "p.toml:2:8: pools feed each other in a cycle: one -> two -> one\n    | \"one\"\n    = help: a pool's cost must end with teams: remove one of these targets"
    );
}

#[test]
fn an_unknown_metric_is_named() {
    assert_eq!(
        error_of(
            "[usage]\nmetrics = [\"cpu_core_hours\"]\n[[pool]]\nname = \"shared\"\nmethod = \"usage\"\nmetric = \"cpu_core_hour\"\ntargets = \"all\"\n"
        ),
        "p.toml:6:10: unknown metric `cpu_core_hour`\n    | \"cpu_core_hour\"\n    = help: did you mean `cpu_core_hours`? otherwise declare it in `[usage] metrics`"
    );
}

#[test]
fn a_pool_needs_targets() {
    assert_eq!(
        error_of("[[pool]]\nname = \"shared\"\nmethod = \"even\"\n"),
        "p.toml:2:8: pool `shared` has no targets\n    | \"shared\"\n    = help: add `targets = \"all\"` or a list of teams and pools"
    );
}

#[test]
fn a_rule_naming_an_undeclared_pool_is_an_error() {
    assert_eq!(
        error_of(
            "[[pool]]\nname = \"shared\"\nmethod = \"even\"\ntargets = \"all\"\n[[rule]]\nname = \"r\"\npool = \"sahred\"\n"
        ),
        "p.toml:7:8: unknown pool `sahred`\n    | \"sahred\"\n    = help: did you mean `shared`? otherwise declare it with `[[pool]]`"
    );
}

#[test]
fn an_explanation_lists_direct_cost_by_rule_and_each_pool_share_with_its_weights() {
    let rules = "[teams]\nknown = [\"engineering\", \"marketing\", \"finops\"]\n[[pool]]\nname = \"shared\"\nmethod = \"proportional\"\ntargets = [\"engineering\", \"marketing\", \"finops\"]\n[[rule]]\nname = \"tag\"\nteam_from_tag = \"team\"\n[[rule]]\nname = \"shared\"\npool = \"shared\"\nmatch.service = \"Shared Platform\"\n";
    let rules = check(&[(PathBuf::from("r.toml"), rules.to_string())]).unwrap();
    let month = Month::parse("2026-10").unwrap();
    let a = allocate(month, &month_lines(), &rules, CostBasis::Effective, &[]).unwrap();
    let owner = allot::domain::Owner::Team(TeamId::parse("engineering").unwrap());
    let e = allot::engine::explain(month, CostBasis::Effective, &owner, &a.rows, &a.shares);
    let items: Vec<String> = e
        .items
        .iter()
        .map(|i| match &i.source {
            allot::engine::explain::Source::Direct { rule, lines } => {
                format!("direct {rule} {lines} {}", money(i.amount))
            }
            allot::engine::explain::Source::Pool {
                pool,
                method,
                weight,
                total_weight,
                ..
            } => {
                format!(
                    "pool {pool} {method} {weight}/{total_weight} {}",
                    money(i.amount)
                )
            }
        })
        .collect();
    assert_eq!(
        items,
        vec![
            "direct tag 1 6000.00",
            "pool shared proportional 6000/10000 600.00"
        ]
    );
    assert_eq!(money(e.totals[&Currency::parse("USD").unwrap()]), "6600.00");
}

#[test]
fn fixed_shares_must_name_exactly_the_targets_and_a_fallback_is_no_pool() {
    assert_eq!(
        error_of(
            "[[pool]]\nname = \"shared\"\nmethod = \"fixed\"\ntargets = [\"a\", \"b\"]\nshares = { a = 50, b = 30, c = 20 }\n"
        ),
        "p.toml:5:10: the shares of fixed pool `shared` do not name exactly its targets\n    | { a = 50, b = 30, c = 20 }\n    = help: give every target a share, and a share only to targets (or leave `targets` out)"
    );
    assert_eq!(
        error_of(
            "[[pool]]\nname = \"one\"\nmethod = \"even\"\ntargets = [\"a\"]\nfallback = \"two\"\n[[pool]]\nname = \"two\"\nmethod = \"even\"\ntargets = [\"b\"]\n"
        ),
        "p.toml:5:12: fallback `two` is a pool\n    | \"two\"\n    = help: a fallback is `even`, `unallocated` or a team"
    );
}

#[test]
fn a_dated_catch_all_does_not_hide_the_rules_after_it() {
    let text = "[[rule]]\nname = \"old\"\nteam = \"a\"\nuntil = \"2026-09\"\n[[rule]]\nname = \"new\"\nteam = \"b\"\nfrom = \"2026-10\"\n";
    let rules =
        check(&[(PathBuf::from("r.toml"), text.to_string())]).unwrap_or_else(|e| panic!("{e}"));
    let lines = vec![line(None, "x", "10")];
    let a = allocate(
        Month::parse("2026-10").unwrap(),
        &lines,
        &rules,
        CostBasis::Effective,
        &[],
    )
    .unwrap();
    assert_eq!(
        a.rows[0].owner.name(),
        "b",
        "effective dating picks the rule in effect"
    );
}
