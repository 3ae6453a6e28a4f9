//! The figures a run is judged by, named once. An SLO bounds them and the
//! regression gate compares them with a baseline; both read the same
//! spellings through one parser, so `p95` or `error_rate` cannot mean one
//! thing on `--slo` and another on `--regress`. Which metrics each of them
//! accepts is the caller's check ([`Metric::as_slo`],
//! [`Metric::as_tolerance`]).
//!
//! Also here: a tolerance (how much worse a metric may get), because its
//! text is in the metric's own units and the scenario validator checks it
//! before anything is sent.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// What an objective measures, or what the gate compares.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    ErrorRate,
    /// Throughput (requests per second); a lower bound (`min_rps`).
    Rps,
    /// The achieved rate the regression gate compares: completed responses
    /// per second, so it is not the SLO's `rps` (every request sent).
    Rate,
    /// 5xx answers counted by the server's own metrics; whole run only.
    #[serde(rename = "server_5xx")]
    Server5xx,
}

impl Metric {
    /// The metrics the regression gate compares, in report order; a closed
    /// model run compares all but the last (its rate is the users' pace).
    pub const TOLERANCE: [Metric; 5] = [
        Metric::P50,
        Metric::P95,
        Metric::P99,
        Metric::ErrorRate,
        Metric::Rate,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::Max => "max",
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
            Metric::Rate => "rate",
            Metric::Server5xx => "server_5xx",
        }
    }

    /// Every spelling `--slo`, `--regress` and a scenario's `slo:` and
    /// `regress:` keys accept. `rps` is the SLO's throughput; the gate
    /// reads it as its own achieved rate through [`Metric::as_tolerance`].
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "p50" | "median" => Metric::P50,
            "p90" => Metric::P90,
            "p95" => Metric::P95,
            "p99" => Metric::P99,
            "max" => Metric::Max,
            "error_rate" | "errors" | "error-rate" => Metric::ErrorRate,
            "rps" | "min_rps" => Metric::Rps,
            "rate" => Metric::Rate,
            "server_5xx" => Metric::Server5xx,
            _ => return None,
        })
    }

    /// The metric as an SLO bounds it: the gate's achieved rate is no
    /// objective (an SLO's throughput is `rps`).
    pub fn as_slo(self) -> Option<Metric> {
        (self != Metric::Rate).then_some(self)
    }

    /// The metric as the regression gate compares it: throughput is its
    /// achieved rate; p90, max and the server's 5xx count are not compared.
    pub fn as_tolerance(self) -> Option<Metric> {
        match self {
            Metric::Rps => Some(Metric::Rate),
            m if m.is_tolerance() => Some(m),
            _ => None,
        }
    }

    /// One of the metrics the regression gate compares.
    pub fn is_tolerance(self) -> bool {
        Metric::TOLERANCE.contains(&self)
    }

    /// Latency and errors get worse upwards; throughput downwards.
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Rps | Metric::Rate)
    }

    /// Quantile of a latency metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::P50 => Some(0.50),
            Metric::P90 => Some(0.90),
            Metric::P95 => Some(0.95),
            Metric::P99 => Some(0.99),
            Metric::Max => Some(1.0),
            _ => None,
        }
    }

    /// Unit of `threshold` and `actual` in results and summary.json, and of
    /// the gate's values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::ErrorRate => "ratio",
            Metric::Rps => "requests/s",
            Metric::Rate => "req/s",
            Metric::Server5xx => "responses",
            _ => "ms",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An allowance: the larger of `pct` % of the baseline and `abs` in the
/// metric's unit (ms, ratio, req/s).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Tolerance {
    pub pct: Option<f64>,
    pub abs: Option<f64>,
}

impl Tolerance {
    /// The allowance in the metric's unit for a baseline value.
    pub fn allowance(&self, baseline: f64) -> f64 {
        let rel = self.pct.map(|p| p / 100.0 * baseline.abs()).unwrap_or(0.0);
        rel.max(self.abs.unwrap_or(0.0))
    }

    pub fn describe(&self, metric: Metric) -> String {
        let sign = if metric.higher_is_worse() { "+" } else { "-" };
        let mut parts = Vec::new();
        if let Some(p) = self.pct {
            parts.push(format!("{sign}{p}%"));
        }
        if let Some(a) = self.abs {
            parts.push(match metric {
                Metric::ErrorRate => format!("{sign}{}pt", a * 100.0),
                Metric::Rate => format!("{sign}{a}/s"),
                _ => format!("{sign}{a}ms"),
            });
        }
        if parts.is_empty() {
            "0".into()
        } else {
            parts.join(",")
        }
    }
}

