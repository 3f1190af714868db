//! Single sign-on: bearer JWTs from the company's identity provider
//! (`[auth.oidc]`), checked against the provider's published keys (its
//! JWKS) and mapped to a [`Role`] by one of their claims.
//!
//! A token is accepted when all of these hold, in this order:
//! - it is a JWS of at most [`MAX_TOKEN_BYTES`] whose header names one of
//!   the configured public-key algorithms (never `none`, never a shared
//!   secret: HMAC would let anyone holding the JWKS sign);
//! - its `kid` is a key of the provider's key set, fit for signatures and
//!   for that algorithm (a token without `kid` only when the set holds one
//!   key);
//! - its signature verifies; `iss` equals the configured issuer; `aud`
//!   names a configured audience; `exp` (required) has not passed and
//!   `nbf` has, within the configured leeway; `sub` is present;
//! - the role claim's values map, through `[auth.oidc.roles]`, to exactly
//!   one role, after `admin` over `finance` over the rest.
//!
//! Keys rotate without a restart: the key set is fetched at the first
//! token, again after `jwks_refresh_seconds`, and at once when a token
//! names a key id the set does not hold (at most [`FORCED_FETCHES`] such
//! fetches per minute, so unknown ids cannot make allot flood the
//! provider). A fetch that fails keeps the keys already held.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::Value;

use super::Role;
use crate::config::Oidc;

/// The longest token read (identity providers' tokens are a few KiB).
pub const MAX_TOKEN_BYTES: usize = 16 << 10;
/// The largest key set or discovery document read.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Fetches forced by unknown key ids allowed per minute.
pub const FORCED_FETCHES: usize = 10;
/// How long one fetch of keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed fetch, how long held keys are used before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Values of the role claim looked at (a user in thousands of groups is
/// mapped by the first of them).
const MAX_CLAIM_VALUES: usize = 1000;
/// The longest label kept.
const MAX_LABEL_CHARS: usize = 200;

/// Why a single sign-on token was refused.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error(
        "the bearer token is neither an allot token (`allot_...`) nor a JWT: send the token `allot token create` printed, or an ID or access token of the identity provider"
    )]
    Malformed,
    #[error("the single sign-on token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error(
        "the single sign-on token's header cannot be read or names an algorithm that is not accepted; accepted: {0}"
    )]
    Header(String),
    #[error(
        "the single sign-on token is signed with `{found}`, which is not accepted; accepted: {accepted}"
    )]
    Algorithm { found: String, accepted: String },
    #[error(
        "the single sign-on token names the key `{0}`, which the identity provider's key set does not hold: get a new token"
    )]
    UnknownKey(String),
    #[error(
        "the single sign-on token names no key (`kid`) and the identity provider's key set holds several"
    )]
    NoKeyId,
    #[error("the single sign-on token is not valid: {0}")]
    Invalid(String),
    #[error(
        "the single sign-on token's `{claim}` claim names no value that `[auth.oidc.roles]` maps to a role: ask an admin to map one"
    )]
    NoRole { claim: String },
    #[error(
        "the single sign-on token's `{claim}` claim maps to several roles ({roles}): map the identity to one role"
    )]
    SeveralRoles { claim: String, roles: String },
    #[error(
        "the identity provider's keys cannot be fetched: {0}; try again later, or check `auth.oidc` in allot.toml"
    )]
    Unavailable(String),
}

/// What a verified token says: who, and in which role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// `sso:SUBJECT (LABEL CLAIM)`.
    pub label: String,
    pub role: Role,
}

/// Checks single sign-on tokens, holding the provider's keys.
#[derive(Debug)]
pub struct Verifier {
    settings: Oidc,
    client: reqwest::Client,
    keys: tokio::sync::Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    /// The usable keys of the last good fetch.
    set: Arc<Vec<Jwk>>,
    /// When the keys were last fetched, or a fetch last failed.
    checked: Option<Instant>,
    failed: bool,
    /// The key set's address, once discovered.
    url: Option<String>,
    /// When fetches were forced by unknown key ids, in the last minute.
    forced: VecDeque<Instant>,
}

