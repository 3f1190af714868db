//! API tokens: `allot token create` prints one once; the store keeps an id,
//! a label, a role and a keyed hash of the secret, never the secret.
//!
//! A token reads `allot_<id>_<secret>`: 12 hex digits of id (to find its
//! record, and to name it in lists, logs and `allot token revoke`) and 64
//! hex digits (256 random bits) of secret. The stored hash is
//! HMAC-SHA-256 of the secret under the server's token key, compared in
//! constant time. A slow password hash (argon2, bcrypt) exists to make
//! guessing low-entropy passwords expensive; a 256-bit random secret cannot
//! be guessed, so a fast hash costs nothing in safety and keeps every
//! request's check at microseconds. The key makes the hash useless without
//! it: someone who can read, or write, the database alone can neither
//! check a guessed token offline nor plant a token of their own.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Action, Caller, Identity, Role, ServiceError, unit_costs};
use crate::config::Settings;
use crate::domain::Owner;
use crate::store::{Store, StoreError, StoredToken};

/// The prefix of every token.
pub const PREFIX: &str = "allot_";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// The server's key for token hashes (32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A new random key.
    pub fn random() -> TokenKey {
        TokenKey(random_bytes())
    }

    /// A key written as 64 hex digits.
    pub fn from_hex(text: &str) -> Option<TokenKey> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(TokenKey(bytes.try_into().ok()?))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn mac(&self, secret: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        mac
    }

    /// The stored form of `secret`.
    fn hash(&self, secret: &str) -> String {
        hex::encode(self.mac(secret).finalize().into_bytes())
    }

    /// Whether `secret` is the one `stored` was made from, in constant time.
    fn verify(&self, secret: &str, stored: &str) -> bool {
        match hex::decode(stored) {
            Ok(tag) => self.mac(secret).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The operating system's generator does not fail on the systems allot
    // runs on; if it ever did, no token could be made safely.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// Why a request's credentials were refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "this endpoint needs a token: send `Authorization: Bearer TOKEN` (create one with `allot token create`)"
    )]
    Missing,
    #[error(
        "the `Authorization` header is not `Bearer allot_...`: send the token `allot token create` printed"
    )]
    Malformed,
    #[error("the token is not valid: it is unknown or mistyped")]
    Unknown,
    #[error("the token `{0}` was revoked: ask an admin for a new one")]
    Revoked(String),
    #[error("the token `{0}` expired on {1}: ask an admin for a new one")]
    Expired(String, String),
    #[error("the token `{id}` has the role `{role}`, which no longer exists: {cause}")]
    StaleRole {
        id: String,
        role: String,
        cause: String,
    },
    #[error("the single sign-on role `{role}` cannot be used: {cause}")]
    StaleSsoRole { role: String, cause: String },
    #[error(transparent)]
    Sso(#[from] super::oidc::SsoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The reason as a fixed label, for telemetry.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::Unknown => "unknown",
            AuthError::Revoked(_) => "revoked",
            AuthError::Expired(..) => "expired",
            AuthError::StaleRole { .. } | AuthError::StaleSsoRole { .. } => "stale_role",
            AuthError::Sso(_) => "sso",
            AuthError::Store(_) => "store",
        }
    }
}

/// A token just created: its record, and the token itself (shown once).
#[derive(Debug)]
pub struct Created {
    pub record: StoredToken,
    pub token: String,
}

/// A token to create.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub role: Role,
    /// A label for lists and logs.
    pub name: String,
    /// When it stops working.
    pub expires: Option<DateTime<Utc>>,
}

/// Creates `new` at `now`. A team role must name a known team, a group
/// role a group of the rules.
pub async fn create(
    store: &Store,
    caller: &Caller,
    settings: &Settings,
    key: &TokenKey,
    new: &NewToken,
    now: DateTime<Utc>,
) -> Result<Created, ServiceError> {
    caller.authorize(Action::ManageTokens)?;
    let (role, expires) = (&new.role, new.expires);
    let name = new.name.trim();
    if name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ServiceError::BadTokenName);
    }
    if let Some(at) = expires
        && at <= now
    {
        return Err(ServiceError::TokenExpiresInThePast(at.date_naive()));
    }
    match role {
        Role::Team(team) => {
            // A team with allocated cost, or one the rules name.
            let known = store.owner_exists(&Owner::Team(team.clone())).await?
                || unit_costs::current_rules(settings)?
                    .declared_teams()
                    .contains(team);
            if !known {
                return Err(ServiceError::UnknownTeam(team.to_string()));
            }
        }
        Role::Group(group) => {
            let rules = unit_costs::current_rules(settings)?;
            unit_costs::group_teams(&rules, group)?;
        }
        Role::Admin | Role::Finance | Role::Monitoring => {}
    }
    let id = hex::encode(random_bytes::<{ ID_HEX / 2 }>());
    let secret = hex::encode(random_bytes::<{ SECRET_HEX / 2 }>());
    let record = StoredToken {
        id: id.clone(),
        name: name.to_string(),
        role: role.to_string(),
        secret_hash: key.hash(&secret),
        created_at: now,
        expires_at: expires,
        revoked_at: None,
    };
    store.insert_token(&record).await?;
    tracing::info!(token = %id, role = %role, by = caller.label(), "token created");
    super::audit::record(
        store,
        caller,
        "token.create",
        &id,
        serde_json::json!({"role": role.to_string(), "name": name, "expires": expires}),
    )
    .await;
    Ok(Created {
        record,
        token: format!("{PREFIX}{id}_{secret}"),
    })
}

