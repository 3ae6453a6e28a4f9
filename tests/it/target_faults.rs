//! Target faults: whatever a target does wrong (refuses, does not resolve,
//! presents a certificate nobody signed, stalls, trickles, answers HTML, a
//! 20 MB body, a redirect loop, a body that breaks its schema or XML), the
//! gate reports a failed step with a reason, never panics, and still runs
//! the teardown.
//!
//! Every target here is a small server of the test's own on 127.0.0.1:0 (raw
//! HTTP/1.1 over tokio, optionally behind rustls with an rcgen self-signed
//! certificate), so each fault is exact and nothing leaves the loopback.

use crate::support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// The longest any one connection of a test server may live.
const CONN_LIMIT: Duration = Duration::from_secs(15);

/// The default `--max-body` (10 MiB).
const DEFAULT_CAP: usize = 10 * 1024 * 1024;

/// A valid health answer for schemas/health.schema.json.
const HEALTHY: &str = r#"{"status":"healthy","timestamp":"2026-11-28T01:00:00.000Z","version":"1.0.0","service":"backend","uptime":12.5,"environment":"test","database":{"status":"connected","type":"postgresql"}}"#;

/// What the server's `/fault` route does. `/teardown` (counted) and `/ok`
/// always answer 200 `{"ok":true}`.
#[derive(Clone)]
enum Fault {
    /// A complete answer.
    Answer {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Nothing for this long, then a 200.
    Stall(Duration),
    /// Headers at once, then one body byte every 100 ms for 5 s.
    Trickle,
    /// A body of this many bytes, announced by Content-Length or chunked.
    Big { bytes: usize, chunked: bool },
    /// 302 to itself, forever.
    RedirectLoop,
}

impl Fault {
    fn json(body: &str) -> Fault {
        Fault::Answer {
            status: 200,
            content_type: "application/json",
            body: body.as_bytes().to_vec(),
        }
    }
}

struct State {
    fault: Fault,
    fault_hits: AtomicUsize,
    teardown_hits: AtomicUsize,
}

/// A test server; dropping it stops it and every connection it holds.
struct Server {
    addr: SocketAddr,
    tls: bool,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn http(fault: Fault) -> Server {
        Server::start(fault, None).await
    }

