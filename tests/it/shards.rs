//! Sharded load runs and `postdeploy merge`, end to end: three real
//! postdeploy processes (each told its index by JOB_COMPLETION_INDEX, as a
//! Kubernetes Indexed Job tells its pods, and one `--start-at`) against the
//! real backend on PostgreSQL, then `merge`: counts and histograms add up
//! exactly and agree with the server's own metrics; objectives are judged
//! on the whole; shards that do not fit together are refused.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{postdeploy, postdeploy_env, postgres_backend, sqlite_backend, text};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

fn fixture(name: &str) -> String {
    support::root()
        .join("tests/fixtures/load")
        .join(name)
        .display()
        .to_string()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn start_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// (value, count) of every recorded bucket: equal lists, equal histograms.
fn buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Runs `count` shards at once, each with its own JOB_COMPLETION_INDEX.
async fn run_shards(
    base: &Path,
    count: u32,
    start_at: &str,
    extra: &[&str],
) -> Vec<(PathBuf, std::process::Output)> {
    let count_s = count.to_string();
    let runs = (0..count).map(|i| {
        let out = base.join(format!("shard-{i}"));
        let mut args: Vec<String> = vec![
            "load".into(),
            "--shards".into(),
            count_s.clone(),
            "--start-at".into(),
            start_at.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = postdeploy_env(&refs, &[("JOB_COMPLETION_INDEX", &i.to_string())], &[]).await;
            (out, o)
        }
    });
    futures_util::future::join_all(runs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merge_exactly_and_agree_with_the_server() {
    let b = postgres_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let url = b.url();
    let crud = fixture("crud.yaml");
    let shards = run_shards(
        dir.path(),
        3,
        &start_in(3),
        &[&crud, "--target", &url, "--users", "7", "--duration", "3s"],
    )
    .await;
    let mut docs = Vec::new();
    for (i, (out, o)) in shards.iter().enumerate() {
        assert_eq!(o.status.code(), Some(0), "shard {i}: {}", text(o));
        assert!(
            text(o).contains(&format!("shard {i}/3 done")),
            "{}",
            text(o)
        );
        let s = summary(out);
        support::validate_summary(&s);
        assert_eq!(u(&s["shard"]["index"]), i as u64);
        assert_eq!(s["shard"]["start"]["late"], false, "{}", s["shard"]);
        // 7 users: 3, 2, 2.
        assert_eq!(u(&s["run"]["users"]), [3, 2, 2][i]);
        assert!(out.join("server-before.prom").is_file());
        assert!(s["generator"]["cpu_s"].as_f64().unwrap() > 0.0);
        docs.push(s);
    }

    let merged = dir.path().join("merged");
    let pattern = dir.path().join("shard-*").display().to_string();
    let o = postdeploy(&[
        "merge",
        "--out",
        merged.to_str().unwrap(),
        "--no-history",
        &pattern,
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = summary(&merged);
    support::validate_summary(&m);
    assert_eq!(u(&m["run"]["users"]), 7);
    assert!(m["shard"].is_null());
    assert_eq!(m["shards"].as_array().unwrap().len(), 3);

    // Counts: the sum of the shards, name by name and in total.
    let requests = m["requests"].as_object().unwrap();
    assert!(requests.len() >= 3, "{:?}", requests.keys());
    for (name, r) in requests {
        let sum: u64 = docs.iter().map(|d| u(&d["requests"][name]["count"])).sum();
        assert_eq!(u(&r["count"]), sum, "{name}");
        // The histogram: exactly the sum of the shards' histograms.
        let mut added = postdeploy::measure::new_histogram();
        for d in &docs {
            added
                .add(support::decode_histogram(
                    d["requests"][name]["histogram"].as_str().unwrap(),
                ))
                .unwrap();
        }
        let h = support::decode_histogram(r["histogram"].as_str().unwrap());
        assert_eq!(buckets(&h), buckets(&added), "{name}");
        assert_eq!(h.len(), u(&r["responses"]));
    }
    let total = u(&m["all"]["count"]);
    let shard_total: u64 = docs.iter().map(|d| u(&d["all"]["count"])).sum();
    assert_eq!(total, shard_total);
    assert!(total > 30, "only {total} requests");

    // The server counted every one of them, once, across all shards.
    let server = &m["server"];
    assert_eq!(server["warnings"].as_array().unwrap().len(), 0, "{server}");
    assert_eq!(server["total_requests"].as_f64().unwrap(), total as f64);
    assert_eq!(u(&m["all"]["responses"]), total);

    // The merged interval log holds every latency, seconds aligned.
    let log = std::fs::read(merged.join("latency.hlog")).unwrap();
    let mut per_tag: BTreeMap<String, u64> = BTreeMap::new();
    let mut seconds = std::collections::BTreeSet::new();
    for e in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(iv) = e.unwrap()
            && let Some(t) = iv.tag()
        {
            *per_tag.entry(t.as_str().into()).or_default() +=
                support::decode_histogram(iv.encoded_histogram()).len();
            seconds.insert(iv.start_timestamp().as_secs());
        }
    }
    for (name, r) in requests {
        let tag = r["hlog_tag"].as_str().unwrap();
        assert_eq!(
            per_tag.get(tag).copied().unwrap_or(0),
            u(&r["responses"]),
            "{name}"
        );
    }
    // Three 3-second shards started together: 3 or 4 wall-clock seconds.
    assert!((3..=4).contains(&seconds.len()), "{seconds:?}");
    let page = std::fs::read_to_string(merged.join("report.html")).unwrap();
    assert!(page.contains("<h2>Shards</h2>"));
    support::junit_valid(&merged.join("junit.xml"));

    // Objectives are judged on the whole: a throughput no shard reaches on
    // its own is met by the three together, and one beyond the whole fails
    // the merged run.
    let rps = |d: &Value| d["all"]["rps"].as_f64().unwrap();
    let best_shard = docs.iter().map(rps).fold(0.0, f64::max);
    let whole = rps(&m);
    assert!(whole > 1.5 * best_shard, "{whole} vs {best_shard}");
    for (slo, code) in [
        (format!("rps>={:.1}", 1.4 * best_shard), 0),
        (format!("rps>={:.1}", 1.3 * whole), 1),
    ] {
        let again = dir.path().join(format!("merged-{code}"));
        let o = postdeploy(&[
            "merge",
            "--out",
            again.to_str().unwrap(),
            "--no-history",
            "--slo",
            &slo,
            &pattern,
        ])
        .await;
        assert_eq!(o.status.code(), Some(code), "{slo}: {}", text(&o));
        let s = summary(&again);
        let r = s["slo"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"] == "rps" && r["origin"] == "--slo")
            .unwrap_or_else(|| panic!("{}", s["slo"]))
            .clone();
        assert_eq!(r["passed"], code == 0, "{r}");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_missing_duplicate_late_and_unlike_shards() {
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let url = b.url();
    let health = fixture("health.yaml");
    let crud = fixture("crud.yaml");
    let common = ["--target", url.as_str(), "--users", "2", "--duration", "1s"];
    let good = run_shards(
        dir.path(),
        2,
        &start_in(2),
        &[&[health.as_str()][..], &common].concat(),
    )
    .await;
    for (_, o) in &good {
        assert_eq!(o.status.code(), Some(0), "{}", text(o));
    }
    let shard = |i: usize| good[i].0.display().to_string();
    let merge = |shards: Vec<String>| {
        let out = dir.path().join("merged").display().to_string();
        async move {
            let mut args = vec![
                "merge".to_string(),
                "--out".into(),
                out,
                "--no-history".into(),
            ];
            args.extend(shards);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            postdeploy(&refs).await
        }
    };

    // Missing.
    let o = merge(vec![shard(0)]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shards missing: 1 of 2"), "{}", text(&o));
    // Duplicated: the same shard twice (copied, as a re-run pod would).
    let copy = dir.path().join("copy-of-0");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&good[0].0).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
    }
    let o = merge(vec![shard(0), shard(1), copy.display().to_string()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("shard 0 of 2 appears twice"),
        "{}",
        text(&o)
    );

    // Late: told to start 10 s ago, with the default 2 s of slack.
    let late_dir = dir.path().join("late");
    let late_at = start_in(-10);
    let o = postdeploy(
        &[
            &[
                "load",
                "--shard",
                "1/2",
                "--start-at",
                late_at.as_str(),
                "--out",
                late_dir.to_str().unwrap(),
                health.as_str(),
            ][..],
            &common,
        ]
        .concat(),
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("LATE: shard 1/2"), "{}", text(&o));
    assert_eq!(summary(&late_dir)["shard"]["start"]["late"], true);
    let o = merge(vec![shard(0), late_dir.display().to_string()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shard 1 ("), "{}", text(&o));
    assert!(text(&o).contains("after --start-at"), "{}", text(&o));

    // Other scenarios.
    let other = run_shards(
        &dir.path().join("other"),
        2,
        &start_in(2),
        &[&[crud.as_str()][..], &common].concat(),
    )
    .await;
    assert_eq!(other[1].1.status.code(), Some(0), "{}", text(&other[1].1));
    let o = merge(vec![shard(0), other[1].0.display().to_string()]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the shards differ in scenarios"),
        "{}",
        text(&o)
    );
    assert!(
        !dir.path().join("merged").join("summary.json").exists(),
        "a refused merge wrote reports"
    );

    // A shard without --start-at, or without its index, is a usage error.
    let o = postdeploy(&[&["load", "--shard", "0/2", health.as_str()][..], &common].concat()).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs --start-at"), "{}", text(&o));
    let o = postdeploy_env(
        &[&["load", "--shards", "2", health.as_str()][..], &common].concat(),
        &[],
        &["JOB_COMPLETION_INDEX"],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("JOB_COMPLETION_INDEX"), "{}", text(&o));

    // Stopped by SIGINT while the interval logs are merged: exit 130, and
    // nothing half-written left in --out (which did not exist before).
    // The two good shards' logs are stretched to many hours so that the
    // merge is still running when the signal comes.
    let long: Vec<PathBuf> = (0..2)
        .map(|i| {
            let d = dir.path().join(format!("long-{i}"));
            std::fs::create_dir(&d).unwrap();
            for f in std::fs::read_dir(&good[i].0).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
            }
            stretch_log(&d.join("latency.hlog"), 40_000);
            d
        })
        .collect();
    let out = dir.path().join("stopped-merge");
    let mut child = support::postdeploy_command()
        .args(["merge", "--no-history", "--out", out.to_str().unwrap()])
        .args(&long)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let hlog = out.join("latency.hlog");
    let waited = std::time::Instant::now();
    while !hlog.exists() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "the merge never began writing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("the merge ignored SIGINT")
        .unwrap();
    let mut err = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut err)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("merge stopped by SIGINT"), "{err}");
    assert!(
        !out.exists(),
        "a stopped merge left {:?}",
        support::files_under(&out)
    );
    b.stop().await;
}

/// Repeats every tagged interval of a shard's log `times` times, each copy
/// shifted by the log's own span, so the log covers `times` as many
/// seconds with the same histograms.
fn stretch_log(path: &Path, times: u32) {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, tagged): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| !l.starts_with("Tag="));
    let start = |l: &str| -> f64 { l.split(',').nth(1).unwrap().parse().unwrap() };
    let span = tagged.iter().map(|l| start(l)).fold(0.0, f64::max).floor() + 1.0;
    let mut out = head.join("\n");
    out.push('\n');
    for k in 0..times {
        for l in &tagged {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            f[1] = format!("{:.3}", start(l) + f64::from(k) * span);
            out.push_str(&f.join(","));
            out.push('\n');
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Each failures line of a log: (second since the log's start, failed
/// requests in it, across names).
fn failures_per_second(log: &Path) -> Vec<(f64, u64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(postdeploy::rundir::hlog::parse_failures)
        .map(|(start, per_tag)| (start, per_tag.iter().map(|t| t.2).sum()))
        .collect()
}

/// A merged run's seconds keep their failures: the interval logs carry
/// them (on `#[Failures ...]` lines, beside the latencies of the answers),
/// so the merged log, and the per-second error chart drawn from it, add
/// up to the shards' failed requests, not to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_seconds_keep_the_shards_failures() {
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let url = b.url();
    let wrong = fixture("wrong-status.yaml");
    let shards = run_shards(
        dir.path(),
        2,
        &start_in(2),
        &[
            &wrong,
            "--target",
            &url,
            "--users",
            "2",
            "--duration",
            "2s",
            "--no-history",
        ],
    )
    .await;
    let mut shard_failed = 0;
    for (out, o) in &shards {
        let s = summary(out);
        let failed = u(&s["all"]["failed"]);
        assert!(failed > 0, "{}", text(o));
        // Every request failed its status check, and each shard's log says so.
        let logged: u64 = failures_per_second(&out.join("latency.hlog"))
            .iter()
            .map(|f| f.1)
            .sum();
        assert_eq!(logged, failed, "{}", out.display());
        shard_failed += failed;
    }
    let merged = dir.path().join("merged");
    let o = postdeploy(&[
        "merge",
        "--out",
        merged.to_str().unwrap(),
        "--no-history",
        shards[0].0.to_str().unwrap(),
        shards[1].0.to_str().unwrap(),
    ])
    .await;
    assert!(merged.join("summary.json").is_file(), "{}", text(&o));
    let m = summary(&merged);
    assert_eq!(u(&m["all"]["failed"]), shard_failed);
    let seconds = failures_per_second(&merged.join("latency.hlog"));
    assert!(seconds.len() >= 2, "{seconds:?}");
    assert_eq!(seconds.iter().map(|f| f.1).sum::<u64>(), shard_failed);
    b.stop().await;
}
