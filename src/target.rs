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
}
