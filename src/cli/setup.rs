//! What `verify` and `load` do before their first request, written once:
//! read and validate the scenarios, parse variables and headers, register
//! every secret of the run, apply the tag filters, and decide the target.
//! Every failure here is an [`Error`] with exit code 2: nothing was sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{HeaderName, HeaderValue};

use super::args::{Common, RunArgs};
use crate::error::Error;
use crate::http::parse_header;
use crate::provenance::Provenance;
use crate::scenario::{self, ReadOptions, ScenarioFile};
use crate::target::Target;
use crate::tf::TfOutputs;

/// The run's variables: those from elsewhere (`tf.*`), overridden by
/// `--var` and `--secret-var` (the secret ones registered).
pub fn run_vars(
    c: &Common,
    mut from_elsewhere: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    from_elsewhere.extend(vars_of(c)?);
    Ok(from_elsewhere)
}

/// Reads and validates the scenario files named on the command line (or
/// `scenarios/`), every problem of every file at once; `vars` count as
/// defined.
pub fn read_scenarios_with(
    c: &Common,
    vars: BTreeMap<String, String>,
) -> Result<Vec<ScenarioFile>, Error> {
    let mut paths = c.scenarios.clone();
    if paths.is_empty() {
        if !Path::new("scenarios").is_dir() {
            return Err(Error::usage(
                "no scenario files given and ./scenarios does not exist",
            ));
        }
        paths.push(PathBuf::from("scenarios"));
    }
    let mut schema_dirs = c.schema_dirs.clone();
    if schema_dirs.is_empty() && Path::new("schemas").is_dir() {
        schema_dirs.push(PathBuf::from("schemas"));
    }
    scenario::read_all(&paths, &ReadOptions { schema_dirs, vars }).map_err(Error::Scenarios)
}

/// `--var` and `--secret-var` values; the secret ones are registered.
fn vars_of(c: &Common) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for (raw, secret, flag) in c
        .vars
        .iter()
        .map(|v| (v, false, "--var"))
        .chain(c.secret_vars.iter().map(|v| (v, true, "--secret-var")))
    {
        if secret {
            // Before parsing: the error below must not show it either.
            crate::secrets::register(raw.split_once('=').map_or(raw.as_str(), |(_, v)| v));
        }
        let (k, v) = raw
            .split_once('=')
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                Error::usage(format!(
                    "{flag} `{}` must look like name=value",
                    crate::secrets::redact(raw)
                ))
            })?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Everything a run needs decided before the target is touched.
pub struct RunSetup {
    pub loaded: Vec<ScenarioFile>,
    /// `--var`, `--secret-var` and every `tf.PATH` of `--tf-outputs`.
    pub vars: BTreeMap<String, String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub target: TargetChoice,
    /// `--cacert`'s certificates, read before anything is sent.
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Collected once; every report carries it.
    pub provenance: Provenance,
}

/// Where the run goes, decided before anything starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// The in-repo backend on an embedded database, started for the run.
    Local,
    Remote(url::Url),
}

impl TargetChoice {
    /// `--target` as given; without one, the local backend for a person at
    /// a terminal, and a usage error in CI, where a missing target is an
    /// unset variable or a typo and a green gate would look at nothing.
    pub fn decide(given: Option<&str>, in_ci: bool) -> Result<TargetChoice, Error> {
        match given.map(str::trim) {
            None | Some("") if in_ci => Err(Error::NoTargetInCi),
            None | Some("") | Some("local") => Ok(TargetChoice::Local),
            Some(t) => {
                let url = url::Url::parse(t)
                    .map_err(|e| Error::usage(format!("invalid --target `{t}`: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(Error::usage(format!(
                        "--target must be an http:// or https:// URL (or `local`), got `{t}`"
                    )));
                }
                Ok(TargetChoice::Remote(url))
            }
        }
    }

    /// Starts the local backend, or just names the remote target.
    pub async fn resolve(&self) -> Result<Target, Error> {
        let given = match self {
            TargetChoice::Local => None,
            TargetChoice::Remote(u) => Some(u.as_str()),
        };
        Target::resolve(given).await.map_err(Error::Internal)
    }

    pub fn is_local(&self) -> bool {
        matches!(self, TargetChoice::Local)
    }
}

