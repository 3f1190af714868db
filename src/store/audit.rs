//! The audit log: appended to, read, never changed. There is deliberately
//! no method here that updates or deletes an entry.

use chrono::{DateTime, Utc};

use super::{Result, Store};

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: a token's label, `operator` (the CLI) or `scheduler`.
    pub actor: String,
    /// Their role (`admin`...), or `operator`.
    pub role: String,
    /// The client's address, or `local`.
    pub client: String,
    /// What: `token.create`, `usage.record`, `source.run`...
    pub action: String,
    /// On what: a token id, a source, a month, an anomaly.
    pub target: String,
    /// The figures of it, as JSON text.
    pub details: String,
}

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub limit: u32,
}

impl Store {
    /// Appends `entry` (its `id` is given by the store).
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, role, client, action, target, details) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.role)
            .bind(&entry.client)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(&entry.details)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The entries `filter` selects, newest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, actor, role, client, action, target, details FROM audit_log WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.from.is_some() {
            sql.push_str(&format!(" AND at >= ${}", next()));
        }
        if filter.to.is_some() {
            sql.push_str(&format!(" AND at < ${}", next()));
        }
        if filter.action.is_some() {
            sql.push_str(&format!(" AND action = ${}", next()));
        }
        if filter.actor.is_some() {
            sql.push_str(&format!(" AND actor = ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        with_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, AuditEntry>(sqlx::AssertSqlSafe(sql));
            if let Some(from) = filter.from {
                q = q.bind(from);
            }
            if let Some(to) = filter.to {
                q = q.bind(to);
            }
            if let Some(action) = &filter.action {
                q = q.bind(action.clone());
            }
            if let Some(actor) = &filter.actor {
                q = q.bind(actor.clone());
            }
            Ok(q.bind(i64::from(filter.limit)).fetch_all(pool).await?)
        })
    }
}
