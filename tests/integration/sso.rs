//! Single sign-on at the API: JWTs signed with keys made here, published
//! by an identity provider served on loopback (discovery document and
//! JWKS), accepted for the role their `groups` claim maps to and refused,
//! with the reason, when anything about them is wrong. Keys rotate while
//! the server runs.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use allot::app::Application;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// A signing key of the identity provider.
pub(crate) enum Key {
    Rsa(String, RsaKeyPair),
    Ec(String, EcdsaKeyPair),
}

impl Key {
    pub(crate) fn rsa(kid: &str) -> Key {
        Key::Rsa(
            kid.into(),
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
        )
    }

    fn ec(kid: &str) -> Key {
        Key::Ec(
            kid.into(),
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        )
    }

    /// Its public half, as a JWK.
    fn jwk(&self) -> Value {
        match self {
            Key::Rsa(kid, pair) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": B64.encode(&parts.n), "e": B64.encode(&parts.e)})
            }
            Key::Ec(kid, pair) => {
                let point = pair.public_key().as_ref();
                assert_eq!(
                    (point.len(), point[0]),
                    (65, 4),
                    "an uncompressed P-256 point"
                );
                json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])})
            }
        }
    }

    /// A token of `claims` with this key's algorithm and id.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let (alg, kid) = match self {
            Key::Rsa(kid, _) => ("RS256", kid),
            Key::Ec(kid, _) => ("ES256", kid),
        };
        self.sign_with(&json!({"alg": alg, "typ": "JWT", "kid": kid}), claims)
    }

    /// A token of `header` and `claims`, signed by this key whatever the
    /// header says.
    fn sign_with(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let signature = match self {
            Key::Rsa(_, pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    message.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Key::Ec(_, pair) => pair
                .sign(&rng, message.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
        };
        format!("{message}.{}", B64.encode(signature))
    }
}

/// An identity provider on loopback: its discovery document and a key set
/// the test can replace, counting fetches of the key set.
pub(crate) struct Provider {
    pub(crate) issuer: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    pub(crate) async fn start(keys: &[&Key]) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let set = Arc::new(Mutex::new(Value::Null));
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")});
        let (served, counted) = (set.clone(), fetches.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/keys",
                axum::routing::get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(served.lock().unwrap().clone())
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let provider = Provider {
            issuer,
            keys: set,
            fetches,
        };
        provider.publish(keys);
        provider
    }

    fn publish(&self, keys: &[&Key]) {
        *self.keys.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Claims of a token for allot, valid for an hour, with `groups`.
    pub(crate) fn claims(&self, groups: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"iss": self.issuer, "aud": "allot", "sub": "u-1", "email": "ana@example.com", "iat": now, "exp": now + 3600, "groups": groups})
    }
}

/// `allot.toml` with single sign-on through `issuer`, over rules in `rules`.
pub(crate) fn settings(issuer: &str, rules: &std::path::Path) -> allot::config::Settings {
    let text = format!(
        r#"
[auth.oidc]
issuer = "{issuer}"
audience = ["allot", "allot-dashboard"]
[auth.oidc.roles]
"allot-admins" = "admin"
"payments-eng" = "team:payments"
"checkout-eng" = "team:checkout"
"directors" = "group:commerce"
"#
    );
    allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), &text)
        .unwrap()
        .settings(None, None, None, Some(rules.to_path_buf()))
}

/// The server, with the shipped rules plus the group `commerce` (kept as
/// long as the returned directory).
async fn serve(db: &common::TestDb, issuer: &str) -> (String, tempfile::TempDir) {
    let rules = crate::access::rules_with_groups();
    let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings(issuer, rules.path()));
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));
    (base, rules)
}

