//! `postdeploy validate` on malformed scenarios: every defect in
//! `tests/fixtures/bad-scenarios/` must be rejected with exit code 2 and a
//! message naming the file and (unless it concerns the whole file) the line
//! and column. The messages are snapshots: review them as a user would.
//! And `verify` must send nothing when any scenario is invalid.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const BAD_DIR: &str = "tests/fixtures/bad-scenarios";

/// Exit code of an invalid invocation (see `src/exit.rs`).
const INVALID: i32 = 2;

/// Defects that concern the whole file, so the message has no position.
const WHOLE_FILE: &[&str] = &["comment-only", "empty-file"];

/// Relative to the repository root, so messages and snapshots are the same
/// on every machine.
fn bad_path(name: &str) -> String {
    format!("{BAD_DIR}/{name}.yaml")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn check(name: &str) {
    let path = bad_path(name);
    assert!(
        support::root().join(&path).is_file(),
        "missing fixture {path}"
    );
    let out = support::postdeploy(&["validate", &path]).await;
    assert_eq!(out.status.code(), Some(INVALID), "{}", support::text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: {path}")),
        "stderr does not name {path}:\n{err}"
    );
    let positioned =
        regex::Regex::new(&format!(r"(?m)^error: {}:\d+:\d+: ", regex::escape(&path))).unwrap();
    if WHOLE_FILE.contains(&name) {
        assert!(
            !positioned.is_match(&err),
            "whole-file error with a position:\n{err}"
        );
    } else {
        assert!(
            positioned.is_match(&err),
            "stderr has no {path}:line:column: position:\n{err}"
        );
    }
    assert!(err.ends_with("nothing was sent\n"), "{err}");
    insta::assert_snapshot!(name, err);
}

macro_rules! bad_scenarios {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                check($file).await;
            }
        )*

        const ALL: &[&str] = &[$($file),*];
    };
}

bad_scenarios! {
    yaml_unclosed_bracket => "yaml-unclosed-bracket",
    bad_indentation => "bad-indentation",
    unknown_top_level_key => "unknown-top-level-key",
    unknown_step_key => "unknown-step-key",
    unknown_expect_key => "unknown-expect-key",
    wrong_type_repeat => "wrong-type-repeat",
    missing_name => "missing-name",
    missing_request_path => "missing-request-path",
    bad_jsonpath => "bad-jsonpath",
    bad_regex => "bad-regex",
    missing_schema_file => "missing-schema-file",
    undefined_var_in_path => "undefined-var-in-path",
    undefined_var_in_json_body => "undefined-var-in-json-body",
    unset_env_var => "unset-env-var",
    bad_duration_word => "bad-duration-word",
    bad_duration_no_unit => "bad-duration-no-unit",
    bad_status_99 => "bad-status-99",
    bad_status_class => "bad-status-class",
    empty_file => "empty-file",
    comment_only => "comment-only",
    unsupported_version => "unsupported-version",
    duplicate_step_names => "duplicate-step-names",
    metrics_family_and_sample => "metrics-family-and-sample",
    histogram_without_quantile => "histogram-without-quantile",
    delta_from_uncaptured => "delta-from-uncaptured",
    distinct_without_repeat => "distinct-without-repeat",
    bad_metric_selector => "bad-metric-selector",
    bad_http_method => "bad-http-method",
    json_and_body => "json-and-body",
    bad_http_method_typos => "bad-http-method-typos",
    out_of_range_values => "out-of-range-values",
    multi_error => "multi-error",
    unknown_keys_in_two_steps => "unknown-keys-in-two-steps",
    bad_value_and_bad_reference => "bad-value-and-bad-reference",
    secret_not_a_variable => "secret-not-a-variable",
    command_and_request => "command-and-request",
    command_nor_request => "command-nor-request",
    command_bad_line_regex => "command-bad-line-regex",
    command_unknown_stream => "command-unknown-stream",
    command_exit_code_out_of_range => "command-exit-code-out-of-range",
    command_shell_string => "command-shell-string",
    command_request_expectations => "command-request-expectations",
    bad_regress_tolerance => "bad-regress-tolerance",
}

/// Files with several defects: every one is reported (the snapshots show
/// them), in one run, ordered by line.
#[tokio::test]
async fn every_defect_of_a_file_is_reported() {
    for (name, count) in [
        ("multi-error", 4),
        ("unknown-keys-in-two-steps", 2),
        ("bad-value-and-bad-reference", 3),
        ("bad-http-method-typos", 2),
        ("out-of-range-values", 4),
        ("command-request-expectations", 3),
    ] {
        let path = bad_path(name);
        let out = support::postdeploy(&["validate", &path]).await;
        let err = stderr(&out);
        let lines: Vec<u64> = regex::Regex::new(&format!(
            r"(?m)^error: {}:(\d+):\d+: ",
            regex::escape(&path)
        ))
        .unwrap()
        .captures_iter(&err)
        .map(|c| c[1].parse().unwrap())
        .collect();
        assert_eq!(lines.len(), count, "{name}:\n{err}");
        assert!(lines.is_sorted(), "{name} not ordered by line:\n{err}");
        assert!(
            err.ends_with(&format!(
                "{count} error(s) in 1 file(s); nothing was sent\n"
            )),
            "{err}"
        );
    }
}

