//! Every numeric and duration flag of `verify` and `load`, and every
//! numeric field of a scenario file, fed edge values (0, negatives, NaN,
//! infinities, 1e308, 2^64, absurd durations) and random ones: the binary
//! either refuses with exit 2 and a message, or runs. It never panics.
//!
//! A run is bounded here by signals, which also exercises their handling:
//! still running after 1 s, it gets SIGTERM; after 3 s more, a second
//! SIGTERM; it must then be gone within 10 s with a clean exit code.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const EDGE: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e-300",
    "18446744073709551616",
    "18446744073709551615",
    "4294967296",
    "4294967295",
    "2147483648",
    "99999999999999999999.5",
    "0.5",
    "",
    " ",
    "1.5e3",
    "0x10",
];

const UNITS: &[&str] = &["", "ms", "s", "m", "h", "d", "us", "ns", "y", " s"];

fn numbers() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(EDGE).prop_map(str::to_string),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (0u32..200).prop_map(|n| n.to_string()),
    ]
}

fn durations() -> impl Strategy<Value = String> {
    (numbers(), proptest::sample::select(UNITS)).prop_map(|(n, u)| format!("{n}{u}"))
}

/// What a spawned postdeploy did with one input.
async fn outcome(args: &[String]) -> (Option<i32>, String) {
    let mut child = support::postdeploy_command()
        .args(args)
        .current_dir(support::root())
        .env("CI", "true")
        .env_remove("POSTDEPLOY_TARGET")
        .kill_on_drop(true)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().expect("running").to_string();
    let term = || {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
    };
    let mut status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
    if status.is_err() {
        term();
        status = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
    }
    if status.is_err() {
        term();
        status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    let status = status
        .unwrap_or_else(|_| panic!("{args:?}: still running 10 s after a second SIGTERM"))
        .expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    (status.code(), err)
}

/// Exit codes of a clean end: a verdict, a usage error, not ready, or a
/// signal the harness sent. 101 (a Rust panic) and 4 are not among them.
fn assert_clean(args: &[String], code: Option<i32>, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert!(
        matches!(code, Some(0 | 1 | 2 | 3 | 130 | 143)),
        "{args:?} ended with {code:?}:\n{stderr}"
    );
    if code == Some(2) {
        assert!(
            stderr.contains("error"),
            "{args:?}: exit 2 without a message:\n{stderr}"
        );
    }
}

fn check_flags(base: Vec<String>, flags: &'static [(&'static str, bool)], cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (proptest::sample::select(flags), numbers(), durations());
    runner
        .run(&strategy, |((flag, is_duration), n, d)| {
            let mut args = base.clone();
            args.push(flag.to_string());
            args.push(if is_duration { d } else { n });
            let (code, err) = rt.block_on(outcome(&args));
            assert_clean(&args, code, &err);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Every edge value once through each flag, then random ones.
fn edges_then_random(base: Vec<String>, flags: &'static [(&'static str, bool)], cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (flag, is_duration) in flags {
        for v in ["0", "-1", "NaN", "1e308", "18446744073709551616"] {
            let value = if *is_duration {
                format!("{v}s")
            } else {
                v.to_string()
            };
            let mut args = base.clone();
            args.extend([flag.to_string(), value]);
            let (code, err) = rt.block_on(outcome(&args));
            assert_clean(&args, code, &err);
        }
    }
    let mut args = base.clone();
    args.extend(["--duration".into(), "99999999999999999999.5h".into()]);
    let (code, err) = rt.block_on(outcome(&args));
    assert_clean(&args, code, &err);
    check_flags(base, flags, cases);
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn load_flags_end_in_exit_2_or_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let base = strings(&[
        "load",
        "tests/fixtures/load/health.yaml",
        "--target",
        "local",
        "--no-server-metrics",
        "--out",
        out.to_str().unwrap(),
        "--max-requests",
        "50",
        "--duration",
        "2s",
    ]);
    // Later flags win in clap: a --duration or --max-requests under test
    // replaces the bounds above.
    const FLAGS: &[(&str, bool)] = &[
        ("--users", false),
        ("--ramp", true),
        ("--duration", true),
        ("--rate", false),
        ("--max-requests", false),
        ("--max-in-flight", false),
        ("--max-body", false),
        ("--timeout", true),
        ("--teardown-timeout", true),
    ];
    edges_then_random(base, FLAGS, 24);
}

