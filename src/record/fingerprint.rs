//! Which runs may be compared. Latency depends on what was asked of the
//! target as much as on the deploy: 16 users are not 64, a 30-second run
//! does not warm what a 10-minute one does. Two runs are comparable when
//! their fingerprints match; the key holds everything but the duration,
//! which only has to agree within ±10%.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::measure::{Model, Settings};

/// Durations may differ by this fraction and still compare.
pub const DURATION_TOLERANCE: f64 = 0.10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `--env` when given, else the target URL: a staging and a production
    /// deploy are different series even when the URL is the same.
    pub scope: String,
    /// (scenario name, SHA-256 of its file), sorted: editing a scenario
    /// starts a new series.
    pub scenarios: Vec<(String, String)>,
    /// `closed`, `open` or `verify`.
    pub model: String,
    pub users: Option<u32>,
    pub rate: Option<f64>,
    pub duration_s: f64,
}

impl Fingerprint {
    pub fn of_load(s: &Settings, env: Option<&str>) -> Fingerprint {
        let (model, users, rate) = match s.model {
            Model::Closed => ("closed", Some(s.users), None),
            Model::Open => ("open", None, s.rate),
        };
        Fingerprint {
            scope: scope(env, &s.target, s.target_local),
            scenarios: sorted(
                s.scenarios
                    .iter()
                    .map(|i| (i.name.clone(), i.sha256.clone())),
            ),
            model: model.into(),
            users,
            rate,
            duration_s: s.duration.as_secs_f64(),
        }
    }

    pub fn of_verify(
        target: &str,
        local: bool,
        env: Option<&str>,
        scenarios: impl IntoIterator<Item = (String, String)>,
    ) -> Fingerprint {
        Fingerprint {
            scope: scope(env, target, local),
            scenarios: sorted(scenarios),
            model: "verify".into(),
            users: None,
            rate: None,
            duration_s: 0.0,
        }
    }

    /// The store's lookup key: everything but the duration.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.scope.as_bytes());
        h.update([0]);
        for (n, sha) in &self.scenarios {
            h.update(n.as_bytes());
            h.update([0]);
            h.update(sha.as_bytes());
            h.update([0]);
        }
        h.update(self.model.as_bytes());
        h.update([0]);
        if let Some(u) = self.users {
            h.update(format!("users={u}").as_bytes());
        }
        if let Some(r) = self.rate {
            h.update(format!("rate={r}").as_bytes());
        }
        let d = h.finalize();
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Every way `other` differs from this one, for people: empty when the
    /// two runs are comparable.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let mut d = Vec::new();
        if self.scope != other.scope {
            d.push(format!("target/env: {:?} vs {:?}", self.scope, other.scope));
        }
        if self.scenarios != other.scenarios {
            let show = |v: &[(String, String)]| {
                v.iter()
                    .map(|(n, s)| format!("{n}@{}", s.chars().take(12).collect::<String>()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            d.push(format!(
                "scenarios: [{}] vs [{}]",
                show(&self.scenarios),
                show(&other.scenarios)
            ));
        }
        if self.model != other.model {
            d.push(format!("model: {} vs {}", self.model, other.model));
        }
        if self.users != other.users {
            d.push(format!(
                "users: {} vs {}",
                opt(self.users),
                opt(other.users)
            ));
        }
        if self.rate != other.rate {
            d.push(format!("rate: {} vs {}", opt(self.rate), opt(other.rate)));
        }
        if !durations_agree(self.duration_s, other.duration_s) {
            d.push(format!(
                "duration: {} s vs {} s (more than ±{}% apart)",
                self.duration_s,
                other.duration_s,
                DURATION_TOLERANCE * 100.0
            ));
        }
        d
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let load = match (self.users, self.rate) {
            (Some(u), _) => format!("closed {u} users"),
            (_, Some(r)) => format!("open {r} req/s"),
            _ => self.model.clone(),
        };
        let names: Vec<&str> = self.scenarios.iter().map(|(n, _)| n.as_str()).collect();
        if self.model == "verify" {
            return format!("{} · verify · scenarios {}", self.scope, names.join(", "));
        }
        format!(
            "{} · {load} · {} s · scenarios {}",
            self.scope,
            self.duration_s,
            names.join(", ")
        )
    }
}

pub fn durations_agree(a: f64, b: f64) -> bool {
    let hi = a.max(b);
    hi == 0.0 || (a - b).abs() <= DURATION_TOLERANCE * hi
}

/// `--env`, else the target; the embedded backend listens on a new port
/// each run, so its runs share the scope `local`.
pub fn scope(env: Option<&str>, target: &str, local: bool) -> String {
    match env {
        Some(e) => e.to_string(),
        None if local => LOCAL_SCOPE.into(),
        None => target.to_string(),
    }
}

pub const LOCAL_SCOPE: &str = "local";

fn sorted(it: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = it.into_iter().collect();
    v.sort();
    v
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint {
            scope: "staging".into(),
            scenarios: vec![("health".into(), "abc".into())],
            model: "closed".into(),
            users: Some(16),
            rate: None,
            duration_s: 60.0,
        }
    }

    #[test]
    fn duration_within_ten_percent_compares() {
        let a = fp();
        let mut b = fp();
        b.duration_s = 66.0;
        assert!(a.differences(&b).is_empty());
        assert_eq!(a.key(), b.key());
        b.duration_s = 67.0;
        assert_eq!(a.differences(&b).len(), 1);
    }

    #[test]
    fn each_difference_is_named() {
        let a = fp();
        let mut b = fp();
        b.users = Some(32);
        b.scenarios[0].1 = "def".into();
        b.scope = "prod".into();
        let d = a.differences(&b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.iter().any(|x| x.starts_with("users: 16 vs 32")));
        assert!(d.iter().any(|x| x.starts_with("scenarios:")));
        assert!(d.iter().any(|x| x.starts_with("target/env:")));
        assert_ne!(a.key(), b.key());
    }
}
