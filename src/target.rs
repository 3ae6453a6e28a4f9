//! The target of a run: a URL the user gave, or the in-repo backend started
//! in-process on an ephemeral port with a throw-away embedded database, so
//! `postdeploy verify` on a fresh clone has something real to check.

use anyhow::Context as _;

pub enum Target {
    Remote(url::Url),
    Local {
        url: url::Url,
        server: backend::Server,
        _data: tempfile::TempDir,
    },
}

impl Target {
    pub async fn resolve(given: Option<&str>) -> anyhow::Result<Target> {
        match given {
            Some(t) => {
                let url = url::Url::parse(t).with_context(|| format!("invalid --target `{t}`"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    anyhow::bail!("--target must be an http:// or https:// URL, got `{t}`");
                }
                Ok(Target::Remote(url))
            }
            None => {
                let data = tempfile::tempdir().context("creating a temporary data directory")?;
                let log = data.path().join("backend.log");
                log_to(&log)?;
                let config = backend::Config::embedded(data.path());
                let server = backend::start(config, ([127, 0, 0, 1], 0).into())
                    .await
                    .context("starting the in-repo backend")?;
                let url = url::Url::parse(&server.base_url())?;
                Ok(Target::Local {
                    url,
                    server,
                    _data: data,
                })
            }
        }
    }

    pub fn url(&self) -> &url::Url {
        match self {
            Target::Remote(u) => u,
            Target::Local { url, .. } => url,
        }
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        if let Target::Local { server, .. } = self {
            server.shutdown().await?;
        }
        Ok(())
    }

    /// The embedded backend's log file (what `${local_log}` names).
    pub fn log_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Target::Remote(_) => None,
            Target::Local { _data, .. } => Some(_data.path().join("backend.log")),
        }
    }
}

/// Sends the embedded backend's log (its `tracing` events, as its binary
/// would print them) to `path`, so that scenarios can review it the way the
/// agenda reviews CloudWatch. The subscriber is process-wide: a process
/// that already has one (a test harness) keeps it, and the file stays empty.
fn log_to(path: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating the backend log {}", path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("backend=info"))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}