    /// HTTPS with a fresh self-signed certificate for 127.0.0.1/localhost.
    async fn https(fault: Fault) -> Server {
        let ck = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("self-signed certificate");
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key.into())
        .expect("TLS server config");
        Server::start(
            fault,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn start(fault: Fault, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            fault,
            fault_hits: AtomicUsize::new(0),
            teardown_hits: AtomicUsize::new(0),
        });
        let st = state.clone();
        let is_tls = tls.is_some();
        let task = tokio::spawn(async move {
            // Owned here so that aborting the accept loop ends every connection.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let st = st.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let conn = async {
                        match tls {
                            Some(acceptor) => {
                                // A client that rejects the certificate ends here.
                                if let Ok(stream) = acceptor.accept(tcp).await {
                                    let _ = serve(stream, &st).await;
                                }
                            }
                            None => {
                                let _ = serve(tcp, &st).await;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(CONN_LIMIT, conn).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Server {
            addr,
            tls: is_tls,
            state,
            task,
        }
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    fn teardown_hits(&self) -> usize {
        self.state.teardown_hits.load(Ordering::SeqCst)
    }

    fn fault_hits(&self) -> usize {
        self.state.fault_hits.load(Ordering::SeqCst)
    }
}

/// Reads one request head and returns its path.
async fn read_path<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    Ok(head.split_whitespace().nth(1).unwrap_or("/").to_string())
}

fn head(status: u16, headers: &[(&str, String)]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut h = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

async fn answer<S: AsyncWrite + Unpin>(
    s: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let h = head(
        status,
        &[
            ("Content-Type", content_type.to_string()),
            ("Content-Length", body.len().to_string()),
        ],
    );
    s.write_all(&h).await?;
    s.write_all(body).await?;
    s.flush().await?;
    s.shutdown().await
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, st: &State) -> std::io::Result<()> {
    let path = read_path(&mut s).await?;
    match path.as_str() {
        "/teardown" => {
            st.teardown_hits.fetch_add(1, Ordering::SeqCst);
            return answer(&mut s, 200, "application/json", br#"{"ok":true}"#).await;
        }
        "/ok" => return answer(&mut s, 200, "application/json", br#"{"ok":true}"#).await,
        _ => {}
    }
    st.fault_hits.fetch_add(1, Ordering::SeqCst);
    match &st.fault {
        Fault::Answer {
            status,
            content_type,
            body,
        } => answer(&mut s, *status, content_type, body).await,
        Fault::Stall(d) => {
            tokio::time::sleep(*d).await;
            answer(&mut s, 200, "application/json", br#"{"ok":true}"#).await
        }
        Fault::Trickle => {
            let n = 50;
            s.write_all(&head(
                200,
                &[
                    ("Content-Type", "text/plain".to_string()),
                    ("Content-Length", n.to_string()),
                ],
            ))
            .await?;
            s.flush().await?;
            for _ in 0..n {
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.write_all(b"x").await?;
                s.flush().await?;
            }
            s.shutdown().await
        }
        Fault::Big { bytes, chunked } => {
            let framing = if *chunked {
                ("Transfer-Encoding", "chunked".to_string())
            } else {
                ("Content-Length", bytes.to_string())
            };
            s.write_all(&head(
                200,
                &[("Content-Type", "application/json".to_string()), framing],
            ))
            .await?;
            let block = vec![b' '; 64 * 1024];
            let mut left = *bytes;
            while left > 0 {
                let n = left.min(block.len());
                if *chunked {
                    s.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    s.write_all(&block[..n]).await?;
                    s.write_all(b"\r\n").await?;
                } else {
                    s.write_all(&block[..n]).await?;
                }
                left -= n;
            }
            if *chunked {
                s.write_all(b"0\r\n\r\n").await?;
            }
            s.flush().await?;
            s.shutdown().await
        }
        Fault::RedirectLoop => {
            s.write_all(&head(
                302,
                &[
                    ("Location", "/fault".to_string()),
                    ("Content-Length", "0".to_string()),
                ],
            ))
            .await?;
            s.flush().await?;
            s.shutdown().await
        }
    }
}

/// One finished `postdeploy verify` run with its reports read back.
struct Run {
    out: Output,
    elapsed: Duration,
    json: Value,
    junit: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn text(&self) -> String {
        support::text(&self.out)
    }

    fn steps(&self) -> &[Value] {
        let scenarios = self.json["scenarios"]
            .as_array()
            .expect("scenarios[] in the JSON report");
        assert_eq!(scenarios.len(), 1, "one scenario expected:\n{}", self.json);
        scenarios[0]["steps"].as_array().expect("steps[]")
    }

    fn step(&self, phase: &str, name: &str) -> &Value {
        self.steps()
            .iter()
            .find(|s| s["phase"] == phase && s["name"] == name)
            .unwrap_or_else(|| {
                panic!(
                    "no {phase} step `{name}` in the JSON report:\n{:#}",
                    self.json
                )
            })
    }

    fn message(&self, name: &str) -> String {
        self.step("step", name)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn fixture(name: &str) -> String {
    // Relative to the repository root, where `support::postdeploy` runs.
    format!("tests/fixtures/fault-scenarios/{name}")
}

/// Runs `verify` on one fault scenario with reports in a temporary
/// directory; asserts no panic and a JUnit file that validates.
async fn verify(scenario: &str, target: &str, teardown: &Server, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit: PathBuf = dir.path().join("junit.xml");
    let json: PathBuf = dir.path().join("report.json");
    let scenario = fixture(scenario);
    let teardown_var = format!("teardown={}", teardown.url());
    let mut args: Vec<&str> = vec![
        "verify",
        &scenario,
        "--target",
        target,
        "--var",
        &teardown_var,
        "--junit",
        path_str(&junit),
        "--json",
        path_str(&json),
    ];
    args.extend_from_slice(extra);
    let t0 = Instant::now();
    let out = support::postdeploy(&args).await;
    let elapsed = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "postdeploy panicked:\n{}",
        support::text(&out)
    );
    let raw = std::fs::read(&json)
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}", support::text(&out)));
    let json: Value = serde_json::from_slice(&raw).expect("the JSON report parses");
    assert_eq!(json["format"], "postdeploy.verify/v1");
    let junit = support::junit_valid(&junit);
    Run {
        out,
        elapsed,
        json,
        junit,
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The teardown ran exactly once against the healthy route and passed.
fn assert_teardown_ran(run: &Run, server: &Server) {
    assert_eq!(server.teardown_hits(), 1, "teardown hits\n{}", run.text());
    let t = run.step("teardown", "teardown reaches the healthy route");
    assert_eq!(t["verdict"], "passed", "teardown step: {t:#}");
    assert!(
        run.junit
            .contains("teardown: teardown reaches the healthy route"),
        "{}",
        run.junit
    );
}

/// The fault step is an error whose message holds every `reason` fragment,
/// the later step was skipped, exit 1, JUnit `<error>`, teardown ran.
fn assert_transport_error(run: &Run, teardown: &Server, reason: &[&str]) -> String {
    assert_eq!(run.code(), Some(1), "exit code\n{}", run.text());
    let step = run.step("step", "fault step");
    assert_eq!(step["verdict"], "error", "fault step: {step:#}");
    let msg = run.message("fault step");
    eprintln!("fault step: {msg} (run took {:?})", run.elapsed);
    for r in reason {
        assert!(msg.contains(r), "reason `{msg}` should mention `{r}`");
    }
    let later = run.step("step", "a later step");
    assert_eq!(later["verdict"], "skipped", "later step: {later:#}");
    assert!(
        run.junit.contains("<error"),
        "JUnit should carry an <error>:\n{}",
        run.junit
    );
    assert!(
        !run.junit.contains("<failure"),
        "a transport fault is not a <failure>:\n{}",
        run.junit
    );
    assert_teardown_ran(run, teardown);
    msg
}

/// The named step failed (not errored) on assertions; returns them.
fn assert_assertion_failure<'a>(run: &'a Run, teardown: &Server, name: &str) -> Vec<&'a Value> {
    assert_eq!(run.code(), Some(1), "exit code\n{}", run.text());
    let step = run.step("step", name);
    assert_eq!(step["verdict"], "failed", "{name}: {step:#}");
    let failed: Vec<&Value> = step["assertions"]
        .as_array()
        .expect("assertions[]")
        .iter()
        .filter(|a| a["passed"] == false)
        .collect();
    assert!(
        !failed.is_empty(),
        "a failed step names its failed assertions: {step:#}"
    );
    eprintln!("{name}: {failed:#?}");
    let later = run.step("step", "a later step");
    assert_eq!(later["verdict"], "skipped", "later step: {later:#}");
    assert!(
        run.junit.contains("<failure"),
        "JUnit should carry a <failure>:\n{}",
        run.junit
    );
    assert!(
        !run.junit.contains("<error"),
        "an assertion failure is not an <error>:\n{}",
        run.junit
    );
    assert_teardown_ran(run, teardown);
    failed
}

fn ok_json() -> Fault {
    Fault::json(r#"{"ok":true}"#)
}

#[tokio::test]
async fn connection_refused_is_an_error_and_teardown_runs() {
    let healthy = Server::http(ok_json()).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let run = verify(
        "transport.yaml",
        &format!("http://127.0.0.1:{port}"),
        &healthy,
        &[],
    )
    .await;
    let msg = assert_transport_error(&run, &healthy, &["connection failed"]);
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

#[tokio::test]
async fn a_misleading_url_does_not_change_the_reason() {
    // The URL holds "dns", "tls", "certificate" and "handshake"; the fault is
    // a refused connection all the same.
    let healthy = Server::http(ok_json()).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let run = verify(
        "misleading-path.yaml",
        &format!("http://127.0.0.1:{port}"),
        &healthy,
        &[],
    )
    .await;
    let msg = assert_transport_error(&run, &healthy, &["connection failed"]);
    assert!(
        !msg.contains("name resolution") && !msg.contains("TLS failed"),
        "{msg}"
    );
}

#[tokio::test]
async fn unknown_host_is_a_name_resolution_error() {
    let healthy = Server::http(ok_json()).await;
    let run = verify(
        "transport.yaml",
        "http://does-not-exist.invalid",
        &healthy,
        &[],
    )
    .await;
    assert_transport_error(
        &run,
        &healthy,
        &["name resolution failed", "does-not-exist.invalid"],
    );
}

#[tokio::test]
async fn self_signed_tls_fails_without_insecure_and_passes_with_it() {
    let target = Server::https(ok_json()).await;
    let healthy = Server::http(ok_json()).await;
    let run = verify("transport.yaml", &target.url(), &healthy, &[]).await;
    let msg = assert_transport_error(&run, &healthy, &["TLS failed", "--insecure"]);
    assert!(msg.contains("certificate"), "{msg}");
    assert_eq!(target.fault_hits(), 0, "no request got past the handshake");

    let healthy = Server::http(ok_json()).await;
    let run = verify("transport.yaml", &target.url(), &healthy, &["--insecure"]).await;
    assert_eq!(run.code(), Some(0), "with --insecure\n{}", run.text());
    assert!(
        run.steps().iter().all(|s| s["verdict"] == "passed"),
        "{:#}",
        run.json
    );
    assert!(
        !run.junit.contains("<error") && !run.junit.contains("<failure"),
        "{}",
        run.junit
    );
    assert_eq!(target.fault_hits(), 1);
    assert_teardown_ran(&run, &healthy);
}

#[tokio::test]
async fn a_stalled_answer_times_out_quickly() {
    let server = Server::http(Fault::Stall(Duration::from_secs(5))).await;
    let run = verify("timeout.yaml", &server.url(), &server, &[]).await;
    assert_transport_error(&run, &server, &["no complete response within 300ms"]);
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}",
        run.elapsed
    );
}

#[tokio::test]
async fn the_timeout_covers_a_trickling_body() {
    let server = Server::http(Fault::Trickle).await;
    let run = verify("slow-body.yaml", &server.url(), &server, &[]).await;
    assert_transport_error(&run, &server, &["no complete response within 500ms"]);
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}",
        run.elapsed
    );
}

#[tokio::test]
async fn a_non_json_body_fails_its_body_assertions() {
    let server = Server::http(Fault::Answer {
        status: 200,
        content_type: "text/html",
        body: b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
    })
    .await;
    let run = verify("not-json.yaml", &server.url(), &server, &[]).await;
    let failed = assert_assertion_failure(&run, &server, "fault step");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["subject"], "$.status");
    let actual = failed[0]["actual"].as_str().unwrap_or_default();
    assert!(actual.contains("not JSON"), "{actual}");
    assert!(
        actual.contains("502 Bad Gateway"),
        "the reason shows the body: {actual}"
    );
    assert!(run.junit.contains("not JSON"), "{}", run.junit);
}

#[tokio::test]
async fn a_20_mb_body_with_content_length_exceeds_the_cap() {
    let server = Server::http(Fault::Big {
        bytes: 20 * 1024 * 1024,
        chunked: false,
    })
    .await;
    let run = verify("transport.yaml", &server.url(), &server, &[]).await;
    let cap = format!("exceeds the {DEFAULT_CAP}-byte cap");
    let msg = assert_transport_error(&run, &server, &[cap.as_str(), "--max-body"]);
    assert!(run.junit.contains("exceeds the"), "{msg}\n{}", run.junit);
}

#[tokio::test]
async fn a_20_mb_chunked_body_exceeds_the_cap() {
    let server = Server::http(Fault::Big {
        bytes: 20 * 1024 * 1024,
        chunked: true,
    })
    .await;
    let run = verify("transport.yaml", &server.url(), &server, &[]).await;
    let cap = format!("exceeds the {DEFAULT_CAP}-byte cap");
    assert_transport_error(&run, &server, &[cap.as_str()]);
}

#[tokio::test]
async fn a_20_mb_body_is_read_under_a_larger_cap() {
    // The cap, not the size itself, is what stops the two tests above.
    let server = Server::http(Fault::Big {
        bytes: 20 * 1024 * 1024,
        chunked: true,
    })
    .await;
    let run = verify(
        "transport.yaml",
        &server.url(),
        &server,
        &["--max-body", "25000000"],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{}", run.text());
    assert_teardown_ran(&run, &server);
}

#[tokio::test]
async fn a_redirect_loop_is_an_error() {
    let server = Server::http(Fault::RedirectLoop).await;
    let run = verify("transport.yaml", &server.url(), &server, &[]).await;
    assert_transport_error(&run, &server, &["redirect"]);
    // Redirects are bounded: the first request and at most ten more.
    let hits = server.fault_hits();
    assert!((2..=11).contains(&hits), "{hits} requests to the loop");
}

#[tokio::test]
async fn a_schema_break_names_the_step_and_the_instance_path() {
    let broken = HEALTHY
        .replace(r#""uptime":12.5"#, r#""uptime":"x""#)
        .replace(r#""status":"connected""#, r#""status":"on fire""#);
    let server = Server::http(Fault::json(&broken)).await;
    let run = verify(
        "schema-break.yaml",
        &server.url(),
        &server,
        &["--schemas", "schemas"],
    )
    .await;
    assert_eq!(
        run.step("step", "a healthy step first")["verdict"],
        "passed"
    );
    let failed = assert_assertion_failure(&run, &server, "health matches its schema");
    assert_eq!(failed.len(), 1, "only the schema breaks: {failed:#?}");
    assert_eq!(failed[0]["subject"], "schema health.schema.json");
    assert_eq!(failed[0]["kind"], "schema");
    let actual = failed[0]["actual"].as_str().unwrap_or_default();
    assert!(actual.contains("/uptime"), "{actual}");
    assert!(actual.contains("/database/status"), "{actual}");
    assert!(run.junit.contains("/uptime"), "{}", run.junit);
    assert!(
        run.junit.contains("health matches its schema"),
        "{}",
        run.junit
    );

    // The same scenario against a conforming answer passes: the schema
    // is what failed above, not the harness.
    let server = Server::http(Fault::json(HEALTHY)).await;
    let run = verify(
        "schema-break.yaml",
        &server.url(),
        &server,
        &["--schemas", "schemas"],
    )
    .await;
    assert_eq!(run.code(), Some(0), "{}", run.text());
    assert_teardown_ran(&run, &server);
}

#[tokio::test]
async fn xml_illegal_characters_in_a_failing_body_still_give_valid_junit() {
    let mut body = b"oops: ".to_vec();
    body.extend_from_slice(&[
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, b' ', 0x0B, 0x0C, 0x1F, b' ',
    ]);
    body.extend_from_slice("\u{FFFE} \u{FFFF} ]]> <&> \u{7F} ".as_bytes());
    body.extend_from_slice(&[0xFF, 0xC0, b' ', 0xED, 0xA0, 0x80]); // invalid UTF-8, a lone surrogate
    let server = Server::http(Fault::Answer {
        status: 500,
        content_type: "text/plain",
        body,
    })
    .await;
    // `verify` has already validated the JUnit against the Jenkins schema.
    let run = verify("xml-illegal.yaml", &server.url(), &server, &[]).await;
    let failed = assert_assertion_failure(&run, &server, "fault step");
    assert!(
        failed
            .iter()
            .any(|a| a["subject"] == "status" && a["actual"] == "500"),
        "{failed:#?}"
    );
    assert!(
        run.junit.contains("oops"),
        "the body excerpt is kept:\n{}",
        run.junit
    );
    assert!(
        !run.junit.contains('\u{FFFE}') && !run.junit.contains('\u{0B}'),
        "{}",
        run.junit
    );
}
