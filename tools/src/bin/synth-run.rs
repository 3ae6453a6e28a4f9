//! Writes a synthetic load-run directory (`summary.json` + `latency.hlog`)
//! for `scripts/bench-regress`: hour-long runs with many request names,
//! and a thousand short ones, without spending an hour per run. Latencies
//! are log-normal around a per-second level that follows an AR(1) process,
//! so the interval log has the time structure real runs have. It streams
//! one second at a time, so an hour of 20 names needs a few MB of memory.
//!
//! It writes through the run directory's own types (`rundir::summary`,
//! `rundir::hlog`), so the fixture cannot drift from what `compare` and
//! `history import` read; figures they do not read are left at defaults.
//!
//! cargo run --release -p postdeploy-tools --bin synth-run -- OUT_DIR NAMES SECONDS RATE_PER_NAME SEED [SHIFT_PCT] [START_RFC3339] [COMMIT]

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use postdeploy::measure::codec::encode;
use postdeploy::measure::{
    IntervalHistograms, IntervalLog as _, IntervalStats, Model, StopReason, new_histogram,
};
use postdeploy::provenance::Provenance;
use postdeploy::rundir::hlog::HlogStream;
use postdeploy::rundir::summary::{
    Files, NameFigures, Run, ScenarioRef, Slo, SloResultDoc, Summary, Tool,
};
use postdeploy::rundir::{FORMAT, HLOG_FILE, Names, SUMMARY_FILE};

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
    let mut levels = vec![0.0f64; names.len()];

    let mut hlog = HlogStream::create(&out.join(HLOG_FILE))?;
    hlog.begin(start, &names)?;
    for s in 0..secs {
        let mut per_name = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            // AR(1), phi 0.8: slow seconds come in runs.
            levels[i] = 0.8 * levels[i] + 0.6f64.sqrt() * 0.25 * rng.normal();
            let base_ms = 2.0 + i as f64;
            let mut second = new_histogram();
            for _ in 0..rate {
                let ms = base_ms * shift * (levels[i] + 0.35 * rng.normal()).exp();
                second.saturating_record((ms * 1000.0).max(1.0) as u64);
            }
            if let Some(t) = totals.get_mut(name.as_str()) {
                t.add(&second)?;
            }
            let count = second.len();
            per_name.insert(
                name.clone(),
                IntervalStats {
                    histogram: second,
                    count,
                    errors: 0,
                },
            );
        }
        hlog.write(&IntervalHistograms {
            start: Duration::from_secs(s),
            length: Duration::from_secs(1),
            users: 16,
            per_name,
        })?;
    }
    hlog.finish()?;

    let stems = Names::new(&names);
    let requests = totals
        .iter()
        .map(|(n, h)| {
            let stem = stems.stem(n).to_string();
            let figures = NameFigures {
                count: h.len(),
                responses: h.len(),
                histogram: Some(encode(h)),
                hgrm: format!("{stem}.hgrm"),
                hlog_tag: Some(stem),
                ..NameFigures::default()
            };
            (n.to_string(), figures)
        })
        .collect();
    let ended = start + chrono::Duration::seconds(secs as i64);
    let doc = Summary {
        format: FORMAT.into(),
        tool: Tool {
            name: "postdeploy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: Run {
            uid: Some(format!("synth-{seed}-{}", start.timestamp())),
            env: Some("synthetic".into()),
            target: "http://synthetic.invalid/".into(),
            target_local: false,
            git_commit: commit.clone(),
            deploy_id: None,
            provenance: Provenance {
                commit,
                ..Provenance::default()
            },
            model: Model::Closed,
            users: 16,
            rate: None,
            ramp_s: 0.0,
            duration_s: secs as f64,
            max_requests: None,
            regress: BTreeMap::new(),
            scenarios: vec![ScenarioRef {
                name: "synthetic".into(),
                file: String::new(),
                sha256: "0".repeat(64),
                weight: 1,
            }],
            started_at: start,
            ended_at: ended,
            elapsed_s: secs as f64,
            stopped_by: StopReason::Duration.key().into(),
            teardown_abandoned: false,
        },
        histogram_encoding: serde_json::Value::Null,
        requests,
        all: None,
        server: None,
        schedule: None,
        slo: Slo {
            passed: true,
            results: vec![SloResultDoc {
                scope: "*".into(),
                metric: "p95".into(),
                op: "<".into(),
                threshold: 50.0,
                unit: "ms".into(),
                passed: true,
                ..SloResultDoc::default()
            }],
        },
        regression: None,
        history: None,
        passed: true,
        shard: None,
        shards: None,
        generator: None,
        files: Files::default(),
    };
    std::fs::write(out.join(SUMMARY_FILE), doc.to_json(|_| {})?)?;
    Ok(())
}
