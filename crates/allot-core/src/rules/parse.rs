//! Rule files to ASTs: each `[[rule]]`, `[[pool]]` and table is parsed on
//! its own, so one mistake does not hide the next; TOML errors and unknown
//! fields become diagnostics with a `file:line:col` and a hint.

use std::path::Path;

use toml::Spanned;

use super::diagnostic::closest;
use super::{Diagnostic, ast};

pub(super) const MATCH_FIELDS: [&str; 9] = [
    "billing_account",
    "sub_account",
    "provider",
    "service",
    "service_category",
    "region",
    "resource_id",
    "charge_category",
    "tags",
];

pub(super) const RULE_FIELDS: [&str; 8] = [
    "name",
    "description",
    "team",
    "team_from_tag",
    "pool",
    "from",
    "until",
    "match",
];

pub(super) const POOL_FIELDS: [&str; 7] = [
    "method", "targets", "shares", "filter", "metric", "fallback", "metrics",
];

pub(super) const TOP_FIELDS: [&str; 7] = [
    "teams",
    "tag_keys",
    "usage",
    "groups",
    "environment",
    "rule",
    "pool",
];

/// Parses one file entry by entry, so that a mistake in one rule or pool
/// does not hide the mistakes in the others: every entry that parses is
/// kept, every one that does not is reported.
pub(super) fn parse_file(path: &Path, text: &str) -> (ast::FileAst, Vec<Diagnostic>) {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use toml::de::DeValue;

    let mut file = ast::FileAst::default();
    let mut errors = Vec::new();
    let table = match toml::de::DeTable::parse(text) {
        Ok(table) => table,
        Err(e) => return (file, vec![parse_error(path, text, &e)]),
    };
    pub(super) fn each<'de, T: Deserialize<'de>>(
        value: Spanned<DeValue<'de>>,
        out: &mut Vec<Spanned<T>>,
        errors: &mut Vec<toml::de::Error>,
    ) {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                for item in items {
                    match Spanned::<T>::deserialize(item.into_deserializer()) {
                        Ok(v) => out.push(v),
                        Err(e) => errors.push(e),
                    }
                }
            }
            other => {
                if let Err(e) =
                    Vec::<Spanned<T>>::deserialize(Spanned::new(span, other).into_deserializer())
                {
                    errors.push(e);
                }
            }
        }
    }
    let mut problems: Vec<toml::de::Error> = Vec::new();
    for (key, value) in table.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "rule" => each(value, &mut file.rule, &mut problems),
            "pool" => each(value, &mut file.pool, &mut problems),
            "teams" => match ast::TeamsAst::deserialize(value.into_deserializer()) {
                Ok(v) => file.teams = Some(v),
                Err(e) => problems.push(e),
            },
            "tag_keys" => match Deserialize::deserialize(value.into_deserializer()) {
                Ok(v) => file.tag_keys = Some(v),
                Err(e) => problems.push(e),
            },
            "usage" => match ast::UsageAst::deserialize(value.into_deserializer()) {
                Ok(v) => file.usage = Some(v),
                Err(e) => problems.push(e),
            },
            "groups" => match Deserialize::deserialize(value.into_deserializer()) {
                Ok(v) => file.groups = Some(v),
                Err(e) => problems.push(e),
            },
            "environment" => match ast::EnvironmentAst::deserialize(value.into_deserializer()) {
                Ok(v) => file.environment = Some(v),
                Err(e) => problems.push(e),
            },
            other => {
                let fields = TOP_FIELDS.map(|f| format!("`{f}`")).join(", ");
                let message = format!("unknown field `{other}`, expected one of {fields}");
                // Among the top-level tables only: `[team]` means `[teams]`.
                let hint = match closest(other, TOP_FIELDS.iter().copied()) {
                    Some(s) => format!("did you mean `[{s}]`?"),
                    None => unknown_field_hint(other),
                };
                errors.push(Diagnostic::at(
                    path,
                    text,
                    Some(key_span),
                    message,
                    Some(hint),
                ));
            }
        }
    }
    errors.extend(problems.iter().map(|e| parse_error(path, text, e)));
    // Source order, as a reader goes through the file.
    errors.sort_by_key(|d| (d.line, d.column));
    (file, errors)
}

/// "did you mean" for a misspelt field name.
pub(super) fn unknown_field_hint(field: &str) -> String {
    let all = MATCH_FIELDS
        .iter()
        .chain(&RULE_FIELDS)
        .chain(&TOP_FIELDS)
        .chain(&POOL_FIELDS)
        .chain(&["known", "aliases", "tag"])
        .copied();
    match closest(field, all.filter(|c| *c != field)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "see docs/rules.md for the fields a rule file may use".to_string(),
    }
}

pub(super) fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let hint = if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        // Suggest among the fields allowed where it stands (the parser
        // lists them), not a field of some other table.
        let expected: Vec<&str> = message
            .split_once("expected")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        Some(
            match closest(field, expected.iter().copied().filter(|c| *c != field)) {
                Some(s) if !expected.is_empty() => format!("did you mean `{s}`?"),
                _ => unknown_field_hint(field),
            },
        )
    } else if message.contains("missing field `name`") {
        Some("every `[[rule]]` needs a `name = \"...\"` used in explanations".to_string())
    } else {
        Some("the file must be valid TOML in the shape docs/rules.md describes".to_string())
    };
    Diagnostic::at(path, text, e.span(), message, hint)
}