/// Every token, oldest first (never their secrets).
pub async fn list(store: &Store, caller: &Caller) -> Result<Vec<StoredToken>, ServiceError> {
    caller.authorize(Action::ManageTokens)?;
    Ok(store.tokens().await?)
}

/// Revokes token `id` (its id, or the whole token); from now on it is
/// refused.
pub async fn revoke(
    store: &Store,
    caller: &Caller,
    id: &str,
    now: DateTime<Utc>,
) -> Result<StoredToken, ServiceError> {
    caller.authorize(Action::ManageTokens)?;
    let id = split(id).map(|(id, _)| id).unwrap_or(id.trim());
    let unknown = || ServiceError::UnknownToken(id.to_string());
    let record = store.token(id).await?.ok_or_else(unknown)?;
    if record.revoked_at.is_none() {
        store.revoke_token(id, now).await?;
        tracing::info!(token = %id, by = caller.label(), "token revoked");
        super::audit::record(
            store,
            caller,
            "token.revoke",
            id,
            serde_json::json!({"role": record.role}),
        )
        .await;
    }
    Ok(store.token(id).await?.unwrap_or(record))
}

/// `(id, secret)` of a token's text.
fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

/// The identity of an `Authorization` header's value at `now`: an API
/// token, or with single sign-on configured (`oidc`) a JWT of the
/// identity provider.
pub async fn authenticate(
    store: &Store,
    settings: &Settings,
    key: &TokenKey,
    oidc: Option<&super::oidc::Verifier>,
    authorization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Identity, AuthError> {
    let value = authorization.ok_or(AuthError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = token.trim();
    if let Some(verifier) = oidc
        && !token.starts_with(PREFIX)
    {
        let verified = verifier.verify(token).await?;
        let teams =
            teams_of(&verified.role, settings).map_err(|cause| AuthError::StaleSsoRole {
                role: verified.role.to_string(),
                cause,
            })?;
        return Ok(Identity {
            label: verified.label,
            role: verified.role,
            teams,
            client: String::new(),
        });
    }
    let (id, secret) = split(token).ok_or(AuthError::Malformed)?;
    let record = store.token(id).await?.ok_or(AuthError::Unknown)?;
    if !key.verify(secret, &record.secret_hash) {
        return Err(AuthError::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked(record.id));
    }
    if let Some(at) = record.expires_at
        && at <= now
    {
        return Err(AuthError::Expired(record.id, at.date_naive().to_string()));
    }
    let stale = |cause: String| AuthError::StaleRole {
        id: record.id.clone(),
        role: record.role.clone(),
        cause,
    };
    let role = Role::parse(&record.role).ok_or_else(|| stale("it cannot be read".into()))?;
    let teams = teams_of(&role, settings).map_err(stale)?;
    let label = if record.name.is_empty() {
        format!("token:{}", record.id)
    } else {
        format!("token:{} ({})", record.id, record.name)
    };
    Ok(Identity {
        label,
        role,
        teams,
        client: String::new(),
    })
}

/// A group role's teams, read from the rules now (so a change to
/// `[groups]` applies at once); none for other roles.
fn teams_of(
    role: &Role,
    settings: &Settings,
) -> Result<std::collections::BTreeSet<crate::domain::TeamId>, String> {
    match role {
        Role::Group(group) => {
            let rules = unit_costs::current_rules(settings).map_err(|e| e.to_string())?;
            unit_costs::group_teams(&rules, group).map_err(|e| e.to_string())
        }
        _ => Ok(Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_only_under_its_key() {
        let key = TokenKey::random();
        let hash = key.hash("abc");
        assert_eq!(hash.len(), 64);
        assert!(key.verify("abc", &hash));
        assert!(!key.verify("abd", &hash));
        assert!(!TokenKey::random().verify("abc", &hash));
        assert!(!key.verify("abc", "not hex"));
        assert_eq!(TokenKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(TokenKey::from_hex("abcd"), None);
    }

    #[test]
    fn tokens_are_read_strictly() {
        let id = "0123456789ab";
        let secret = "f".repeat(64);
        assert_eq!(
            split(&format!("allot_{id}_{secret}")),
            Some((id, secret.as_str()))
        );
        for bad in [
            String::new(),
            format!("allot_{id}_{}", "f".repeat(63)),
            format!("allot_{id}{secret}"),
            format!("x_{id}_{secret}"),
            format!("allot_{}_{secret}", "g".repeat(12)),
            format!("allot_{id}_{secret}_"),
        ] {
            assert_eq!(split(&bad), None, "{bad}");
        }
    }
}