#[test]
fn verify_flags_end_in_exit_2_or_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let base = strings(&[
        "verify",
        "tests/fixtures/load/health.yaml",
        "--target",
        "local",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    const FLAGS: &[(&str, bool)] = &[
        ("--wait-ready", true),
        ("--ready-successes", false),
        ("--soak", true),
        ("--timeout", true),
        ("--max-body", false),
        ("--teardown-timeout", true),
    ];
    edges_then_random(base, FLAGS, 24);
}

/// Numeric fields of a scenario file: `validate` accepts or refuses with
/// exit 2, and an accepted file runs under `verify`.
#[test]
fn scenario_numbers_end_in_exit_2_or_a_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ran = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let field = proptest::sample::select(
        &[
            "timeout",
            "max_latency",
            "think",
            "repeat",
            "weight",
            "status",
            "quantile",
            "lt",
        ][..],
    );
    runner
        .run(&(field, numbers(), durations()), |(field, n, d)| {
            let v = |f: &str, default: &str| -> String {
                if f != field {
                    return default.to_string();
                }
                if matches!(field, "timeout" | "max_latency" | "think" | "slo_p95") {
                    format!("\"{}\"", d.replace('"', ""))
                } else {
                    // Bare, as a person writes a number; YAML decides its type.
                    n.clone()
                }
            };
            let yaml = format!(
                "version: 1\nname: numbers\nweight: {weight}\ndefaults:\n  timeout: {timeout}\n  max_latency: {max_latency}\nsteps:\n  - name: health\n    think: {think}\n    repeat: {repeat}\n    request: {{ method: GET, path: /api/health }}\n    expect:\n      status: {status}\n  - name: metrics\n    request: {{ method: GET, path: /api/metrics }}\n    expect:\n      metrics:\n        - histogram: http_request_duration_seconds\n          quantile: {quantile}\n          lt: {lt}\n          min_samples: {min_samples}\n          if_empty: warn\nslo:\n  \"*\": {{ p95: {slo_p95}, error_rate: {slo_error_rate} }}\n",
                weight = v("weight", "1"),
                timeout = v("timeout", "5s"),
                max_latency = v("max_latency", "1s"),
                think = v("think", "0s"),
                repeat = v("repeat", "2"),
                status = v("status", "200"),
                quantile = v("quantile", "0.5"),
                lt = v("lt", "10"),
                min_samples = v("min_samples", "20"),
                slo_p95 = v("slo_p95", "1s"),
                slo_error_rate = v("slo_error_rate", "1%"),
            );
            let f = dir.path().join("numbers.yaml");
            std::fs::write(&f, &yaml).unwrap();
            let file = f.to_string_lossy().into_owned();
            let args = strings(&["validate", &file]);
            let (code, err) = rt.block_on(outcome(&args));
            assert_clean(&args, code, &err);
            prop_assert!(matches!(code, Some(0 | 2)), "{yaml}\n{err}");
            if code == Some(0) {
                ran.set(ran.get() + 1);
                let junit = dir.path().join("j.xml");
                let args = strings(&[
                    "verify",
                    &file,
                    "--target",
                    "local",
                    "--junit",
                    junit.to_str().unwrap(),
                ]);
                let (code, err) = rt.block_on(outcome(&args));
                assert_clean(&args, code, &err);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Accepted values must have reached a run, or this proves little.
    assert!(ran.get() > 0, "no generated scenario validated");
}
