//! `Application`: the API server bound to its listener. Tests build it on
//! port 0 against a fresh database and talk to it over real HTTP.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::http::{AppState, router};
use crate::store::Store;

pub struct Application {
    listener: TcpListener,
    state: AppState,
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
            },
        })
    }

    /// Serves the configured sources too (`/api/v1/imports`).
    pub fn with_settings(mut self, settings: crate::config::Settings) -> Application {
        self.state.settings = Some(std::sync::Arc::new(settings));
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; in-flight requests finish first.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
    }
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