/// Whether a token looks like a JWS (three base64url parts) rather than an
/// allot token.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Verifier {
    pub fn new(settings: Oidc) -> Verifier {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("allot/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the key-fetching client's settings are valid");
        Verifier {
            settings,
            client,
            keys: tokio::sync::Mutex::new(Keys::default()),
        }
    }

    /// The identity `token` proves.
    pub async fn verify(&self, token: &str) -> Result<Verified, SsoError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(SsoError::TooLong);
        }
        if !looks_like_jwt(token) {
            return Err(SsoError::Malformed);
        }
        let accepted = || {
            self.settings
                .algorithms
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| SsoError::Header(accepted()))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(SsoError::Algorithm {
                found: format!("{:?}", header.alg),
                accepted: accepted(),
            });
        }
        let jwk = self.key(header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| SsoError::Invalid(format!("its key cannot be used: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_nbf = true;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
                .map_err(|e| SsoError::Invalid(self.reason(e.kind())))?
                .claims;
        let role = self.role(&claims)?;
        Ok(Verified {
            label: self.label(&claims),
            role,
        })
    }

    /// Why validation failed, in the user's words.
    fn reason(&self, kind: &ErrorKind) -> String {
        match kind {
            ErrorKind::InvalidSignature => "its signature does not verify".into(),
            ErrorKind::ExpiredSignature => "it has expired: sign in again".into(),
            ErrorKind::ImmatureSignature => "it is not valid yet (`nbf`)".into(),
            ErrorKind::InvalidIssuer => {
                format!("its issuer (`iss`) is not `{}`", self.settings.issuer)
            }
            ErrorKind::InvalidAudience => format!(
                "its audience (`aud`) is not {}",
                self.settings
                    .audiences
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            ErrorKind::MissingRequiredClaim(c) => format!("it has no `{c}` claim"),
            ErrorKind::InvalidClaimFormat(c) => format!("its `{c}` claim has the wrong type"),
            ErrorKind::InvalidAlgorithm => "its algorithm does not fit its key".into(),
            _ => "it cannot be read as a signed JWT".into(),
        }
    }

    /// The role `claims` map to.
    fn role(&self, claims: &serde_json::Map<String, Value>) -> Result<Role, SsoError> {
        let name = &self.settings.role_claim;
        let values: Vec<&str> = match claim(claims, name) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(list)) => list
                .iter()
                .take(MAX_CLAIM_VALUES)
                .filter_map(Value::as_str)
                .collect(),
            _ => Vec::new(),
        };
        let roles: BTreeSet<&Role> = values
            .iter()
            .filter_map(|v| self.settings.roles.get(*v))
            .collect();
        // Role orders admin, finance, groups, teams: the first is the widest.
        match roles.first() {
            None => Err(SsoError::NoRole {
                claim: name.clone(),
            }),
            Some(Role::Admin | Role::Finance) => Ok((*roles.first().expect("not empty")).clone()),
            Some(only) if roles.len() == 1 => Ok((*only).clone()),
            Some(_) => Err(SsoError::SeveralRoles {
                claim: name.clone(),
                roles: roles
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// `sso:SUBJECT`, with the label claim when there is one.
    fn label(&self, claims: &serde_json::Map<String, Value>) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_control())
                .take(MAX_LABEL_CHARS)
                .collect()
        };
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or("");
        let mut label = format!("sso:{}", clean(subject));
        if let Some(Value::String(extra)) = claim(claims, &self.settings.label_claim)
            && !extra.is_empty()
            && extra != subject
        {
            label.push_str(&format!(" ({})", clean(extra)));
        }
        label
    }

    /// The key a token's header names, fetching the key set when it is
    /// stale or lacks the key.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, SsoError> {
        let mut keys = self.keys.lock().await;
        let now = Instant::now();
        let due = match keys.checked {
            None => true,
            Some(at) if keys.failed => now.duration_since(at) >= RETRY_AFTER_FAILURE,
            Some(at) => now.duration_since(at) >= self.settings.jwks_refresh,
        };
        if due {
            self.refresh(&mut keys, now).await?;
        }
        if let Some(found) = pick(&keys.set, kid, alg)? {
            return Ok(found);
        }
        // A key the set does not hold: perhaps the provider rotated.
        while keys
            .forced
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
        {
            keys.forced.pop_front();
        }
        if !due && keys.forced.len() < FORCED_FETCHES {
            keys.forced.push_back(now);
            self.refresh(&mut keys, now).await?;
            if let Some(found) = pick(&keys.set, kid, alg)? {
                return Ok(found);
            }
        }
        Err(SsoError::UnknownKey(
            kid.unwrap_or("").chars().take(100).collect(),
        ))
    }

    /// Fetches the key set into `keys`; on failure keeps what it holds and
    /// fails only when it holds nothing.
    async fn refresh(&self, keys: &mut Keys, now: Instant) -> Result<(), SsoError> {
        keys.checked = Some(now);
        match self.fetch_keys(&mut keys.url).await {
            Ok(set) => {
                tracing::info!(keys = set.len(), "fetched the identity provider's keys");
                keys.set = Arc::new(set);
                keys.failed = false;
                Ok(())
            }
            Err(e) => {
                keys.failed = true;
                tracing::warn!(error = %e, held = keys.set.len(), "cannot fetch the identity provider's keys");
                if keys.set.is_empty() {
                    Err(SsoError::Unavailable(e))
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn fetch_keys(&self, url: &mut Option<String>) -> Result<Vec<Jwk>, String> {
        let jwks_url = match (&self.settings.jwks_url, url.as_ref()) {
            (Some(configured), _) => configured.clone(),
            (None, Some(found)) => found.clone(),
            (None, None) => {
                let found = self.discover().await?;
                *url = Some(found.clone());
                found
            }
        };
        let document = self.get(&jwks_url).await?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("`{jwks_url}` is not a key set (no `keys` list)"))?;
        // Keys of kinds this build cannot use are skipped, not fatal.
        Ok(keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .collect())
    }

    /// The key set's address, from the issuer's discovery document.
    async fn discover(&self) -> Result<String, String> {
        let issuer = &self.settings.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document = self.get(&url).await?;
        if document.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(format!(
                "`{url}` names another issuer than `{issuer}`: set `auth.oidc.issuer` to the provider's issuer exactly"
            ));
        }
        let jwks = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{url}` has no `jwks_uri`: set `auth.oidc.jwks_url`"))?;
        if !crate::config::trusted_url(jwks) {
            return Err(format!(
                "`{url}` gives the key set at `{jwks}`, which is not `https://`"
            ));
        }
        Ok(jwks.to_string())
    }

    /// A JSON document at `url`, at most [`MAX_DOCUMENT_BYTES`].
    async fn get(&self, url: &str) -> Result<Value, String> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("`{url}` cannot be reached ({})", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("`{url}` answered HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("`{url}` stopped answering ({})", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "`{url}` answered more than {} MiB",
                    MAX_DOCUMENT_BYTES >> 20
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("`{url}` did not answer JSON ({e})"))
    }
}