/// `+10%`, `+5ms`, `+1.5s`, `+0.1pt`, `-5%`, `-20/s`, comma-separated.
///
/// Latency amounts are durations as the scenario format writes them; the
/// caller hands in that parser, so this layer stays below the scenario's.
pub fn parse_tolerance(
    m: Metric,
    text: &str,
    parse_duration: fn(&str) -> Result<Duration, String>,
) -> Result<Tolerance, String> {
    let mut t = Tolerance::default();
    for raw in text.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err("empty tolerance".into());
        }
        let (negative, body) = match item.as_bytes()[0] {
            b'+' => (false, &item[1..]),
            b'-' => (true, &item[1..]),
            _ => (!m.higher_is_worse(), item),
        };
        if negative == m.higher_is_worse() {
            return Err(format!(
                "`{item}`: {m} gets worse {}, so its tolerance is written with `{}`",
                if m.higher_is_worse() {
                    "upwards"
                } else {
                    "downwards"
                },
                if m.higher_is_worse() { "+" } else { "-" }
            ));
        }
        let num = |s: &str| -> Result<f64, String> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("`{item}` is not a number with a unit"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("`{item}` must be a finite amount of 0 or more"));
            }
            Ok(v)
        };
        if let Some(p) = body.strip_suffix('%') {
            t.pct = Some(num(p)?);
            continue;
        }
        match m {
            Metric::ErrorRate => {
                let p = body
                    .strip_suffix("pt")
                    .or_else(|| body.strip_suffix("pp"))
                    .ok_or_else(|| {
                        format!("`{item}`: an error-rate tolerance is in points (`+0.1pt`) or relative (`+10%`)")
                    })?;
                t.abs = Some(num(p)? / 100.0);
            }
            Metric::Rate => {
                let p = body.strip_suffix("/s").ok_or_else(|| {
                    format!("`{item}`: a rate tolerance is relative (`-5%`) or in requests per second (`-20/s`)")
                })?;
                t.abs = Some(num(p)?);
            }
            _ => {
                let d = parse_duration(body).map_err(|_| {
                    format!(
                        "`{item}`: a latency tolerance is relative (`+10%`) or a duration (`+5ms`)"
                    )
                })?;
                t.abs = Some(d.as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling either former parser accepted, with what it meant
    /// there: (text, as an SLO, as a tolerance); None where it was refused.
    #[test]
    fn every_former_spelling_means_what_it_meant() {
        use Metric::*;
        let cases: &[(&str, Option<Metric>, Option<Metric>)] = &[
            ("p50", Some(P50), Some(P50)),
            ("median", Some(P50), Some(P50)),
            ("p90", Some(P90), None),
            ("p95", Some(P95), Some(P95)),
            ("P99", Some(P99), Some(P99)),
            ("max", Some(Max), None),
            ("error_rate", Some(ErrorRate), Some(ErrorRate)),
            ("errors", Some(ErrorRate), Some(ErrorRate)),
            ("error-rate", Some(ErrorRate), Some(ErrorRate)),
            ("rps", Some(Rps), Some(Rate)),
            ("min_rps", Some(Rps), Some(Rate)),
            ("rate", None, Some(Rate)),
            (" rate ", None, Some(Rate)),
            ("server_5xx", Some(Server5xx), None),
            ("p97", None, None),
        ];
        for (text, slo, tol) in cases {
            let m = Metric::parse(text);
            assert_eq!(m.and_then(Metric::as_slo), *slo, "{text} as an SLO");
            assert_eq!(
                m.and_then(Metric::as_tolerance),
                *tol,
                "{text} as a tolerance"
            );
        }
    }

    #[test]
    fn printed_and_persisted_names_are_the_keys() {
        for m in [
            Metric::P50,
            Metric::P90,
            Metric::P95,
            Metric::P99,
            Metric::Max,
            Metric::ErrorRate,
            Metric::Rps,
            Metric::Rate,
            Metric::Server5xx,
        ] {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.key()));
            assert_eq!(m.to_string(), m.key());
            assert_eq!(serde_json::from_str::<Metric>(&json).unwrap(), m);
            assert_eq!(Metric::parse(m.key()), Some(m));
        }
    }
}
