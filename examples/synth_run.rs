//! Writes a synthetic load-run directory (`summary.json` + `latency.hlog`)
//! for `scripts/bench-regress`: hour-long runs with many request names,
//! and a thousand short ones, without spending an hour per run. Latencies
//! are log-normal around a per-second level that follows an AR(1) process,
//! so the interval log has the time structure real runs have. It streams
//! one second at a time, so an hour of 20 names needs a few MB of memory.
//!
//! Only the fields `compare` and `history import` read are written; this
//! is a benchmark fixture, not a report.
//!
//! cargo run --release --example synth_run -- OUT_DIR NAMES SECONDS RATE_PER_NAME SEED [SHIFT_PCT] [START_RFC3339] [COMMIT]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use postdeploy::measure::codec::encode;
use postdeploy::measure::new_histogram;
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 5 {
        anyhow::bail!(
            "usage: synth_run OUT_DIR NAMES SECONDS RATE_PER_NAME SEED [SHIFT_PCT] [START] [COMMIT]"
        );
    }
    let out = std::path::PathBuf::from(&a[0]);
    let names: usize = a[1].parse()?;
    let secs: u64 = a[2].parse()?;
    let rate: u64 = a[3].parse()?;
    let seed: u64 = a[4].parse()?;
    let shift = 1.0
        + a.get(5)
            .map(|s| s.parse::<f64>())
            .transpose()?
            .unwrap_or(0.0)
            / 100.0;
    let start = match a.get(6) {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)?.with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let commit = a.get(7).cloned();
    std::fs::create_dir_all(&out)?;

    let names: Vec<String> = (0..names).map(|i| format!("request-{i:02}")).collect();
    let mut rng = Rng(seed);
    let mut totals: BTreeMap<&str, Histogram<u64>> = names
        .iter()
        .map(|n| (n.as_str(), new_histogram()))
        .collect();
    let mut second: Histogram<u64> = new_histogram();
    let mut levels = vec![0.0f64; names.len()];

    let mut hlog = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let st: SystemTime = start.into();
    IntervalLogWriterBuilder::new()
        .add_comment("[Logged with postdeploy synth_run]")
        .with_start_time(st)
        .with_base_time(st)
        .begin_log_with(&mut hlog, &mut ser)?;
    let mut w = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut hlog, &mut ser)?;
    for s in 0..secs {
        for (i, name) in names.iter().enumerate() {
            // AR(1), phi 0.8: slow seconds come in runs.
            levels[i] = 0.8 * levels[i] + 0.6f64.sqrt() * 0.25 * rng.normal();
            let base_ms = 2.0 + i as f64;
            second.reset();
            for _ in 0..rate {
                let ms = base_ms * shift * (levels[i] + 0.35 * rng.normal()).exp();
                second.saturating_record((ms * 1000.0).max(1.0) as u64);
            }
            if let Some(t) = totals.get_mut(name.as_str()) {
                t.add(&second)?;
            }
            let tag = Tag::new(name).ok_or_else(|| anyhow::anyhow!("bad tag"))?;
            w.write_histogram(
                &second,
                Duration::from_secs(s),
                Duration::from_secs(1),
                Some(tag),
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
    }
    drop(w);
    std::fs::write(out.join("latency.hlog"), &hlog)?;

    let requests: serde_json::Map<String, serde_json::Value> = totals
        .iter()
        .map(|(n, h)| {
            (
                n.to_string(),
                json!({
                    "count": h.len(), "failed": 0, "errors": {},
                    "histogram": encode(h), "hlog_tag": n,
                }),
            )
        })
        .collect();
    let ended = start + chrono::Duration::seconds(secs as i64);
    let doc = json!({
        "format": "postdeploy.load/v2",
        "tool": { "name": "postdeploy", "version": env!("CARGO_PKG_VERSION") },
        "run": {
            "uid": format!("synth-{seed}-{}", start.timestamp()),
            "env": "synthetic",
            "target": "http://synthetic.invalid/",
            "target_local": false,
            "provenance": { "commit": commit },
            "model": "closed", "users": 16, "rate": null,
            "duration_s": secs as f64, "elapsed_s": secs as f64,
            "scenarios": [{ "name": "synthetic", "sha256": "0".repeat(64) }],
            "started_at": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "ended_at": ended.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "stopped_by": "duration",
        },
        "requests": requests,
        "slo": { "results": [{ "scope": "*", "metric": "p95", "threshold": 50.0, "unit": "ms", "passed": true }] },
        "passed": true,
        "files": { "hlog": "latency.hlog" },
    });
    let mut f = std::fs::File::create(out.join("summary.json"))?;
    f.write_all(serde_json::to_string(&doc)?.as_bytes())?;
    Ok(())
}
