//! The audit log as the API and the CSV give it.

use super::report::Report;
use super::{Cell, body, csv_rows, timestamp};
use crate::store::AuditEntry;

/// Entries of the audit log, newest first.
pub struct AuditLog(pub Vec<AuditEntry>);

const HEADER: [&str; 8] = [
    "id", "at", "actor", "role", "client", "action", "target", "details",
];

#[derive(serde::Serialize)]
struct Row<'a> {
    id: i64,
    at: String,
    actor: Cell<'a>,
    role: Cell<'a>,
    client: Cell<'a>,
    action: &'a str,
    target: Cell<'a>,
    details: Cell<'a>,
}

impl Report for AuditLog {
    type Body = body::AuditLog;

    fn json(&self) -> body::AuditLog {
        body::AuditLog {
            entries: self
                .0
                .iter()
                .map(|e| body::AuditEntry {
                    id: e.id,
                    at: timestamp(e.at),
                    actor: e.actor.clone(),
                    role: e.role.clone(),
                    client: e.client.clone(),
                    action: e.action.clone(),
                    target: e.target.clone(),
                    details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
        }
    }

    fn csv(&self) -> String {
        csv_rows(
            &HEADER,
            self.0.iter().map(|e| Row {
                id: e.id,
                at: timestamp(e.at),
                actor: Cell(&e.actor),
                role: Cell(&e.role),
                client: Cell(&e.client),
                action: &e.action,
                target: Cell(&e.target),
                details: Cell(&e.details),
            }),
        )
    }

    fn table(&self) -> String {
        let rows: Vec<Vec<String>> = std::iter::once(HEADER.map(String::from).to_vec())
            .chain(self.0.iter().map(|e| {
                vec![
                    e.id.to_string(),
                    timestamp(e.at),
                    e.actor.clone(),
                    e.role.clone(),
                    e.client.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.details.clone(),
                ]
            }))
            .collect();
        super::table(&rows, 8)
    }

    fn filename(&self) -> String {
        "audit.csv".to_string()
    }
}
