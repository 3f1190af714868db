//! Team identifiers and the owner of a cost (a team, or `unallocated`).

use std::fmt;

/// The name of the bucket for costs no rule assigns. Never a team name.
pub const UNALLOCATED: &str = "unallocated";

/// A team name: lower case ASCII letters, digits, `-`, `_` or `.`, starting
/// with a letter or digit, at most 64 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TeamId(String);

/// Why a team name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamIdError {
    #[error(
        "expected a team name of lower-case letters, digits, `-`, `_` or `.` (at most 64), found `{0}`"
    )]
    Invalid(String),
    #[error("`unallocated` is reserved for costs no rule assigns; pick another team name")]
    Reserved,
}

/// How every team name given to allot (in rules, configuration, the CLI,
/// the API, usage files) is read: whitespace trimmed and ASCII lower-cased,
/// so that `" Payments "` and `payments` are the same team.
pub fn normalise_team_name(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

impl TeamId {
    /// Parses a team name after [`normalise_team_name`].
    pub fn parse(s: &str) -> Result<Self, TeamIdError> {
        let t = normalise_team_name(s);
        let valid = !t.is_empty()
            && t.len() <= 64
            && t.as_bytes()[0].is_ascii_alphanumeric()
            && t.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
            });
        if !valid {
            return Err(TeamIdError::Invalid(s.to_string()));
        }
        if t == UNALLOCATED {
            return Err(TeamIdError::Reserved);
        }
        Ok(TeamId(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a cost belongs to after allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Owner {
    Team(TeamId),
    Unallocated,
}

impl Owner {
    /// The owner as it appears in reports: the team name or `unallocated`.
    pub fn name(&self) -> &str {
        match self {
            Owner::Team(t) => t.as_str(),
            Owner::Unallocated => UNALLOCATED,
        }
    }

    /// Reads an owner name (a team name or `unallocated`, after
    /// [`normalise_team_name`]).
    pub fn from_name(s: &str) -> Result<Self, TeamIdError> {
        if normalise_team_name(s) == UNALLOCATED {
            Ok(Owner::Unallocated)
        } else {
            TeamId::parse(s).map(Owner::Team)
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(TeamId::parse(" Payments ").unwrap().as_str(), "payments");
        assert_eq!(
            TeamId::parse("data-eng_2.x").unwrap().as_str(),
            "data-eng_2.x"
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(TeamId::parse(""), Err(TeamIdError::Invalid(_))));
        assert!(matches!(TeamId::parse("a b"), Err(TeamIdError::Invalid(_))));
        assert!(matches!(TeamId::parse("-x"), Err(TeamIdError::Invalid(_))));
        assert_eq!(TeamId::parse("Unallocated"), Err(TeamIdError::Reserved));
    }

    #[test]
    fn owner_names_round_trip() {
        for n in ["unallocated", "payments"] {
            assert_eq!(Owner::from_name(n).unwrap().name(), n);
        }
    }
}