/// Status and body of a GET with `token`.
async fn get(url: &str, token: &str) -> (u16, Value) {
    let r = common::bearer_client(token).get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

backend_tests! {
    async fn identity_provider_tokens_map_to_roles(db) {
        common::allocated_demo(&db.store).await;
        let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
        let idp = Provider::start(&[&rsa, &ec]).await;
        let (base, _rules) = serve(&db, &idp.issuer).await;
        let showback = format!("{base}/api/v1/showback?month=2026-10");
        let admin = rsa.sign(&idp.claims(json!(["staff", "allot-admins", "payments-eng"])));
        let (status, body) = get(&showback, &admin).await;
        assert_eq!(status, 200, "{body}");
        let teams: Vec<&str> = body["rows"].as_array().unwrap().iter().filter_map(|r| r["team"].as_str()).collect();
        assert!(teams.len() > 2, "an admin sees every team: {teams:?}");
        // A team identity by an EC key: its own rows, other teams as absent.
        let payments = ec.sign(&idp.claims(json!("payments-eng")));
        let (status, body) = get(&showback, &payments).await;
        assert_eq!(status, 200, "{body}");
        let text = body.to_string();
        assert!(text.contains("payments") && !text.contains("checkout") && !text.contains("unallocated"), "{text}");
        let (status, _) = get(&format!("{base}/api/v1/teams/checkout/costs?from=2026-10-01&to=2026-10-31"), &payments).await;
        assert_eq!(status, 404);
        let (status, _) = get(&format!("{base}/api/v1/teams/payments/costs?from=2026-10-01&to=2026-10-31"), &payments).await;
        assert_eq!(status, 200);
        // A group identity reads its group's teams; writes are refused.
        let director = rsa.sign(&idp.claims(json!(["directors"])));
        let (status, body) = get(&showback, &director).await;
        assert_eq!(status, 200, "{body}");
        let r = common::bearer_client(&director).post(format!("{base}/api/v1/usage")).json(&json!({"records": []})).send().await.unwrap();
        assert_eq!(r.status(), 403);
        // The audit log names the identity by its subject and email.
        let usage = json!({"records": [{"date": "2026-10-01", "team": "payments", "metric": "requests", "quantity": "1"}]});
        let r = common::bearer_client(&admin).post(format!("{base}/api/v1/usage")).json(&usage).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (_, audit) = get(&format!("{base}/api/v1/audit?action=usage.record"), &admin).await;
        assert_eq!(audit["entries"][0]["actor"], "sso:u-1 (ana@example.com)", "{audit}");
        assert_eq!(audit["entries"][0]["role"], "admin", "{audit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_identity_provider_tokens_are_refused_with_the_reason() {
    let db = common::sqlite().await;
    let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
    let stranger = Key::rsa("rsa-1");
    let idp = Provider::start(&[&rsa, &ec]).await;
    let (base, _rules) = serve(&db, &idp.issuer).await;
    let url = format!("{base}/api/v1/anomalies");
    let good = idp.claims(json!(["allot-admins"]));
    let with = |change: Value| {
        let mut claims = good.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let now = chrono::Utc::now().timestamp();
    let signed = rsa.sign(&good);
    let (head, rest) = signed.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{sig}",
        B64.encode(with(json!({"groups": ["allot-admins", "x"]})).to_string())
    );
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(good.to_string())
    );
    let hs = rsa.sign_with(&json!({"alg": "HS256", "kid": "rsa-1"}), &good);
    let cases: Vec<(String, &str)> = vec![
        (
            rsa.sign(&with(json!({"iss": "https://evil.example.com"}))),
            "its issuer (`iss`) is not",
        ),
        (
            rsa.sign(&with(json!({"aud": "someone-else"}))),
            "its audience (`aud`) is not `allot` or `allot-dashboard`",
        ),
        (
            rsa.sign(&with(json!({"exp": now - 3600}))),
            "it has expired",
        ),
        (
            rsa.sign(&with(json!({"exp": null}))),
            "it has no `exp` claim",
        ),
        (
            rsa.sign(&with(json!({"nbf": now + 3600}))),
            "it is not valid yet",
        ),
        (
            rsa.sign(&with(json!({"sub": null}))),
            "it has no `sub` claim",
        ),
        (stranger.sign(&good), "its signature does not verify"),
        (tampered, "its signature does not verify"),
        (
            none,
            "header cannot be read or names an algorithm that is not accepted",
        ),
        (
            hs,
            "signed with `HS256`, which is not accepted; accepted: RS256, ES256",
        ),
        (
            Key::rsa("rsa-9").sign(&good),
            "names the key `rsa-9`, which the identity provider's key set does not hold",
        ),
        (
            rsa.sign_with(&json!({"alg": "RS256"}), &good),
            "names no key (`kid`)",
        ),
        (
            rsa.sign_with(&json!({"alg": "ES256", "kid": "rsa-1"}), &good),
            "it is signed with ES256 but its key is for RS256",
        ),
        (
            rsa.sign(&with(json!({"groups": ["staff"]}))),
            "`groups` claim names no value that `[auth.oidc.roles]` maps to a role",
        ),
        (
            rsa.sign(&with(json!({"groups": ["payments-eng", "checkout-eng"]}))),
            "maps to several roles (`team:checkout`, `team:payments`)",
        ),
        ("a.b.c".to_string(), "header cannot be read"),
        (
            format!("{}.{}.x", "a".repeat(9000), "b".repeat(9000)),
            "longer than 16384 bytes",
        ),
        (
            "allot_nothex_nothex".to_string(),
            "is not `Bearer allot_...`",
        ),
        ("not-a-token".to_string(), "neither an allot token"),
    ];
    assert!(
        cases.len() < allot::http::MAX_FAILURES as usize,
        "the address is not held back mid-test"
    );
    for (token, reason) in &cases {
        let (status, body) = get(&url, token).await;
        assert_eq!(status, 401, "{reason}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(reason),
            "expected `{reason}` in `{message}`"
        );
        let tail = &token[token.len().saturating_sub(12)..];
        assert!(
            tail.len() < 12 || !message.contains(tail),
            "the answer repeats no part of the token: {message}"
        );
    }
    // The good token still works, after all that.
    assert_eq!(get(&url, &signed).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_without_a_restart_and_unknown_ids_cannot_flood_the_provider() {
    let db = common::sqlite().await;
    let (old, new) = (Key::rsa("2026-11"), Key::ec("2026-12"));
    let idp = Provider::start(&[&old]).await;
    let (base, _rules) = serve(&db, &idp.issuer).await;
    let url = format!("{base}/api/v1/anomalies");
    let claims = idp.claims(json!(["allot-admins"]));
    assert_eq!(get(&url, &old.sign(&claims)).await.0, 200);
    assert_eq!(get(&url, &old.sign(&claims)).await.0, 200);
    assert_eq!(idp.fetches(), 1, "keys are fetched once, then held");
    // The provider rotates: the new key works at once, the old one is gone.
    idp.publish(&[&new]);
    assert_eq!(get(&url, &new.sign(&claims)).await.0, 200);
    assert_eq!(idp.fetches(), 2);
    let (status, body) = get(&url, &old.sign(&claims)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names the key `2026-11`")
    );
    // Tokens naming ever new key ids make a bounded number of fetches.
    let before = idp.fetches();
    for n in 0..15 {
        let forged = new.sign_with(
            &json!({"alg": "ES256", "kid": format!("forged-{n}")}),
            &claims,
        );
        assert_eq!(get(&url, &forged).await.0, 401);
    }
    let forced = idp.fetches() - before;
    assert!(
        forced < allot::service::oidc::FORCED_FETCHES,
        "{forced} fetches for 15 unknown ids"
    );
    assert_eq!(
        get(&url, &new.sign(&claims)).await.0,
        200,
        "known keys still work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_identity_provider_answers_503_and_api_tokens_still_work() {
    let db = common::sqlite().await;
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_settings(settings(&issuer, &common::root().join("allocation-rules")));
    let admin = common::token(&db.store, &app, "admin").await;
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));
    let key = Key::rsa("k");
    let now = chrono::Utc::now().timestamp();
    let token = key.sign(&json!({"iss": issuer, "aud": "allot", "sub": "u", "exp": now + 60, "groups": ["allot-admins"]}));
    let (status, body) = get(&format!("{base}/api/v1/anomalies"), &token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the identity provider's keys cannot be fetched"),
        "{body}"
    );
    assert_eq!(
        get(&format!("{base}/api/v1/anomalies"), &admin).await.0,
        200
    );
}

/// `docs/access.md`'s `allot.toml` blocks and the commented single
/// sign-on section `allot init` writes are valid as shown.
#[test]
fn the_documented_single_sign_on_settings_are_valid() {
    let doc = std::fs::read_to_string(common::root().join("docs/access.md")).unwrap();
    let mut blocks: Vec<String> = doc
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect();
    let init = std::fs::read_to_string(common::root().join("src/init/allot.toml")).unwrap();
    let start = init
        .find("# [auth.oidc]")
        .expect("allot init shows [auth.oidc]");
    let section = init[start..].split("\n\n").next().unwrap();
    blocks.push(
        section
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let mut with_oidc = 0;
    for block in &blocks {
        let file = allot::config::FileConfig::parse(std::path::Path::new("allot.toml"), block)
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        if let Some(oidc) = file.settings(None, None, None, None).oidc {
            with_oidc += 1;
            assert!(
                !oidc.roles.is_empty() && oidc.role_claim == "groups",
                "{oidc:?}"
            );
        }
    }
    assert_eq!(
        with_oidc, 2,
        "the guide and allot init each show single sign-on"
    );
}

/// A bearer value a hostile client might send: any text, allot-token and
/// JWT look-alikes (headers naming any algorithm and key id, any claims),
/// and very long ones.
fn hostile_authorization() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let segment = |json: BoxedStrategy<String>| json.prop_map(|j| B64.encode(j));
    let alg = prop_oneof![
        Just("RS256".to_string()),
        Just("ES256".to_string()),
        Just("HS256".to_string()),
        Just("none".to_string()),
        ".{0,12}",
    ];
    let header = (alg, proptest::option::of(".{0,40}"))
        .prop_map(|(alg, kid)| json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string())
        .boxed();
    let claims = prop_oneof![
        ".{0,60}".prop_map(|s| json!({"sub": s, "iss": s, "aud": s, "exp": 9_999_999_999u64, "groups": ["allot-admins"]}).to_string()),
        ".{0,60}",
    ]
    .boxed();
    let jwt = (segment(header), segment(claims), "[A-Za-z0-9_-]{0,86}")
        .prop_map(|(h, c, s)| format!("{h}.{c}.{s}"));
    prop_oneof![
        ".{0,80}",
        ".{0,80}".prop_map(|t| format!("Bearer {t}")),
        "[0-9a-fA-F_]{0,80}".prop_map(|t| format!("Bearer allot_{t}")),
        jwt.prop_map(|t| format!("Bearer {t}")),
        (1usize..40_000).prop_map(|n| format!("Bearer {}", "e".repeat(n))),
    ]
}

/// Proptest-driven fuzzing of token checking: whatever a client sends, it
/// is refused with a reason, never accepted, never a panic, and the reason
/// does not echo the token. Single sign-on is configured against a
/// provider that does not answer, so a JWT look-alike gets as far as it can.
#[test]
fn hostile_bearer_values_are_refused_without_echoing_them() {
    use proptest::test_runner::{Config, TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, settings) = runtime.block_on(async {
        let db = common::sqlite().await;
        let key_holder = Application::build(db.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        // A real token exists, so that lookups have something to miss.
        common::token(&db.store, &key_holder, "admin").await;
        // Port 1 on loopback: connections are refused at once.
        (
            db,
            settings(
                "http://127.0.0.1:1",
                &common::root().join("allocation-rules"),
            ),
        )
    });
    let verifier = allot::service::oidc::Verifier::new(settings.oidc.clone().unwrap());
    let key = allot::service::tokens::TokenKey::random();
    let mut runner = TestRunner::new(Config {
        cases: allot_core::domain::sample::fuzz_cases(256),
        ..Config::default()
    });
    runner
        .run(&hostile_authorization(), |value| {
            let answer = runtime.block_on(allot::service::tokens::authenticate(
                &db.store,
                &settings,
                &key,
                Some(&verifier),
                Some(&value),
                chrono::Utc::now(),
            ));
            let e = match answer {
                Ok(identity) => panic!("accepted {value:?} as {identity:?}"),
                Err(e) => e.to_string(),
            };
            let token = value.strip_prefix("Bearer ").unwrap_or(&value).trim();
            if token.len() >= 24 {
                proptest::prop_assert!(!e.contains(token), "the reason echoes the token: {e}");
            }
            proptest::prop_assert!(e.len() < 1_000, "a reason of {} bytes", e.len());
            Ok(())
        })
        .unwrap();
}