/// The key of `set` a token with `kid` and `alg` is to be checked with.
fn pick(set: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Result<Option<Jwk>, SsoError> {
    let found = match kid {
        Some(kid) => set.iter().find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if set.len() == 1 => set.first(),
        None if set.is_empty() => None,
        None => return Err(SsoError::NoKeyId),
    };
    let Some(found) = found else {
        return Ok(None);
    };
    if let Some(key_alg) = found.common.key_algorithm
        && !same_algorithm(key_alg, alg)
    {
        return Err(SsoError::Invalid(format!(
            "it is signed with {alg:?} but its key is for {key_alg}"
        )));
    }
    Ok(Some(found.clone()))
}

fn same_algorithm(key: KeyAlgorithm, alg: Algorithm) -> bool {
    key.to_string() == format!("{alg:?}")
}

/// The claim `name` of `claims`: the claim of that exact name, or else a
/// dotted path into nested objects.
fn claim<'a>(claims: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(roles: &[(&str, &str)]) -> Verifier {
        Verifier::new(Oidc {
            issuer: "https://id.example.com".into(),
            audiences: vec!["allot".into()],
            jwks_url: Some("https://id.example.com/keys".into()),
            role_claim: "groups".into(),
            label_claim: "email".into(),
            algorithms: vec![Algorithm::RS256],
            leeway_seconds: 60,
            jwks_refresh: Duration::from_secs(3600),
            roles: roles
                .iter()
                .map(|(v, r)| (v.to_string(), Role::parse(r).unwrap()))
                .collect(),
        })
    }

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_widest_role_wins_and_two_narrow_ones_are_refused() {
        let v = verifier(&[
            ("admins", "admin"),
            ("money", "finance"),
            ("pay", "team:payments"),
            ("search", "team:search"),
        ]);
        let role = |c: Value| v.role(&claims(c));
        assert_eq!(
            role(serde_json::json!({"groups": ["pay", "admins", "money"]})).unwrap(),
            Role::Admin
        );
        assert_eq!(
            role(serde_json::json!({"groups": "pay"})).unwrap(),
            Role::parse("team:payments").unwrap()
        );
        assert!(matches!(
            role(serde_json::json!({"groups": ["pay", "search"]})),
            Err(SsoError::SeveralRoles { .. })
        ));
        for none in [
            serde_json::json!({}),
            serde_json::json!({"groups": ["other"]}),
            serde_json::json!({"groups": 7}),
        ] {
            assert!(matches!(role(none), Err(SsoError::NoRole { .. })));
        }
    }

    #[test]
    fn claims_are_found_by_name_or_dotted_path() {
        let c = claims(serde_json::json!({
            "realm_access": {"roles": ["a"]},
            "https://example.com/roles": "b",
        }));
        assert_eq!(
            claim(&c, "realm_access.roles"),
            Some(&serde_json::json!(["a"]))
        );
        assert_eq!(
            claim(&c, "https://example.com/roles"),
            Some(&serde_json::json!("b"))
        );
        assert_eq!(claim(&c, "realm_access.other"), None);
    }

    #[test]
    fn labels_name_the_subject_without_control_characters() {
        let v = verifier(&[("admins", "admin")]);
        let c = claims(serde_json::json!({"sub": "u1\n", "email": "ana@example.com"}));
        assert_eq!(v.label(&c), "sso:u1 (ana@example.com)");
        let long = claims(serde_json::json!({"sub": "x".repeat(5000)}));
        assert_eq!(v.label(&long).len(), 4 + MAX_LABEL_CHARS);
    }

    #[test]
    fn only_three_part_tokens_are_taken_for_jwts() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJz."));
        for not in [
            "",
            "a.b",
            "a.b.c.d",
            "allot_x_y",
            "a b.c.d",
            ".b.c",
            "a.b.c=",
        ] {
            assert!(!looks_like_jwt(not), "{not}");
        }
    }
}
