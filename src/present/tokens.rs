//! API tokens as `allot token list` prints them: never their secrets.

use chrono::{DateTime, Utc};

use crate::store::StoredToken;

/// Whether a token is usable at `now`: `active`, `revoked` or `expired`.
pub fn token_status(t: &StoredToken, now: DateTime<Utc>) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The tokens as a table.
pub fn token_table(tokens: &[StoredToken], now: DateTime<Utc>) -> String {
    if tokens.is_empty() {
        return "no tokens: create one with `allot token create --role ROLE`\n".to_string();
    }
    let day = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.date_naive().to_string());
    let rows: Vec<Vec<String>> = std::iter::once(
        ["id", "role", "status", "created", "expires", "name"]
            .map(String::from)
            .to_vec(),
    )
    .chain(tokens.iter().map(|t| {
        vec![
            t.id.clone(),
            t.role.clone(),
            token_status(t, now).to_string(),
            t.created_at.date_naive().to_string(),
            day(t.expires_at),
            t.name.clone(),
        ]
    }))
    .collect();
    super::table(&rows, 6)
}
