//! Secret canaries: a distinct value through each route a secret takes (a
//! `--header` with an innocuous name, `${env.X}` in a path, in a body and in
//! a readiness step, a `--secret-var`, a variable the scenario lists in
//! `secrets:`), across passing, failing,
//! interrupted and readiness-timeout runs of verify and load. Every byte
//! postdeploy writes (each file under the output directory, file names,
//! stdout, stderr) is searched: zero occurrences, in any encoding.

use crate::support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Backend, sqlite_backend};

/// (environment variable or flag, value, the part searched for). The
/// searched part is a token every encoding of the value keeps.
const READY: (&str, &str, &str) = ("PD_CANARY_READY", "cnry-ready-0a6c33", "0a6c33");
const PATH: (&str, &str, &str) = ("PD_CANARY_PATH", "cnry path 52be0c", "52be0c");
const BODY: (&str, &str, &str) = ("PD_CANARY_BODY", "cnry-body \"9d14e7\"", "9d14e7");
const HEADER: &str = "X-Trace: cnry-hdr-7f3a91";
const VAR: &str = "token=cnry-var-e81f27";
/// The scenario variable `label` (marked in `secrets:`) ends in 4b7d21.
const TOKENS: [&str; 6] = ["0a6c33", "52be0c", "9d14e7", "7f3a91", "e81f27", "4b7d21"];

fn fixture(name: &str) -> String {
    support::root()
        .join("tests/fixtures/secrets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn command(args: &[String]) -> tokio::process::Command {
    let mut c = support::postdeploy_command();
    c.args(args)
        .current_dir(support::root())
        .env("CI", "true")
        .env_remove("POSTDEPLOY_TARGET")
        .env(READY.0, READY.1)
        .env(PATH.0, PATH.1)
        .env(BODY.0, BODY.1)
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs postdeploy to its end, or sends SIGTERM after `term_after`.
async fn run(args: Vec<String>, term_after: Option<Duration>) -> (Option<i32>, Vec<u8>) {
    let child = command(&args).spawn().expect("spawn");
    if let Some(d) = term_after {
        tokio::time::sleep(d).await;
        let pid = child.id().expect("running").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("postdeploy finished")
        .unwrap();
    let mut all = out.stdout;
    all.extend_from_slice(&out.stderr);
    (out.status.code(), all)
}

/// Asserts no canary is in `bytes`, nor in any file (or file name) under
/// `dir`; returns how many files were searched.
fn assert_clean(what: &str, dir: &Path, output: &[u8]) -> usize {
    support::assert_absent(&format!("{what}: stdout/stderr"), output, &TOKENS);
    let files = support::files_under(dir);
    for f in &files {
        let name = format!("{what}: file name {}", f.display());
        support::assert_absent(&name, f.to_string_lossy().as_bytes(), &TOKENS);
        let contents = format!("{what}: {}", f.display());
        support::assert_absent(&contents, &std::fs::read(f).unwrap(), &TOKENS);
    }
    files.len()
}

fn secret_flags() -> Vec<String> {
    ["--header", HEADER, "--secret-var", VAR]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn verify_args(target: &str, files: &[&str], out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["verify".into()];
    a.extend(files.iter().map(|f| fixture(f)));
    a.extend(["--target".to_string(), target.to_string()]);
    a.extend(secret_flags());
    a.extend([
        "--junit".to_string(),
        out.join("junit.xml").to_string_lossy().into_owned(),
        "--json".to_string(),
        out.join("verify.json").to_string_lossy().into_owned(),
        // The history is an artifact like any report.
        "--history".to_string(),
        out.join("history.sqlite").to_string_lossy().into_owned(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn load_args(target: &str, files: &[&str], out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["load".into()];
    a.extend(files.iter().map(|f| fixture(f)));
    a.extend(["--target".to_string(), target.to_string()]);
    a.extend(secret_flags());
    a.extend([
        "--out".to_string(),
        out.to_string_lossy().into_owned(),
        "--users".into(),
        "2".into(),
        "--history".into(),
        out.join("history.sqlite").to_string_lossy().into_owned(),
        "--markdown".into(),
        out.join("regression.md").to_string_lossy().into_owned(),
        "--bmf".into(),
        out.join("bmf.json").to_string_lossy().into_owned(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

async fn backend() -> Backend {
    sqlite_backend().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_verify_output() {
    let b = backend().await;
    let url = b.url();
    let root = tempfile::tempdir().unwrap();
    let mut searched = 0;

    let out = root.path().join("pass");
    let (code, o) = run(
        verify_args(&url, &["canary.yaml"], &out, &["--wait-ready", "10s"]),
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&o));
    searched += assert_clean("verify pass", &out, &o);

    let out = root.path().join("fail");
    let (code, o) = run(
        verify_args(
            &url,
            &["canary-fail.yaml", "canary-fail-body.yaml"],
            &out,
            &[],
        ),
        None,
    )
    .await;
    assert_eq!(code, Some(1), "{}", String::from_utf8_lossy(&o));
    // The failures are shown, only masked.
    let shown = String::from_utf8_lossy(&o);
    assert!(shown.contains("***"), "{shown}");
    searched += assert_clean("verify fail", &out, &o);

    let out = root.path().join("interrupted");
    let (code, o) = run(
        verify_args(&url, &["canary.yaml"], &out, &["--soak", "5m"]),
        Some(Duration::from_secs(2)),
    )
    .await;
    assert_eq!(code, Some(143), "{}", String::from_utf8_lossy(&o));
    searched += assert_clean("verify interrupted", &out, &o);

    let out = root.path().join("not-ready");
    let (code, o) = run(
        verify_args(
            "http://127.0.0.1:9",
            &["canary.yaml"],
            &out,
            &["--wait-ready", "2s"],
        ),
        None,
    )
    .await;
    assert_eq!(code, Some(3), "{}", String::from_utf8_lossy(&o));
    searched += assert_clean("verify readiness timeout", &out, &o);
    assert!(searched >= 8, "only {searched} files searched");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_load_output() {
    let b = backend().await;
    let url = b.url();
    let root = tempfile::tempdir().unwrap();

    let out = root.path().join("pass");
    let (code, o) = run(
        load_args(&url, &["canary.yaml"], &out, &["--duration", "2s"]),
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&o));
    let n = assert_clean("load pass", &out, &o);
    assert!(n >= 7, "only {n} report files");

    let out = root.path().join("fail");
    let (code, o) = run(
        load_args(
            &url,
            &["canary-fail.yaml", "canary-fail-body.yaml"],
            &out,
            &["--max-requests", "40"],
        ),
        None,
    )
    .await;
    assert_eq!(code, Some(1), "{}", String::from_utf8_lossy(&o));
    assert_clean("load fail", &out, &o);

    let out = root.path().join("interrupted");
    let (code, o) = run(
        load_args(&url, &["canary.yaml"], &out, &["--duration", "30s"]),
        Some(Duration::from_secs(2)),
    )
    .await;
    assert_eq!(code, Some(143), "{}", String::from_utf8_lossy(&o));
    assert_clean("load interrupted", &out, &o);

    // A flag error that would echo the value: masked too.
    let out = root.path().join("bad-header");
    std::fs::create_dir_all(&out).unwrap();
    let mut args = load_args(&url, &["canary.yaml"], &out, &[]);
    args.extend(["--header".into(), "X-Broken cnry-hdr-7f3a91".into()]);
    let (code, o) = run(args, None).await;
    assert_eq!(code, Some(2), "{}", String::from_utf8_lossy(&o));
    assert_clean("bad header", &out, &o);
    b.stop().await;
}
