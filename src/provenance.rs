//! Where a run came from: the commit, branch and pipeline run a CI system
//! names in its environment, the deploy, the Terraform workspace and state
//! serial, and the user's labels. Collected once per run and carried
//! unchanged into every report (summary.json, the verify JSON, JUnit
//! properties, report.html, the console), so a result can always be tied
//! to the deployment it judged. A plain serializable struct: a future
//! run-history store reads the same fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// The CI system whose variables named the commit (`github-actions`,
    /// `gitlab-ci`, `jenkins`, `circleci`, `buildkite`).
    pub ci: Option<String>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    /// The pipeline run's page.
    pub run_url: Option<String>,
    pub deploy_id: Option<String>,
    pub tf_workspace: Option<String>,
    pub tf_serial: Option<u64>,
    pub labels: BTreeMap<String, String>,
}

/// Per CI system: its name and the variables of commit, branch, run URL.
/// A system counts when its commit variable is set; the first one wins.
const SYSTEMS: &[(&str, &str, &[&str], &[&str])] = &[
    // On a pull request GITHUB_REF_NAME is `123/merge`; GITHUB_HEAD_REF is
    // the branch.
    (
        "github-actions",
        "GITHUB_SHA",
        &["GITHUB_HEAD_REF", "GITHUB_REF_NAME"],
        &[],
    ),
    (
        "gitlab-ci",
        "CI_COMMIT_SHA",
        &["CI_COMMIT_REF_NAME"],
        &["CI_PIPELINE_URL"],
    ),
    (
        "jenkins",
        "GIT_COMMIT",
        &["BRANCH_NAME", "GIT_BRANCH"],
        &["BUILD_URL"],
    ),
    (
        "circleci",
        "CIRCLE_SHA1",
        &["CIRCLE_BRANCH"],
        &["CIRCLE_BUILD_URL"],
    ),
    (
        "buildkite",
        "BUILDKITE_COMMIT",
        &["BUILDKITE_BRANCH"],
        &["BUILDKITE_BUILD_URL"],
    ),
];

impl Provenance {
    pub fn from_env() -> Provenance {
        Provenance::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any variable source; empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Provenance {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let first = |keys: &[&str]| keys.iter().find_map(|k| get(k));
        let mut p = Provenance {
            deploy_id: first(&["POSTDEPLOY_DEPLOY_ID", "DEPLOY_ID"]),
            tf_workspace: get("TF_WORKSPACE"),
            ..Provenance::default()
        };
        if let Some((name, commit, branch, url)) = SYSTEMS
            .iter()
            .find(|(_, commit, _, _)| get(commit).is_some())
        {
            p.ci = Some((*name).to_string());
            p.commit = get(commit);
            p.branch = first(branch);
            p.run_url = first(url);
            if *name == "github-actions" {
                p.run_url = match (
                    get("GITHUB_SERVER_URL"),
                    get("GITHUB_REPOSITORY"),
                    get("GITHUB_RUN_ID"),
                ) {
                    (Some(s), Some(r), Some(id)) => {
                        Some(format!("{}/{r}/actions/runs/{id}", s.trim_end_matches('/')))
                    }
                    _ => None,
                };
            }
        }
        p
    }

    /// `--tf-workspace`, `--tf-serial` and `--label` over the environment.
    pub fn with_flags(
        mut self,
        tf_workspace: Option<&str>,
        tf_serial: Option<u64>,
        labels: &BTreeMap<String, String>,
    ) -> Provenance {
        if let Some(w) = tf_workspace {
            self.tf_workspace = Some(w.to_string());
        }
        if tf_serial.is_some() {
            self.tf_serial = tf_serial;
        }
        self.labels.extend(labels.clone());
        self
    }

    /// `name` → value pairs for JUnit `<properties>` and report tables,
    /// set fields only, labels as `label.KEY`.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((k.to_string(), v.clone()));
            }
        };
        put("ci", &self.ci);
        put("commit", &self.commit);
        put("branch", &self.branch);
        put("run_url", &self.run_url);
        put("deploy_id", &self.deploy_id);
        put("tf_workspace", &self.tf_workspace);
        put("tf_serial", &self.tf_serial.map(|s| s.to_string()));
        for (k, v) in &self.labels {
            out.push((format!("label.{k}"), v.clone()));
        }
        out
    }

    /// One console line, or None when nothing is known.
    pub fn line(&self) -> Option<String> {
        let pairs = self.pairs();
        (!pairs.is_empty()).then(|| {
            let body = pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            format!("provenance: {body}")
        })
    }
}

/// `--label key=value` values.
pub fn parse_labels(raw: &[String]) -> Result<BTreeMap<String, String>, String> {
    raw.iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("--label `{l}` must look like key=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_run_url_is_composed_and_pr_branch_preferred() {
        let env: BTreeMap<&str, &str> = [
            ("GITHUB_SHA", "abc"),
            ("GITHUB_REF_NAME", "7/merge"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
            ("CI_PIPELINE_URL", "https://gitlab/p/1"),
        ]
        .into();
        let p = Provenance::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(p.ci.as_deref(), Some("github-actions"));
        assert_eq!(p.branch.as_deref(), Some("feature"));
        assert_eq!(
            p.run_url.as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
        assert!(parse_labels(&["nokey".into()]).is_err());
    }
}
