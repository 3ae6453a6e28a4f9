//! The regression gate and the run history, end to end: real `postdeploy`
//! processes load the real backend on PostgreSQL (and SQLite), the lab
//! injects a known slowdown, and the history lives in real SQLite files and
//! a real PostgreSQL database.

// The helpers are shared with tests/it, which uses all of them; this
// binary uses a few.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{
    PgDb, junit_valid, lab, postdeploy, postgres_backend, sqlite_backend, text, validate_summary,
};

/// One test at a time: latency is what they measure, and a neighbour
/// test's load processes on the same two cores would be the noise.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two scenarios, so that each user loops over one route only: with both
/// steps in one scenario, a slow health step would bunch the users up and
/// send their list requests in bursts, a real (and flaky) knock-on effect
/// that this test is not about.
const SCENARIOS: [(&str, &str); 2] = [
    (
        "health-probe.yaml",
        r#"version: 1
name: health-probe
steps:
  - name: health
    request: { method: GET, path: /api/health }
    expect: { status: 200 }
# Absolute floors beside the relative defaults: sub-millisecond routes on
# a shared two-core machine move by milliseconds between runs (a CI run
# once saw an unchanged baseline's tail move past +5 ms), which is no
# regression anyone would act on; +30 ms is.
regress:
  "*": { p50: "+10%,+3ms", p95: "+10%,+6ms", p99: "+20%,+10ms" }
"#,
    ),
    (
        "list-probe.yaml",
        r#"version: 1
name: list-probe
steps:
  - name: list projects
    request: { method: GET, path: /api/projects }
    expect: { status: 200 }
regress:
  "*": { p50: "+10%,+3ms", p95: "+10%,+6ms", p99: "+20%,+10ms" }
"#,
    ),
];

/// The same floors on the command line: they win over the scenario's in
/// `load`, while `compare` (no flags) must fall back to the scenario's own.
const TOLERANCES: [&str; 6] = [
    "--regress",
    "p50:+10%,+3ms",
    "--regress",
    "p95:+10%,+6ms",
    "--regress",
    "p99:+20%,+10ms",
];