/// Extension methods far from every standard one are legitimate (WebDAV,
/// cache purges) and load; a standard method in lower case is sent as
/// written, as before.
#[tokio::test]
async fn extension_methods_validate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("extension-methods.yaml");
    std::fs::write(
        &file,
        "name: extension-methods\nsteps:\n  - name: purge\n    request: { method: PURGE, path: /cache }\n  - name: props\n    request: { method: PROPFIND, path: /dav }\n",
    )
    .expect("write scenario");
    let out = support::postdeploy(&["validate", file.to_str().expect("utf-8 path")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let loaded = postdeploy::scenario::read_file(&file, &Default::default()).expect("loads");
    let methods: Vec<&str> = loaded
        .scenario
        .steps
        .iter()
        .filter_map(|s| s.value.request.as_ref().map(|r| r.method.as_str()))
        .collect();
    assert_eq!(methods, ["PURGE", "PROPFIND"]);
}

/// Every fixture has a test above (and a test names no missing fixture), and
/// every fixture says what is wrong with it.
#[test]
fn every_fixture_is_tested_and_documented() {
    let dir = support::root().join(BAD_DIR);
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("read bad-scenarios")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(
        on_disk, tested,
        "fixtures on disk vs tests in bad_scenarios!"
    );
    assert!(ALL.len() >= 18);
    for name in ALL {
        let text = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap();
        if *name == "empty-file" {
            assert!(text.is_empty(), "empty-file.yaml must stay empty");
        } else {
            assert!(
                text.starts_with("# Defect: "),
                "{name}.yaml must start with a `# Defect: ` comment"
            );
        }
    }
    assert!(
        std::env::var_os("POSTDEPLOY_SURELY_UNSET_VAR").is_none(),
        "unset-env-var.yaml needs POSTDEPLOY_SURELY_UNSET_VAR to be unset"
    );
}

/// A listener that counts the connections it accepts.
async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    (url, accepted)
}

/// Invalid scenarios stop `verify` before the first request, including when
/// a valid file comes first: all files are validated before anything runs.
#[tokio::test]
async fn verify_sends_nothing_when_a_scenario_is_invalid() {
    let (url, accepted) = counting_listener().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let junit_path = tmp.path().join("junit.xml");
    let junit = junit_path.to_str().expect("utf-8 temp path");
    let mut runs: Vec<Vec<String>> = ALL.iter().map(|n| vec![bad_path(n)]).collect();
    runs.push(vec![
        "scenarios/health.yaml".into(),
        bad_path("unknown-step-key"),
    ]);
    runs.push(vec![BAD_DIR.into()]);
    for files in &runs {
        let mut args = vec!["verify", "--target", &url, "--junit", junit];
        args.extend(files.iter().map(String::as_str));
        let out = support::postdeploy(&args).await;
        assert_eq!(
            out.status.code(),
            Some(INVALID),
            "verify {files:?}\n{}",
            support::text(&out)
        );
        assert!(
            stderr(&out).contains("nothing was sent"),
            "verify {files:?}\n{}",
            support::text(&out)
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "verify {files:?} connected to the target"
        );
    }
    // A connection attempt in flight at exit would still be accepted.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the target was contacted"
    );
    assert!(
        !junit_path.exists(),
        "a JUnit report was written for an invalid run"
    );
}

/// Without arguments `validate` checks `scenarios/` (from the repository
/// root), and the bundled scenarios are valid.
#[tokio::test]
async fn bundled_scenarios_validate() {
    let out = support::postdeploy(&["validate"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for f in ["health", "metrics", "projects-crud"] {
        assert!(
            stdout.contains(&format!("ok  scenarios/{f}.yaml")),
            "{}",
            support::text(&out)
        );
    }
}

#[tokio::test]
async fn a_directory_argument_is_expanded() {
    let out = support::postdeploy(&["validate", "scenarios"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", support::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let files = std::fs::read_dir(support::root().join("scenarios"))
        .unwrap()
        .count();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("ok  scenarios/"))
            .count(),
        files,
        "{stdout}"
    );

    // The bad directory: every file reported in one run.
    let out = support::postdeploy(&["validate", BAD_DIR]).await;
    assert_eq!(out.status.code(), Some(INVALID), "{}", support::text(&out));
    let err = stderr(&out);
    for name in ALL {
        assert!(
            err.contains(&format!("error: {}", bad_path(name))),
            "{name} not reported:\n{err}"
        );
    }
    assert!(
        err.contains(&format!("in {} file(s); nothing was sent", ALL.len())),
        "{err}"
    );
}

/// Errors of several files come in one run, so they can be fixed in one pass.
#[tokio::test]
async fn several_bad_files_report_all_errors() {
    let names = [
        "unknown-top-level-key",
        "bad-status-99",
        "undefined-var-in-path",
    ];
    let paths: Vec<String> = names.iter().map(|n| bad_path(n)).collect();
    let mut args = vec!["validate"];
    args.extend(paths.iter().map(String::as_str));
    let out = support::postdeploy(&args).await;
    assert_eq!(out.status.code(), Some(INVALID), "{}", support::text(&out));
    let err = stderr(&out);
    for p in &paths {
        assert!(
            err.contains(&format!("error: {p}:")),
            "{p} not reported:\n{err}"
        );
    }
    assert!(err.contains("did you mean `steps`?"), "{err}");
    assert!(err.contains("invalid HTTP status 99"), "{err}");
    assert!(err.contains("undefined variable `nope`"), "{err}");
    assert!(
        err.ends_with("3 error(s) in 3 file(s); nothing was sent\n"),
        "{err}"
    );
}
