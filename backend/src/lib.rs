//! The backend under test: a drop-in Rust rewrite of the Projects service
//! (health, Prometheus metrics, Projects CRUD) on PostgreSQL, or on an
//! embedded SQLite file when no database is configured.
//!
//! A library first, so the harness can start it in-process on an ephemeral
//! port ([`start`]) and tests can drive the router directly ([`app`]). The
//! library never installs a global tracing subscriber or metrics recorder.

pub mod config;
pub mod error;
mod lab;
pub mod model;
mod probe;
mod process;
mod routes;
mod state;
pub mod store;
mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Cli, Command, Config, Database, LabConfig};
pub use lab::{ErrorRule, LabStatus, LatencyRule};
pub use state::AppState;

/// Reported by health and `backend_info`; the original's version.
pub const VERSION: &str = "1.0.0";

/// The full router for `state` (for `tower::ServiceExt::oneshot` tests).
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// A running server. Dropping it leaves the server running until the runtime
/// ends; call [`Server::shutdown`] to stop it gracefully.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (loopback even when bound to all interfaces).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish, then closes the pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let served = self.task.await.context("server task panicked")?;
        self.state.store().close().await;
        served.context("serving HTTP")?;
        Ok(())
    }
}

/// Connects to the database, applies migrations, binds `bind` and serves in a
/// spawned task.
pub async fn start(config: Config, bind: SocketAddr) -> anyhow::Result<Server> {
    let state = AppState::new(config).await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let router = app(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(
        database = state.config().database.kind(),
        environment = %state.config().environment,
        lab = state.config().lab_active(),
        "Backend API running on port {}",
        addr.port()
    );
    Ok(Server {
        addr,
        state,
        stop,
        task,
    })
}

/// The binary's main loop: serve on all interfaces at `config.port` until
/// SIGTERM or Ctrl-C, then shut down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let bind = SocketAddr::from(([0, 0, 0, 0], config.port));
    let server = start(config, bind).await?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    server.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
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
}

/// The container HEALTHCHECK: true when `GET /api/health` on the local port
/// answers 200 within 3 seconds. A raw HTTP/1.0 exchange, so the runtime
/// image needs no curl and the binary no HTTP client.
pub async fn healthcheck(port: u16) -> bool {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"GET /api/health HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let m = s.read(&mut head[n..]).await?;
            if m == 0 {
                break;
            }
            n += m;
        }
        std::io::Result::Ok(
            head[..n].starts_with(b"HTTP/1.1 200") || head[..n].starts_with(b"HTTP/1.0 200"),
        )
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), exchange).await,
        Ok(Ok(true))
    )
}