/// A directory of the probe scenarios (`load` and `verify` take it whole).
fn scenario(dir: &Path) -> PathBuf {
    let d = dir.join("probes");
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in SCENARIOS {
        std::fs::write(d.join(name), text).unwrap();
    }
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

async fn load(
    target: &str,
    scenario: &Path,
    history: &str,
    out: &Path,
    users: &str,
    extra: &[&str],
) -> (std::process::Output, Value) {
    let (sc, o) = (s(scenario), s(out));
    let mut args = vec![
        "load",
        &sc,
        "--target",
        target,
        "--users",
        users,
        "--duration",
        "10s",
        "--env",
        "regress-test",
        "--history",
        history,
        "--out",
        &o,
    ];
    args.extend(TOLERANCES);
    args.extend(extra);
    let out_p = postdeploy(&args).await;
    let summary = std::fs::read(out.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (out_p, summary)
}

fn changes<'a>(summary: &'a Value, name: &str) -> Vec<&'a Value> {
    summary["regression"]["results"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["name"] == name).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_health_route_regresses_and_nothing_else_does() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = postgres_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path());
    let history = s(&dir.path().join("history.sqlite"));
    let run_dir = |i: usize| dir.path().join(format!("run{i}"));

    // Three baseline runs. The first has nothing to compare with and says
    // so; the next two compare with what came before and, unchanged, must
    // never be called regressed.
    for i in 1..=3 {
        let (o, summary) = load(&b.url(), &sc, &history, &run_dir(i), "10", &[]).await;
        assert_eq!(o.status.code(), Some(0), "baseline run {i}: {}", text(&o));
        validate_summary(&summary);
        let r = &summary["regression"];
        assert_eq!(r["regressed"], false, "run {i}: {r:#}");
        assert_eq!(summary["history"]["run_id"], i as i64);
        if i == 1 {
            assert!(r["note"].as_str().unwrap().contains("first run"), "{r:#}");
            assert_eq!(r["results"], json!([]));
        } else {
            assert_eq!(r["baseline"]["runs"].as_array().unwrap().len(), i - 1);
            assert!(!r["results"].as_array().unwrap().is_empty());
        }
    }

    // +30 ms on health only.
    lab(
        &b.url(),
        "latency",
        json!({"route": "/api/health", "fixedMs": 30}),
    )
    .await;
    let (bmf, md) = (dir.path().join("bmf.json"), dir.path().join("gate.md"));
    let (bmf_s, md_s) = (s(&bmf), s(&md));
    let (o, summary) = load(
        &b.url(),
        &sc,
        &history,
        &run_dir(4),
        "10",
        &["--bmf", &bmf_s, "--markdown", &md_s],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    validate_summary(&summary);
    assert_eq!(summary["slo"]["passed"], true);
    assert_eq!(summary["passed"], false);
    let r = &summary["regression"];
    assert_eq!(r["regressed"], true);
    assert_eq!(r["baseline"]["runs"].as_array().unwrap().len(), 3);
    for c in changes(&summary, "health") {
        if c["unit"] != "ms" {
            continue;
        }
        assert_eq!(c["change"], "regressed", "{c:#}");
        let low = c["delta"]["low"].as_f64().unwrap();
        let high = c["delta"]["high"].as_f64().unwrap();
        assert!(low > 0.0 && low <= high, "interval must exclude 0: {c:#}");
        assert!(low > 20.0, "a 30 ms fault: {c:#}");
    }
    // The regression is put where it belongs. The list route's median
    // must not move. Its tail sometimes does, a little: p95/p99 +8 to
    // +11 ms in about one run in three on this debug build, even with each
    // route in its own scenario (cause not yet found; connection churn in
    // the generator's pool is the suspect), and the gate reports that as
    // it is. Whatever it says, the list route's shift stays far below the
    // health route's.
    let health_low = |m: &str| {
        changes(&summary, "health")
            .into_iter()
            .find(|c| c["metric"] == m)
            .and_then(|c| c["delta"]["low"].as_f64())
            .unwrap()
    };
    for c in changes(&summary, "list projects") {
        let m = c["metric"].as_str().unwrap();
        if m == "p50" || m == "error_rate" {
            assert_ne!(c["change"], "regressed", "{c:#}");
        }
        if c["unit"] == "ms" {
            let d = c["delta"]["value"].as_f64().unwrap();
            assert!(
                d < health_low(m) / 2.0,
                "{m}: list {d} ms vs health {}",
                health_low(m)
            );
        }
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("REGRESSED"), "{stdout}");
    // Bencher Metric Format: the current value inside its interval bounds.
    let bmf: Value = serde_json::from_slice(&std::fs::read(&bmf).unwrap()).unwrap();
    let p95 = &bmf["health"]["latency-p95-ms"];
    let (lo, v, hi) = (
        p95["lower_value"].as_f64().unwrap(),
        p95["value"].as_f64().unwrap(),
        p95["upper_value"].as_f64().unwrap(),
    );
    assert!(lo <= v && v <= hi && lo > 20.0, "{bmf:#}");
    assert!(
        bmf["list projects"]["error-rate"]["value"].is_number(),
        "{bmf:#}"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("| health | p95 |") && md.contains("**REGRESSED**"),
        "{md}"
    );
    let xml = junit_valid(&run_dir(4).join("junit.xml"));
    assert!(xml.contains("testcase name=\"health p95\""), "{xml}");
    assert!(xml.contains("type=\"regressed\""), "{xml}");
    let html = std::fs::read_to_string(run_dir(4).join("report.html")).unwrap();
    assert!(html.contains("Against the baseline") && html.contains("<polyline"));

    // `compare` on the stored runs and on their directories: one verdict.
    let a = dir.path().join("stored.json");
    let o = postdeploy(&["compare", "3", "4", "--history", &history, "--json", &s(&a)]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let f = dir.path().join("files.json");
    let o = postdeploy(&[
        "compare",
        &s(&run_dir(3)),
        &s(&run_dir(4).join("summary.json")),
        "--json",
        &s(&f),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let verdicts = |p: &Path| -> Vec<Value> {
        let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["regression"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                json!([
                    r["name"],
                    r["metric"],
                    r["change"],
                    r["delta"],
                    r["baseline"],
                    r["current"],
                    r["tolerance_spec"],
                    r["tolerance_origin"]
                ])
            })
            .collect()
    };
    // --regress-warn: reported, not failed.
    let o = postdeploy(&["compare", "3", "4", "--history", &history, "--regress-warn"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("--regress-warn: not failing"),
        "{}",
        text(&o)
    );
    let (va, vf) = (verdicts(&a), verdicts(&f));
    assert!(!va.is_empty());
    assert_eq!(va, vf, "stored and file comparisons differ");
    // Both judged by the tolerances the run's own scenario declared.
    assert!(
        va.iter()
            .all(|v| v[7] == "scenario" || v[1] == "error_rate"),
        "{va:#?}"
    );
    assert!(va.iter().any(|v| v[6] == "+10%,+6ms"), "{va:#?}");

    // An explicit baseline made differently is refused before anything
    // is sent, naming the difference.
    let refused = dir.path().join("refused");
    let (o, _) = load(&b.url(), &sc, &history, &refused, "2", &["--baseline", "1"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("users: 10 vs 2"), "{}", text(&o));
    assert!(!refused.join("summary.json").exists());

    // The fault gone, the regressed run is not part of the next baseline.
    lab(&b.url(), "reset", json!({})).await;
    let (o, summary) = load(&b.url(), &sc, &history, &run_dir(5), "10", &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ids: Vec<i64> = summary["regression"]["baseline"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![3, 2, 1], "run 4 regressed: never a baseline");

    // Verify runs are recorded too: each step's latency and verdict.
    for i in 1..=2 {
        let junit = s(&dir.path().join(format!("verify-{i}.xml")));
        let o = postdeploy(&[
            "verify",
            &s(&sc),
            "--target",
            &b.url(),
            "--env",
            "regress-test",
            "--history",
            &history,
            "--junit",
            &junit,
        ])
        .await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("history: run #{}", 5 + i)),
            "{}",
            text(&o)
        );
    }

    // History commands over what is stored.
    let o = postdeploy(&["history", "--history", &history, "list", "--json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[0]["kind"], "verify");
    assert_eq!(listed[3]["verdict"], "regressed");
    let trend = dir.path().join("trend.html");
    let o = postdeploy(&[
        "history",
        "--history",
        &history,
        "trend",
        "--out",
        &s(&trend),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let page = std::fs::read_to_string(&trend).unwrap();
    assert!(page.contains("<svg") && page.contains("list projects"));
    assert!(page.contains("Verify steps"), "no verify section");
    assert!(
        page.contains("health-probe: health"),
        "no verify step chart"
    );
    let o = postdeploy(&["history", "--history", &history, "prune", "--keep", "2"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("pruned 3 run(s)"), "{}", text(&o));
    b.stop().await;
}

/// Two pipelines writing one history at once: both runs land, on SQLite
/// (a brand-new file, so their migrations race too) and on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_both_land_on_sqlite_and_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path());
    let pg = PgDb::create().await;
    let sqlite = s(&dir.path().join("shared.sqlite"));
    for (engine, history) in [("sqlite", sqlite.clone()), ("postgres", pg.url.clone())] {
        let run = |i: usize| {
            let out = dir.path().join(format!("{engine}-{i}"));
            let (url, sc, history) = (b.url(), s(&sc), history.clone());
            async move {
                postdeploy(&[
                    "load",
                    &sc,
                    "--target",
                    &url,
                    "--users",
                    "2",
                    "--duration",
                    "3s",
                    "--history",
                    &history,
                    // Each would otherwise judge the other, and this test
                    // is about storage.
                    "--baseline",
                    "none",
                    "--out",
                    &s(&out),
                ])
                .await
            }
        };
        let (o1, o2) = tokio::join!(run(1), run(2));
        for o in [&o1, &o2] {
            assert_eq!(o.status.code(), Some(0), "{engine}: {}", text(o));
            assert!(text(o).contains("history: run #"), "{engine}: {}", text(o));
        }
        let o = postdeploy(&["history", "--history", &history, "list", "--json"]).await;
        assert_eq!(o.status.code(), Some(0), "{engine}: {}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).lines().count(),
            2,
            "{engine}: {}",
            text(&o)
        );
    }
    pg.drop_now().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_newer_store_is_refused_and_left_untouched() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = scenario(dir.path());

    let corrupt = dir.path().join("corrupt.sqlite");
    let garbage = b"these are someone's notes, not a database\n".repeat(100);
    std::fs::write(&corrupt, &garbage).unwrap();
    let out = dir.path().join("out");
    let url = b.url();
    for cmd in ["load", "verify"] {
        let mut args = vec![cmd, sc.to_str().unwrap(), "--target", &url];
        let (h, o, j) = (s(&corrupt), s(&out), s(&out.join("junit.xml")));
        args.extend(["--history", &h]);
        if cmd == "load" {
            args.extend(["--out", &o, "--duration", "2s"]);
        } else {
            args.extend(["--junit", &j]);
        }
        let o = postdeploy(&args).await;
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("is not a readable SQLite database") && err.contains("left untouched"),
            "{cmd}: {err}"
        );
        assert!(
            !out.join("summary.json").exists(),
            "{cmd}: nothing was sent"
        );
    }
    assert_eq!(std::fs::read(&corrupt).unwrap(), garbage);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("corrupt.sqlite-")),
        "no WAL or journal beside a file that is not ours: {names:?}"
    );

    // A store a newer postdeploy migrated: refused, not downgraded.
    let newer = dir.path().join("newer.sqlite");
    let o = postdeploy(&["history", "--history", &s(&newer), "list"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    {
        use sqlx::Connection as _;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", newer.display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20991231000000, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    }
    let o = postdeploy(&["history", "--history", &s(&newer), "list"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("written by a newer postdeploy"),
        "{}",
        text(&o)
    );
    b.stop().await;
}
