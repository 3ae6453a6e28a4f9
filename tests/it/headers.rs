//! `verify` and `load` send the same request: one User-Agent, the same
//! default headers, and no `Accept-Encoding` unless the scenario asks. The
//! heads are read off a real loopback socket, as the target would see them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{postdeploy, text};

/// A minimal HTTP/1.1 server: records the head of every request to
/// `/probe` and answers each request `200 {}` on a kept-alive connection.
struct Capture {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Capture {
    async fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = heads.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            if head.split_whitespace().nth(1) == Some("/probe") {
                                seen.lock().expect("heads").push(head);
                            }
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                            if sock.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Capture { url, heads, task }
    }

    /// The header fields of every recorded request, names lower-cased.
    fn take(&self) -> Vec<BTreeMap<String, String>> {
        self.heads
            .lock()
            .expect("heads")
            .drain(..)
            .map(|head| {
                head.lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect()
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn scenario(dir: &Path, extra_headers: &str) -> String {
    let path = dir.join("probe.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nname: probe\nsteps:\n  - name: probe\n    request:\n      method: GET\n      path: /probe\n{extra_headers}    expect:\n      status: 200\n"
        ),
    )
    .expect("write scenario");
    path.to_str().expect("utf-8 path").to_owned()
}

/// A one-request `load` of `file` against `target`; the heads `capture`
/// recorded (at least one).
async fn load_once(
    capture: &Capture,
    target: &str,
    dir: &Path,
    file: &str,
) -> Vec<BTreeMap<String, String>> {
    let report = dir.join("load");
    let out = postdeploy(&[
        "load",
        "--target",
        target,
        "--users",
        "1",
        "--max-requests",
        "1",
        "--duration",
        "20s",
        "--no-server-metrics",
        "--out",
        report.to_str().expect("utf-8"),
        file,
    ])
    .await;
    assert!(out.status.success(), "load failed:\n{}", text(&out));
    let load = capture.take();
    assert!(!load.is_empty(), "load sent nothing to /probe");
    load
}

/// Runs `verify`, then a one-request `load`, and returns the head each sent.
async fn heads_of_both(
    extra_headers: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), extra_headers);
    let capture = Capture::start().await;
    let junit = dir.path().join("junit.xml");
    let out = postdeploy(&[
        "verify",
        "--target",
        &capture.url,
        "--junit",
        junit.to_str().expect("utf-8"),
        &file,
    ])
    .await;
    assert!(out.status.success(), "verify failed:\n{}", text(&out));
    let verify = capture.take();
    assert_eq!(verify.len(), 1, "verify sent {verify:?}");

    let load = load_once(&capture, &capture.url, dir.path(), &file).await;
    for other in &load[1..] {
        assert_eq!(other, &load[0], "load's requests differ among themselves");
    }
    (
        verify.into_iter().next().expect("one"),
        load.into_iter().next().expect("one"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_load_send_the_same_default_headers() {
    let (verify, load) = heads_of_both("").await;
    assert_eq!(verify, load, "verify and load differ");
    assert_eq!(
        verify.get("user-agent").map(String::as_str),
        Some(concat!("postdeploy/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(verify.get("accept").map(String::as_str), Some("*/*"));
    assert!(
        !verify.contains_key("accept-encoding"),
        "asked for compression unprompted: {verify:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_header_replaces_the_defaults_in_both() {
    let (verify, load) = heads_of_both(
        "      headers:\n        Accept-Encoding: gzip\n        User-Agent: smoke/1\n",
    )
    .await;
    assert_eq!(verify, load, "verify and load differ");
    assert_eq!(
        verify.get("accept-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(
        verify.get("user-agent").map(String::as_str),
        Some("smoke/1")
    );
}

/// A target URL's userinfo never reaches the Host header (load builds its
/// own Host for each user's connection): the server sees the same Host
/// from both commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_in_the_target_stays_out_of_the_host_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = scenario(dir.path(), "");
    let capture = Capture::start().await;
    let target = capture.url.replace("http://", "http://probe:pw@");
    let load = load_once(&capture, &target, dir.path(), &file).await;
    let host = capture.url.trim_start_matches("http://");
    for head in &load {
        assert_eq!(head.get("host").map(String::as_str), Some(host), "{head:?}");
    }
}
