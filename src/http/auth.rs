//! Who is asking: every `/api/v1` handler takes a [`Caller`], extracted
//! here from `Authorization: Bearer TOKEN` (see `service::tokens`). A
//! request without a valid token is answered 401; failures are logged
//! with the client's address and the reason, never the token, and an
//! address that fails [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is
//! answered 429 until the window has passed. With `[auth.oidc]`, a bearer
//! token that is not an allot token is checked as the identity provider's
//! JWT (`service::oidc`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::service::tokens::{self, TokenKey};
use crate::service::{Caller, tokens::AuthError};

/// Failed authentications an address may make within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at once; past it, the expired are forgotten, and
/// if all are recent the oldest half is.
const MAX_TRACKED: usize = 10_000;

/// The server's token key and its record of failed authentications.
#[derive(Debug)]
pub struct Auth {
    pub key: TokenKey,
    /// Single sign-on, when configured.
    pub oidc: Option<crate::service::oidc::Verifier>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Auth {
    pub fn new(key: TokenKey, oidc: Option<crate::service::oidc::Verifier>) -> Auth {
        Auth {
            key,
            oidc,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds `ip` must wait before it may try again, if it must.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (since, count) = failures.get(&ip)?;
        let elapsed = now.duration_since(*since);
        (*count >= MAX_FAILURES && elapsed < FAILURE_WINDOW)
            .then(|| (FAILURE_WINDOW - elapsed).as_secs().max(1))
    }

    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&ip) {
            failures.retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
            if failures.len() >= MAX_TRACKED {
                let mut times: Vec<Instant> = failures.values().map(|(t, _)| *t).collect();
                times.sort();
                let median = times[times.len() / 2];
                failures.retain(|_, (since, _)| *since > median);
            }
        }
        let entry = failures.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        authenticate(state, ip, header, parts.extensions.get::<super::Who>()).await
    }
}

/// The caller an `Authorization` header value (`Bearer ...`) from `ip`
/// speaks for, with the failure limits every request is under.
pub(crate) async fn authenticate(
    state: &AppState,
    ip: IpAddr,
    header: Option<&str>,
    who: Option<&super::Who>,
) -> Result<Caller, ApiError> {
    let now = Instant::now();
    if let Some(wait) = state.auth.blocked(ip, now) {
        state.telemetry.auth_failure("rate_limited");
        return Err(ApiError::TooManyFailures(wait));
    }
    let settings = state.settings();
    match tokens::authenticate(
        &state.store,
        &settings,
        &state.auth.key,
        state.auth.oidc.as_ref(),
        header,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(mut identity) => {
            identity.client = ip.to_string();
            if let Some(who) = who {
                who.set(&identity.label);
            }
            Ok(Caller::Identity(identity))
        }
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(AuthError::Sso(e @ crate::service::oidc::SsoError::Unavailable(_))) => {
            Err(ApiError::Unavailable(e.to_string()))
        }
        Err(e) => {
            state.auth.failed(ip, now);
            state.telemetry.auth_failure(e.reason());
            tracing::warn!(client = %ip, reason = %e, "authentication failed");
            Err(ApiError::Unauthenticated(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_that_keeps_failing_waits_out_the_window() {
        let auth = Auth::new(TokenKey::random(), None);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let other = IpAddr::from([10, 0, 0, 2]);
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(auth.blocked(ip, start), None);
            auth.failed(ip, start);
        }
        assert_eq!(auth.blocked(ip, start), Some(60));
        assert_eq!(auth.blocked(other, start), None, "others are not held back");
        assert_eq!(auth.blocked(ip, start + Duration::from_secs(59)), Some(1));
        assert_eq!(auth.blocked(ip, start + FAILURE_WINDOW), None);
    }

    #[test]
    fn the_record_of_failures_is_bounded() {
        let auth = Auth::new(TokenKey::random(), None);
        let start = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 10) {
            let ip = IpAddr::from(n.to_be_bytes());
            auth.failed(ip, start + Duration::from_millis(u64::from(n)));
        }
        assert!(auth.failures.lock().unwrap().len() <= MAX_TRACKED);
    }
}
