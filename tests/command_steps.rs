//! Command steps over real processes: the agenda's log review as a step.
//! Each run goes through the real binary; JUnit is validated against the
//! Jenkins schema, the JSON report read back, and processes looked up in
//! /proc afterwards.

// The helpers are shared with tests/it, which uses all of them; this
// binary uses a few.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{junit_valid, postdeploy, sqlite_backend, text};

fn fixture(name: &str) -> String {
    support::root()
        .join("tests/fixtures/commands")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Nothing listens there: a command scenario sends no request.
const NOWHERE: &str = "http://127.0.0.1:9/";

struct Run {
    code: Option<i32>,
    out: String,
    junit: String,
    report: Value,
    _dir: tempfile::TempDir,
}

async fn verify(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend([
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let o = postdeploy(&all).await;
    let out = text(&o);
    assert!(!out.contains("panicked"), "{out}");
    let junit = junit_valid(&junit);
    let report: Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("JSON report: {e}\n{out}")),
    )
    .unwrap();
    Run {
        code: o.status.code(),
        out,
        junit,
        report,
        _dir: dir,
    }
}

fn first_step(r: &Run) -> &Value {
    &r.report["scenarios"][0]["steps"][0]
}

#[tokio::test]
async fn error_lines_fail_with_the_first_five_shown_and_the_total() {
    let r = verify(&[&fixture("error-lines.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let s = first_step(&r);
    assert_eq!(s["verdict"], "failed");
    assert_eq!(s["command"]["exit_code"], 0);
    let m = &s["command"]["matches"][1];
    assert_eq!(m["count"], 7, "{s:#}");
    assert_eq!(m["lines"].as_array().unwrap().len(), 5, "at most 5 shown");
    let failed = s["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["passed"] == false)
        .unwrap();
    assert_eq!(failed["subject"], "stdout lines none_match /ERROR|FATAL/");
    let actual = failed["actual"].as_str().unwrap();
    assert!(actual.starts_with("7 line(s)"), "{actual}");
    assert!(actual.contains("ERROR db query failed #5"), "{actual}");
    assert!(!actual.contains("#6"), "{actual}");
    assert!(actual.contains("… and 2 more"), "{actual}");
    // Console: the command, its exit code and the counts.
    assert!(
        r.out.contains("FAIL log reviewed (no errors)  ($ sh -c")
            && r.out.contains("-> exit 0, lines: 7 matched / 7 matched"),
        "{}",
        r.out
    );
    // JUnit: a failure, the command line and the matched lines in system-out.
    assert!(r.junit.contains("<failure"), "{}", r.junit);
    assert!(r.junit.contains("type=\"assertion\""), "{}", r.junit);
    let out = r.junit.split("<system-out>").nth(1).unwrap();
    assert!(out.starts_with("$ sh -c"), "{}", r.junit);
    assert!(out.contains("ERROR db query failed #1"), "{}", r.junit);
    assert!(out.contains("7 matching line(s)"), "{}", r.junit);
}

#[tokio::test]
async fn a_non_zero_exit_fails_and_stderr_is_judged() {
    let r = verify(&[&fixture("exit-nonzero.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let s = first_step(&r);
    assert_eq!(s["verdict"], "failed");
    assert_eq!(s["command"]["exit_code"], 3);
    assert_eq!(s["command"]["stderr_lines"], 1);
    let subjects: Vec<&str> = s["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["passed"] == false)
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["exit_code", "stderr lines match /ResourceNotFound/"]
    );
    assert!(r.out.contains("exit_code: expected 0, got 3"), "{}", r.out);
    assert!(
        r.junit.contains("exit_code: expected 0, got 3"),
        "{}",
        r.junit
    );
}

/// Processes of group `pgid` still alive after a moment: SIGKILL is
/// delivered asynchronously.
async fn survivors(pgid: i32) -> Vec<i32> {
    for _ in 0..40 {
        if group_members(pgid).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    group_members(pgid)
}

/// Live processes whose process group is `pgid`, from /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split
        // after its closing parenthesis.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // A zombie is dead, only not yet reaped (PID 1 of a container may
        // never reap what it inherits).
        if fields.first() == Some(&"Z") {
            continue;
        }
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_whole_process_group_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let var = format!("pidfile={}", pidfile.display());
    let t0 = std::time::Instant::now();
    let r = verify(&[&fixture("hang.yaml"), "--target", NOWHERE, "--var", &var]).await;
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    assert_eq!(r.code, Some(1), "{}", r.out);
    let s = first_step(&r);
    assert_eq!(s["verdict"], "error");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 1000ms: its process group was killed"),
        "{s:#}"
    );
    assert!(r.junit.contains("<error"), "{}", r.junit);
    let pgid = read_pid(&pidfile);
    assert_eq!(
        survivors(pgid).await,
        Vec::<i32>::new(),
        "the sleeps of group {pgid} survived"
    );
}

#[tokio::test]
async fn sigterm_kills_the_running_command_group_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let junit = dir.path().join("junit.xml");
    let child = support::postdeploy_command()
        .args([
            "verify",
            &fixture("hang-long.yaml"),
            "--target",
            NOWHERE,
            "--var",
            &format!("pidfile={}", pidfile.display()),
            "--junit",
            junit.to_str().unwrap(),
        ])
        .current_dir(support::root())
        .env("CI", "true")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the command has started (it writes its pid).
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&pidfile).map_or(true, |s| !s.ends_with('\n')) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the command never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pgid = read_pid(&pidfile);
    assert!(!group_members(pgid).is_empty(), "running before the signal");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let o = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("postdeploy stopped")
        .unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert_eq!(
        survivors(pgid).await,
        Vec::<i32>::new(),
        "group {pgid} survived SIGTERM"
    );
    let xml = junit_valid(&junit);
    assert!(xml.contains("run interrupted"), "{xml}");
}

#[tokio::test]
async fn a_100_mb_flood_is_capped_in_bounded_memory() {
    let r = verify(&[&fixture("flood.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let c = &first_step(&r)["command"];
    let kept_lines = c["stdout_lines"].as_u64().unwrap();
    let dropped = c["stdout_dropped_bytes"].as_u64().unwrap();
    // 17 bytes a line; 10 MiB kept, the rest of 100 MB dropped.
    assert!(kept_lines <= 10 * 1024 * 1024 / 17 + 1, "{c:#}");
    assert_eq!(
        dropped + 10 * 1024 * 1024,
        100_000_000,
        "everything past the cap was read and dropped: {c:#}"
    );
    assert!(
        r.junit.contains("bytes past the output cap dropped"),
        "{}",
        r.junit
    );
    // The largest child this test process waited for: every postdeploy of
    // this binary. A 100 MB flood held in memory would show here.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) },
        0
    );
    let max_rss_mb = ru.ru_maxrss / 1024;
    assert!(max_rss_mb < 95, "peak RSS {max_rss_mb} MB");
}

#[tokio::test]
async fn a_program_not_found_is_an_error_and_a_validate_warning() {
    let r = verify(&[&fixture("not-found.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let s = first_step(&r);
    assert_eq!(s["verdict"], "error");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("program `pd-no-such-program-4c1e` not found"),
        "{s:#}"
    );
    assert!(r.junit.contains("<error"), "{}", r.junit);

    let o = postdeploy(&["validate", &fixture("not-found.yaml")]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "a warning, never an error: {}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("warning: ")
            && out.contains("not-found.yaml:3: program `pd-no-such-program-4c1e` is not on PATH"),
        "{out}"
    );
}

#[tokio::test]
async fn json_log_lines_are_matched_by_json_path_and_regex_groups_capture() {
    let r = verify(&[&fixture("json-lines.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    let steps = r.report["scenarios"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[1]["command"]["line"], "echo port=3000", "captured");
    let counts: Vec<u64> = steps[0]["command"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 0, 1, 1]);

    let r = verify(&[&fixture("json-lines-fail.yaml"), "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let s = first_step(&r);
    assert_eq!(s["verdict"], "failed");
    assert!(
        r.junit.contains("database error: connection refused"),
        "{}",
        r.junit
    );
}

#[tokio::test]
async fn a_command_is_a_readiness_step_and_runs_in_a_soak() {
    let r = verify(&[
        &fixture("passing.yaml"),
        "--target",
        NOWHERE,
        "--wait-ready",
        "10s",
        "--soak",
        "1s",
    ])
    .await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert_eq!(r.report["ready"]["ready"], true);
    assert!(r.out.contains("ok 3/3"), "{}", r.out);
    let s = first_step(&r);
    assert!(s["soak"]["runs"].as_u64().unwrap() >= 2, "{s:#}");
    assert_eq!(s["soak"]["failures"], 0);
}

/// The backend's log for this test binary: the in-process backend logs
/// through `tracing`, and one global subscriber writes it here.
fn backend_log() -> &'static PathBuf {
    static LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let path = dir.join("backend.log");
        let file = std::fs::File::create(&path).unwrap();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("backend=info"))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .init();
        path
    })
}

#[tokio::test]
async fn a_database_outage_logged_by_the_backend_fails_the_log_review() {
    let log = backend_log();
    let b = sqlite_backend().await;
    let var = format!("backend_log={}", log.display());
    let r = verify(&[
        &fixture("backend-log.yaml"),
        "--target",
        &b.url(),
        "--var",
        &var,
    ])
    .await;
    b.stop().await;
    assert_eq!(r.code, Some(1), "{}", r.out);
    let steps = r.report["scenarios"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[1]["verdict"], "passed", "the outage answered 503");
    assert_eq!(steps[2]["verdict"], "failed", "{:#}", steps[2]);
    let matched = &steps[2]["command"]["matches"][0];
    assert!(matched["count"].as_u64().unwrap() >= 1);
    assert!(
        matched["lines"][0]
            .as_str()
            .unwrap()
            .contains("database error"),
        "{matched:#}"
    );
    assert!(r.junit.contains("database error"), "{}", r.junit);
    assert_eq!(steps[3]["verdict"], "passed", "teardown restored it");
}

#[tokio::test]
async fn a_secret_echoed_by_a_command_is_in_no_artifact() {
    const CANARY: &str = "cnry-cmd-5e09b4";
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let o = support::postdeploy_command()
        .args([
            "verify",
            &fixture("secret-echo.yaml"),
            "--target",
            NOWHERE,
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .current_dir(support::root())
        .env("CI", "true")
        .env("PD_CMD_CANARY", CANARY)
        .output()
        .await
        .unwrap();
    // The step fails on the echoed ERROR line, so the line is shown.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let mut texts = vec![
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ];
    texts.push(junit_valid(&junit));
    texts.push(std::fs::read_to_string(&json).unwrap());
    for t in &texts {
        assert!(!t.contains("5e09b4"), "the canary leaked:\n{t}");
    }
    assert!(texts[0].contains("ERROR with token ***"), "{}", texts[0]);
    assert!(
        texts[2].contains("sh -c"),
        "the command line is shown, masked"
    );
}

#[tokio::test]
async fn load_refuses_a_scenario_mixing_requests_and_commands() {
    let b = sqlite_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = postdeploy(&[
        "load",
        &fixture("mixed.yaml"),
        "--target",
        &b.url(),
        "--duration",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not run command steps"), "{err}");
    assert!(err.contains("mixed"), "{err}");
    assert!(!out.join("summary.json").exists(), "nothing was sent");
    let o = postdeploy(&[
        "load",
        &fixture("passing.yaml"),
        "--target",
        &b.url(),
        "--duration",
        "2s",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    b.stop().await;
}

#[tokio::test]
async fn opt_in_scenarios_run_only_when_asked_and_local_only_ones_only_locally() {
    let dir = fixture("select");
    let names = |r: &Run| -> Vec<String> {
        r.report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = verify(&[&dir, "--target", NOWHERE]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert_eq!(names(&r), ["always"]);
    let r = verify(&[&dir, "--target", NOWHERE, "--tag", "aws"]).await;
    assert_eq!(names(&r), ["opt-in"]);
    let r = verify(&[&dir, "--target", NOWHERE, "--var", "log_group=/ecs/x"]).await;
    assert_eq!(names(&r), ["always", "opt-in"]);
    assert_eq!(
        r.report["scenarios"][1]["steps"][0]["command"]["line"],
        "echo /ecs/x"
    );
    let r = verify(&[&dir, "--target", "local"]).await;
    assert_eq!(r.code, Some(0), "{}", r.out);
    assert_eq!(names(&r), ["always", "local"]);
    assert!(r.out.contains("PASS reads the local log"), "{}", r.out);
}
