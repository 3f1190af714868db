//! The audit log: what was done, by whom, when and from where. Use cases
//! that change data or reveal rule candidates record themselves here after
//! they succeed; admins read it. A failure to record is logged as an error
//! and does not undo what was done.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Action, Caller, ServiceError};
use crate::store::{AuditEntry, AuditFilter, Store};

/// The most entries one read returns.
pub const MAX_ENTRIES: u32 = 10_000;

/// Records that `caller` did `action` on `target`, with `details`.
pub async fn record(store: &Store, caller: &Caller, action: &str, target: &str, details: Value) {
    record_as(store, caller.label(), caller, action, target, details).await;
}

/// [`record`] with the actor named `actor` (the scheduler for its runs).
pub async fn record_as(
    store: &Store,
    actor: &str,
    caller: &Caller,
    action: &str,
    target: &str,
    details: Value,
) {
    let (role, client) = match caller {
        Caller::Operator => ("operator".to_string(), operator_client()),
        Caller::Identity(i) => (i.role.to_string(), i.client.clone()),
    };
    let entry = AuditEntry {
        id: 0,
        at: Utc::now(),
        actor: actor.to_string(),
        role,
        client,
        action: action.to_string(),
        target: target.to_string(),
        details: details.to_string(),
    };
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(error = %e, action, target, actor, "cannot record an audit entry");
    }
}

/// Where an operator's entries come from: `local`, with the account that
/// ran the command (`$USER`, or `$LOGNAME`) when it names one.
fn operator_client() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    match user {
        Ok(user)
            if !user.is_empty()
                && user.len() <= 64
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@$".contains(c)) =>
        {
            format!("local ({user})")
        }
        _ => "local".to_string(),
    }
}

/// The entries in `from..to` (optionally of one action or actor), newest
/// first, at most `limit`.
pub async fn list(
    store: &Store,
    caller: &Caller,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    action: Option<String>,
    actor: Option<String>,
    limit: u32,
) -> Result<Vec<AuditEntry>, ServiceError> {
    caller.authorize(Action::ReadAudit)?;
    let filter = AuditFilter {
        from,
        to,
        action,
        actor,
        limit: limit.clamp(1, MAX_ENTRIES),
    };
    Ok(store.audit(&filter).await?)
}