/// `CI` as CI systems set it (`true`, `1`, a name); `false`/`0` are off.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            !v.is_empty() && v != "false" && v != "0"
        })
        .unwrap_or(false)
}

impl RunSetup {
    pub fn new(common: &Common, run: &RunArgs) -> Result<RunSetup, Error> {
        // Header values first: a malformed one must not be echoed either.
        for raw in &run.headers {
            crate::secrets::register(raw.split_once(':').map_or(raw.as_str(), |(_, v)| v.trim()));
        }
        // Sensitive outputs are secrets before anything can print them.
        let tf = run.tf_outputs.as_deref().map(TfOutputs::read).transpose()?;
        if let Some(tf) = &tf {
            tf.register_secrets();
        }
        let labels = crate::provenance::parse_labels(&run.labels).map_err(Error::Usage)?;
        let ca_certs = match run.cacert.as_deref() {
            Some(path) if !path.as_os_str().is_empty() => crate::tls::read_ca_file(path)
                .map_err(|e| Error::usage(format!("{e}; nothing was sent")))?,
            _ => Vec::new(),
        };
        let provenance =
            Provenance::from_env().with_flags(run.tf_workspace.as_deref(), run.tf_serial, &labels);
        let vars = run_vars(common, tf.as_ref().map(TfOutputs::vars).unwrap_or_default())?;
        let loaded = read_scenarios_with(common, vars.clone())?;
        let headers = run
            .headers
            .iter()
            .map(|h| {
                let h = TfOutputs::render_flag(tf.as_ref(), "--header", h)?;
                crate::secrets::register(h.split_once(':').map_or(h.as_str(), |(_, v)| v.trim()));
                parse_header(&h)
                    .map_err(|e| Error::usage(format!("--header: {}", crate::secrets::redact(&e))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let given = run
            .target
            .as_deref()
            .map(|t| TfOutputs::render_flag(tf.as_ref(), "--target", t))
            .transpose()?;
        let target = TargetChoice::decide(given.as_deref(), in_ci())?;
        let setup = RunSetup {
            loaded,
            vars,
            headers,
            target,
            ca_certs,
            provenance,
        };
        let selected = setup.selected(run)?;
        // `${env.X}` values, wherever they are used: requests, bodies,
        // readiness polling, teardown.
        for l in &selected {
            for name in &l.env_refs {
                if let Ok(v) = std::env::var(name) {
                    crate::secrets::register(&v);
                }
            }
            // Variables the scenario marks secret; captured ones are
            // registered when captured (verify::step).
            for name in &l.scenario.secrets {
                if let Some(v) = setup.vars.get(name).or(l.scenario.vars.get(name)) {
                    crate::secrets::register(v);
                }
            }
        }
        Ok(setup)
    }

    /// The scenarios the tag filters keep; none is a usage error.
    pub fn selected(&self, run: &RunArgs) -> Result<Vec<&ScenarioFile>, Error> {
        let s = crate::verify::select(
            &self.loaded,
            &run.tags,
            &run.skip_tags,
            &self.vars,
            self.target.is_local(),
        );
        if s.is_empty() {
            return Err(Error::usage("no scenario matches the tag filters"));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_without_a_target_is_refused() {
        assert!(matches!(
            TargetChoice::decide(None, true),
            Err(Error::NoTargetInCi)
        ));
        assert!(matches!(
            TargetChoice::decide(Some(" "), true),
            Err(Error::NoTargetInCi)
        ));
        assert_eq!(
            TargetChoice::decide(None, false).unwrap(),
            TargetChoice::Local
        );
        assert_eq!(
            TargetChoice::decide(Some("local"), true).unwrap(),
            TargetChoice::Local
        );
        assert!(matches!(
            TargetChoice::decide(Some("http://x.test/"), true).unwrap(),
            TargetChoice::Remote(_)
        ));
        assert!(TargetChoice::decide(Some("ftp://x"), false).is_err());
    }
}
