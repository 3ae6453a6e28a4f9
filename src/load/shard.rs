//! Sharded runs: one load test spread over N processes (pods of a
//! Kubernetes Indexed Job, or machines), each running shard I of N, later
//! added together exactly by `postdeploy merge`.
//!
//! Shards count from 0, as `JOB_COMPLETION_INDEX` does, so the same command
//! line works in every pod. Users, rate and `--max-requests` are split
//! exactly: the shares add up to the whole, remainders going to the lowest
//! indices. The ramp keeps its length, so each shard starts its share of
//! users over the same time and together they ramp as one run would.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable Kubernetes sets in each pod of an Indexed Job.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Most shards one run may have.
pub const MAX_SHARDS: u32 = 1_000;
/// Default `--max-skew`.
pub const DEFAULT_MAX_SKEW: &str = "2s";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error(
        "--shard must be I/N with 0 <= I < N <= {MAX_SHARDS} (I counts from 0, as {INDEX_ENV} does), got `{0}`"
    )]
    Syntax(String),
    #[error(
        "--shards {0} needs the shard index in {INDEX_ENV} (set by Kubernetes in Indexed Jobs) or --shard I/{0}"
    )]
    NoIndex(u32),
    #[error("{INDEX_ENV}={value:?} is not a shard index below --shards {count}")]
    BadIndex { value: String, count: u32 },
    #[error("--shard {given} contradicts --shards {count}")]
    Mismatch { given: String, count: u32 },
    #[error("{what} cannot be split into {count} shards: shard {index} would get none")]
    TooFew {
        what: &'static str,
        count: u32,
        index: u32,
    },
}

impl Shard {
    /// From `--shard I/N`, `--shards N` and the environment's index.
    pub fn resolve(
        shard: Option<&str>,
        shards: Option<u32>,
        env_index: Option<&str>,
    ) -> Result<Option<Shard>, ShardError> {
        let given = shard.map(Shard::parse).transpose()?;
        match (given, shards) {
            (None, None) => Ok(None),
            (Some(s), None) => Ok(Some(s)),
            (Some(s), Some(n)) if s.count == n => Ok(Some(s)),
            (Some(_), Some(n)) => Err(ShardError::Mismatch {
                given: shard.unwrap_or_default().to_string(),
                count: n,
            }),
            (None, Some(n)) => {
                if n == 0 || n > MAX_SHARDS {
                    return Err(ShardError::Syntax(format!("?/{n}")));
                }
                let v = env_index.ok_or(ShardError::NoIndex(n))?;
                let index: u32 = v.trim().parse().map_err(|_| ShardError::BadIndex {
                    value: v.to_string(),
                    count: n,
                })?;
                if index >= n {
                    return Err(ShardError::BadIndex {
                        value: v.to_string(),
                        count: n,
                    });
                }
                Ok(Some(Shard { index, count: n }))
            }
        }
    }

    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// This shard's share of `total` whole things (users, requests).
    pub fn share(self, total: u64) -> u64 {
        let n = u64::from(self.count);
        total / n + u64::from(u64::from(self.index) < total % n)
    }

    /// A share that must not be zero: a shard with nothing to do would
    /// still count as a part of the run.
    fn nonzero(self, what: &'static str, share: u64) -> Result<u64, ShardError> {
        if share == 0 {
            return Err(ShardError::TooFew {
                what,
                count: self.count,
                index: self.index,
            });
        }
        Ok(share)
    }

    /// This shard's share of `users`; every shard needs at least one.
    pub fn users(self, users: u32) -> Result<u32, ShardError> {
        // A share of a u32 fits a u32.
        Ok(self.nonzero("--users", self.share(u64::from(users)))? as u32)
    }

    /// This shard's share of a rate, split in thousandths of a request per
    /// second so the shares add up to the whole exactly (to the CLI's
    /// resolution).
    pub fn rate(self, rate: f64) -> Result<f64, ShardError> {
        let milli = (rate * 1000.0).round().max(0.0) as u64;
        Ok(self.nonzero("--rate", self.share(milli))? as f64 / 1000.0)
    }

    pub fn max_requests(self, max: u64) -> Result<u64, ShardError> {
        self.nonzero("--max-requests", self.share(max))
    }
}

/// When the shards begin, and how late one may be.
#[derive(Debug, Clone, Copy)]
pub struct StartAt {
    pub at: chrono::DateTime<chrono::Utc>,
    pub max_skew: Duration,
}

/// Parses `--start-at` (RFC 3339, e.g. `2026-12-02T12:00:00Z`).
pub fn parse_start_at(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-12-02T12:00:00Z: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_with_remainders_to_the_lowest_indices() {
        for (total, n) in [(10u64, 3u32), (3, 3), (1000, 7), (17, 16)] {
            let shares: Vec<u64> = (0..n)
                .map(|index| Shard { index, count: n }.share(total))
                .collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{shares:?}");
            assert!(shares.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
        }
        let s = |i| Shard { index: i, count: 3 };
        assert_eq!([s(0).share(10), s(1).share(10), s(2).share(10)], [4, 3, 3]);
        let rates: Vec<f64> = (0..3).map(|i| s(i).rate(200.0).unwrap()).collect();
        assert_eq!(rates, vec![66.667, 66.667, 66.666]);
        assert!((rates.iter().sum::<f64>() - 200.0).abs() < 1e-9);
        assert_eq!(
            s(2).users(2),
            Err(ShardError::TooFew {
                what: "--users",
                count: 3,
                index: 2
            })
        );
    }

    #[test]
    fn the_index_comes_from_the_flag_or_the_job() {
        assert_eq!(Shard::resolve(None, None, Some("2")), Ok(None));
        assert_eq!(
            Shard::resolve(Some("1/3"), None, None),
            Ok(Some(Shard { index: 1, count: 3 }))
        );
        assert_eq!(
            Shard::resolve(None, Some(3), Some("2")),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        assert_eq!(
            Shard::resolve(None, Some(3), None),
            Err(ShardError::NoIndex(3))
        );
        assert!(matches!(
            Shard::resolve(None, Some(3), Some("3")),
            Err(ShardError::BadIndex { .. })
        ));
        assert!(matches!(
            Shard::resolve(Some("1/4"), Some(3), None),
            Err(ShardError::Mismatch { .. })
        ));
        for bad in ["3/3", "1", "a/3", "0/0", "-1/2", "1/1001"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
