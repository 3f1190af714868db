//! Who may do what: the [`Caller`] of a use case, its [`Role`], and the
//! one place access is decided. Every use case a client can reach takes a
//! caller and asks [`Caller::authorize`] for its [`Action`] first; reads
//! then narrow what they return to [`Caller::sees_team`]: a team identity
//! sees only its team, a group identity the teams of its group. Data the
//! caller may not see is answered as if it did not exist (a 404 at the
//! API), so names of other teams do not leak; lists are filtered.

use std::collections::BTreeSet;
use std::fmt;

use super::ServiceError;
use crate::domain::{Owner, ScopeName, TeamId};

/// Who asks for a use case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Whoever runs the process: the CLI, the scheduler. May do anything.
    Operator,
    /// An authenticated client of the HTTP API.
    Identity(Identity),
}

/// An authenticated client: a label for logs and the audit trail, a role,
/// and for a group role the teams of the group when it was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `token:ID (NAME)` or the subject of a single sign-on token.
    pub label: String,
    pub role: Role,
    /// A `Group` role's teams (from the rules' `[groups]`); empty otherwise.
    pub teams: BTreeSet<TeamId>,
    /// Where the request came from (the client's address), for the audit log.
    pub client: String,
}

/// What an identity may do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything: imports, previews, writes, tokens.
    Admin,
    /// Read everything.
    Finance,
    /// Read the teams of a group (a director).
    Group(ScopeName),
    /// Read one team.
    Team(TeamId),
    /// Read the server's telemetry (`GET /metrics`) and nothing else: the
    /// role of a Prometheus scraper's token.
    Monitoring,
}

/// What a role should look like.
pub const ROLE_EXPECTED: &str =
    "a role: `admin`, `finance`, `group:NAME`, `team:NAME` or `monitoring`";

impl Role {
    /// Parses `admin`, `finance`, `group:NAME`, `team:NAME` or `monitoring`.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        match s.split_once(':') {
            None if s == "admin" => Some(Role::Admin),
            None if s == "finance" => Some(Role::Finance),
            None if s == "monitoring" => Some(Role::Monitoring),
            Some(("group", name)) => ScopeName::parse(name).map(Role::Group),
            Some(("team", name)) => TeamId::parse(name).ok().map(Role::Team),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Finance => f.write_str("finance"),
            Role::Group(g) => write!(f, "group:{g}"),
            Role::Team(t) => write!(f, "team:{t}"),
            Role::Monitoring => f.write_str("monitoring"),
        }
    }
}

/// What a use case does, as access control sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read reports, anomalies and metric definitions (narrowed by team).
    Read,
    /// Read what concerns the whole organisation only: import runs,
    /// billing accounts, the whole bill.
    ReadAll,
    /// Acknowledge an anomaly.
    Acknowledge,
    /// Record usage figures.
    RecordUsage,
    /// Record business-metric points.
    RecordMetrics,
    /// Preview candidate rules.
    Preview,
    /// Run a configured source now.
    RunSource,
    /// Import billing data and allocate months (the CLI's operator).
    ImportAndAllocate,
    /// Create, list and revoke API tokens.
    ManageTokens,
    /// Read the audit log.
    ReadAudit,
    /// Read the server's telemetry (`GET /metrics`).
    ReadTelemetry,
}

impl Caller {
    /// Whether the caller may do `action` at all.
    pub fn authorize(&self, action: Action) -> Result<(), ServiceError> {
        let role = match self {
            Caller::Operator => return Ok(()),
            Caller::Identity(identity) => &identity.role,
        };
        let allowed = matches!(
            (role, action),
            (Role::Admin, _)
                | (Role::Finance, Action::Read | Action::ReadAll)
                | (Role::Group(_) | Role::Team(_), Action::Read)
                | (Role::Monitoring, Action::ReadTelemetry)
        );
        if allowed {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                role: role.to_string(),
                action,
            })
        }
    }

    /// Whether the caller sees everything (no narrowing by team).
    pub fn sees_all(&self) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Identity(i) => matches!(i.role, Role::Admin | Role::Finance),
        }
    }

    /// Whether the caller sees `team`'s costs.
    pub fn sees_team(&self, team: &TeamId) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Identity(i) => match &i.role {
                Role::Admin | Role::Finance => true,
                Role::Team(own) => own == team,
                Role::Group(_) => i.teams.contains(team),
                Role::Monitoring => false,
            },
        }
    }

    /// Whether the caller sees the costs of `owner`: a team it sees; shared
    /// pools and `unallocated` only for those who see everything.
    pub fn sees_owner(&self, owner: &Owner) -> bool {
        match owner {
            Owner::Team(team) => self.sees_team(team),
            _ => self.sees_all(),
        }
    }

    /// The label logs and the audit trail name the caller by.
    pub fn label(&self) -> &str {
        match self {
            Caller::Operator => "operator",
            Caller::Identity(i) => &i.label,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read reports",
            Action::ReadAll => "read organisation-wide records",
            Action::Acknowledge => "acknowledge anomalies",
            Action::RecordUsage => "record usage",
            Action::RecordMetrics => "record metric points",
            Action::Preview => "preview rules",
            Action::RunSource => "run sources",
            Action::ImportAndAllocate => "import and allocate",
            Action::ManageTokens => "manage tokens",
            Action::ReadAudit => "read the audit log",
            Action::ReadTelemetry => "read telemetry",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(role: &str, teams: &[&str]) -> Caller {
        Caller::Identity(Identity {
            label: "test".into(),
            role: Role::parse(role).unwrap(),
            teams: teams.iter().map(|t| TeamId::parse(t).unwrap()).collect(),
            client: "127.0.0.1".into(),
        })
    }

    #[test]
    fn roles_read_as_written() {
        for text in ["admin", "finance", "group:platform", "team:checkout"] {
            assert_eq!(Role::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "",
            "root",
            "team:",
            "group:",
            "team:Bad Name",
            "user:x",
            "admin:x",
        ] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_admins_write_and_everyone_reads_their_share() {
        let admin = identity("admin", &[]);
        let finance = identity("finance", &[]);
        let group = identity("group:platform", &["search", "data"]);
        let team = identity("team:search", &[]);
        for action in [
            Action::Acknowledge,
            Action::RecordUsage,
            Action::RecordMetrics,
            Action::Preview,
            Action::RunSource,
            Action::ImportAndAllocate,
            Action::ManageTokens,
            Action::ReadAudit,
        ] {
            assert!(admin.authorize(action).is_ok());
            assert!(Caller::Operator.authorize(action).is_ok());
            for reader in [&finance, &group, &team] {
                assert!(reader.authorize(action).is_err(), "{reader:?} {action}");
            }
        }
        assert!(finance.authorize(Action::ReadAll).is_ok());
        assert!(group.authorize(Action::ReadAll).is_err());
        assert!(team.authorize(Action::Read).is_ok());
        let search = TeamId::parse("search").unwrap();
        let checkout = TeamId::parse("checkout").unwrap();
        assert!(team.sees_team(&search) && !team.sees_team(&checkout));
        assert!(group.sees_team(&search) && !group.sees_team(&checkout));
        assert!(finance.sees_team(&checkout) && finance.sees_owner(&Owner::Unallocated));
        assert!(!team.sees_owner(&Owner::Unallocated) && !group.sees_all());
    }
}
