//! `Application`: the API server bound to its listener. Tests build it on
//! port 0 against a fresh database and talk to it over real HTTP.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that
//! every connection is bounded: a request head must arrive within
//! [`Limits::header_read_timeout`] (which also closes a kept-alive
//! connection left idle that long), a body without a pause of
//! [`Limits::body_read_timeout`] and whole within
//! [`Limits::body_deadline`], a head may not exceed
//! [`Limits::max_head_bytes`], and at most [`Limits::max_connections`] are
//! served at once. Requests hyper refuses itself still get the documented
//! JSON error (`http::wire`). A request is answered within
//! [`Limits::request_timeout`], and at most [`Limits::max_expensive`]
//! previews and source runs are served at once (see `http`). A request
//! whose client goes away is dropped with everything it computes: no
//! handler hands its work to a thread of its own (a source run is the
//! exception: it finishes and is recorded).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::http::{AppState, router_with};
use crate::service::tokens::TokenKey;
use crate::store::Store;

/// Bounds on what one client can hold of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to receive a whole request head, from the moment the server
    /// waits for one: a slow client, and a kept-alive connection idle for
    /// this long, are disconnected.
    pub header_read_timeout: Duration,
    /// Time allowed between pieces of a request body (408 after it).
    pub body_read_timeout: Duration,
    /// Time allowed for a whole request body, however it trickles in
    /// (408 after it): a client sending a byte every few seconds holds a
    /// connection no longer than this.
    pub body_deadline: Duration,
    /// The largest request head read (request line and headers): 431
    /// beyond it. Within it, a target over [`Limits::max_uri_bytes`] gets
    /// 414 and headers over [`Limits::max_header_bytes`] 431. All answer
    /// the documented JSON (see `http::wire`).
    pub max_head_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time a request may take in all, from its head to its answer
    /// (503 `timed_out` after it); source runs are not bounded by it (they
    /// go on in the background and are listed at `GET /api/v1/imports`).
    pub request_timeout: Duration,
    /// Time a rules preview may compute (503 `timed_out` after it).
    pub preview_budget: Duration,
    /// Previews and source runs served at once; more are answered 503
    /// `unavailable` with `Retry-After`.
    pub max_expensive: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            body_deadline: Duration::from_secs(60),
            max_head_bytes: 256 * 1024,
            max_uri_bytes: 16 * 1024,
            max_header_bytes: 64 * 1024,
            max_connections: 512,
            request_timeout: Duration::from_secs(60),
            preview_budget: Duration::from_secs(30),
            max_expensive: 2,
        }
    }
}

/// How long shutting down waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    /// `/metrics` on an address of its own (`metrics = "open"`), bound when
    /// the settings are applied; the error is reported by
    /// [`Application::metrics_addr`] and [`Application::run_until`].
    metrics: Option<std::io::Result<std::net::TcpListener>>,
}

impl Application {
    /// Binds `listen` (use port 0 for a free port).
    pub async fn build(store: Store, listen: SocketAddr) -> std::io::Result<Application> {
        let listener = TcpListener::bind(listen).await?;
        Ok(Application {
            listener,
            state: AppState {
                store,
                settings: None,
                auth: Arc::new(crate::http::Auth::new(TokenKey::random(), None)),
                work: Default::default(),
                telemetry: Default::default(),
            },
            limits: Limits::default(),
            metrics: None,
        })
    }

    /// Serves the configured sources too (`/api/v1/imports`), accepts
    /// single sign-on tokens when `[auth.oidc]` is configured, and bounds
    /// clients by `[server]`.
    pub fn with_settings(mut self, settings: crate::config::Settings) -> Application {
        let oidc = settings
            .oidc
            .clone()
            .map(crate::service::oidc::Verifier::new);
        self.state.auth = Arc::new(crate::http::Auth::new(self.state.auth.key.clone(), oidc));
        self.limits = settings.server;
        self.metrics = match settings.metrics_endpoint {
            crate::config::MetricsEndpoint::Open(at) => Some(
                std::net::TcpListener::bind(at)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("cannot listen on `{at}` for `/metrics` (`server.metrics_listen`): {e}"),
                        )
                    }),
            ),
            _ => None,
        };
        self.state.settings = Some(std::sync::Arc::new(settings));
        self
    }

    /// The address `/metrics` is served on by itself (`metrics = "open"`),
    /// or the error binding it.
    pub fn metrics_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        match &self.metrics {
            None => Ok(None),
            Some(Ok(listener)) => listener.local_addr().map(Some),
            Some(Err(e)) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Checks tokens with `key` (the one `allot token create` hashed them
    /// with); without, a random key that only tokens made with
    /// [`Application::token_key`] match.
    pub fn with_token_key(mut self, key: TokenKey) -> Application {
        let oidc = self
            .state
            .settings
            .as_ref()
            .and_then(|s| s.oidc.clone())
            .map(crate::service::oidc::Verifier::new);
        self.state.auth = Arc::new(crate::http::Auth::new(key, oidc));
        self
    }

    /// The application's counters (`GET /metrics`), which its scheduler
    /// shares.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.state.telemetry
    }

    /// The key tokens are checked with.
    pub fn token_key(&self) -> &TokenKey {
        &self.state.auth.key
    }

    /// Replaces the default connection limits.
    pub fn with_limits(mut self, limits: Limits) -> Application {
        self.limits = limits;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; in-flight requests finish first
    /// (for up to [`SHUTDOWN_GRACE`]).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application {
            listener,
            state,
            limits,
            metrics,
        } = self;
        // One shutdown for the API's address and the metrics address.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics = match metrics {
            None => None,
            Some(bound) => {
                let listener = TcpListener::from_std(bound?)?;
                let router = crate::http::open_metrics_router(state.clone());
                let stopped = stopped.clone();
                Some(tokio::spawn(serve(listener, router, limits, async move {
                    wait_for(stopped).await
                })))
            }
        };
        let router = router_with(state, limits);
        let result = serve(listener, router, limits, async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
        if let Some(task) = metrics {
            let _ = task.await;
        }
        result
    }
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn wait_for(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes; in-flight requests finish first (for up to
/// [`SHUTDOWN_GRACE`]).
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let stream = crate::http::wire::JsonErrors::new(stream, limits.max_head_bytes);
        // Handlers see the client's address (failed authentications
        // are counted per address).
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    // No new connections from here on.
    drop(listener);
    // In-flight requests finish; a connection still sending its head
    // is given up to the header timeout; nothing waits past the grace.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace; closing them");
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
