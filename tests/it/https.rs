//! HTTPS end to end: the real backend behind a TLS terminator of the
//! test's own on loopback (an rcgen certificate for localhost and
//! 127.0.0.1, forwarded byte for byte to the backend), and `postdeploy
//! load` and `verify` run as processes against it. What the trust flags
//! do (`--insecure`, `--cacert`, `POSTDEPLOY_CACERT`, neither), that a bad
//! `--cacert` stops the run before anything is sent, and that redirects
//! over https are followed by `load` exactly as `verify` follows them.

use crate::support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{sqlite_backend, text};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The longest any one connection of a test server may live.
const CONN_LIMIT: Duration = Duration::from_secs(30);

/// A fresh self-signed certificate for localhost and 127.0.0.1: the
/// acceptor that serves it and its PEM, written to `dir/cert.pem`.
fn certificate(dir: &Path) -> (TlsAcceptor, PathBuf) {
    use base64::Engine as _;
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
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
    let b64 = base64::engine::general_purpose::STANDARD.encode(ck.cert.der());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        body.join("\n")
    );
    let path = dir.join("cert.pem");
    std::fs::write(&path, pem).expect("write cert.pem");
    (TlsAcceptor::from(Arc::new(config)), path)
}

/// Counts of what reached a TLS listener.
#[derive(Default)]
struct Seen {
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// TLS handshakes completed.
    handshakes: AtomicUsize,
}

/// A TLS terminator in front of the backend; dropping it stops it and
/// every connection it holds.
struct Terminator {
    addr: SocketAddr,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Terminator {
    async fn start(acceptor: TlsAcceptor, backend: SocketAddr) -> Terminator {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let task = tokio::spawn(async move {
            // Owned here so that aborting the accept loop ends every connection.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let s = s.clone();
                conns.spawn(async move {
                    let conn = async {
                        // A client that rejects the certificate ends here.
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        s.handshakes.fetch_add(1, Ordering::SeqCst);
                        let Ok(mut upstream) = TcpStream::connect(backend).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                    };
                    let _ = tokio::time::timeout(CONN_LIMIT, conn).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Terminator { addr, seen, task }
    }

    /// By IP literal: the certificate must match 127.0.0.1, and no SNI.
    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    fn handshakes(&self) -> usize {
        self.seen.handshakes.load(Ordering::SeqCst)
    }
}

/// The backend on 127.0.0.1, its TLS terminator and the certificate.
struct Target {
    backend: support::Backend,
    tls: Terminator,
    cert: PathBuf,
    acceptor: TlsAcceptor,
    dir: tempfile::TempDir,
}

async fn target() -> Target {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = sqlite_backend().await;
    let (acceptor, cert) = certificate(dir.path());
    let addr: SocketAddr = backend
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("backend address");
    let tls = Terminator::start(acceptor.clone(), addr).await;
    Target {
        backend,
        tls,
        cert,
        acceptor,
        dir,
    }
}

fn fixture(path: &str) -> String {
    support::root()
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `postdeploy load` of `scenario` against `url`, one report directory per
/// run; returns the process and summary.json (if written).
async fn load(
    t: &Target,
    name: &str,
    scenario: &str,
    url: &str,
    extra: &[&str],
) -> (Output, Option<Value>) {
    let out = t.dir.path().join(name);
    let mut args = vec![
        "load",
        scenario,
        "--target",
        url,
        "--users",
        "2",
        "--duration",
        "10s",
        "--no-server-metrics",
        "--no-history",
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let o = support::postdeploy(&args).await;
    let summary = std::fs::read(out.join("summary.json"))
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("summary.json is JSON"));
    (o, summary)
}

async fn verify(t: &Target, name: &str, url: &str, extra: &[&str]) -> (Output, Value) {
    let json = t.dir.path().join(format!("{name}.json"));
    let junit = t.dir.path().join(format!("{name}.xml"));
    let scenario = fixture("load/health.yaml");
    let mut args = vec![
        "verify",
        &scenario,
        "--target",
        url,
        "--no-history",
        "--junit",
        s(&junit),
        "--json",
        s(&json),
    ];
    args.extend_from_slice(extra);
    let o = support::postdeploy(&args).await;
    let report = serde_json::from_slice(&std::fs::read(&json).expect("verify JSON report"))
        .expect("verify report is JSON");
    (o, report)
}

fn no_panic(o: &Output) {
    let all = text(o);
    assert!(!all.contains("panicked"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_over_https_trusting_by_insecure_or_cacert_counts_every_request() {
    let t = target().await;
    let health = fixture("load/health.yaml");
    let cacert = s(&t.cert).to_owned();
    for (name, url, extra) in [
        ("insecure", t.tls.url(), vec!["--insecure"]),
        // The certificate's own IP address, and then its host name (SNI).
        ("cacert", t.tls.url(), vec!["--cacert", &cacert]),
        (
            "cacert-localhost",
            t.tls.url().replace("127.0.0.1", "localhost"),
            vec!["--cacert", &cacert],
        ),
    ] {
        let before = t.tls.handshakes();
        let mut args = vec!["--max-requests", "60"];
        args.extend(extra);
        let (o, summary) = load(&t, name, &health, &url, &args).await;
        assert_eq!(o.status.code(), Some(0), "{name}\n{}", text(&o));
        let h = &summary.expect("summary.json")["requests"]["health"];
        // The health check's body is the real backend's: every answer
        // crossed TLS and came back healthy.
        assert_eq!(h["count"], 60, "{name}: {h}");
        assert_eq!(h["failed"], 0, "{name}: {h}");
        assert_eq!(h["errors"], serde_json::json!({}), "{name}: {h}");
        // Pooled: a handful of connections for 60 requests, not one each.
        let handshakes = t.tls.handshakes() - before;
        assert!(
            (1..=8).contains(&handshakes),
            "{name}: {handshakes} TLS handshakes for 60 requests"
        );
    }
    t.backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_without_trust_fails_every_request_as_tls() {
    let t = target().await;
    let health = fixture("load/health.yaml");
    let (o, summary) = load(
        &t,
        "untrusted",
        &health,
        &t.tls.url(),
        &["--max-requests", "20"],
    )
    .await;
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let h = &summary.expect("summary.json")["requests"]["health"];
    let count = h["count"].as_u64().expect("count");
    assert!(count >= 20, "{h}");
    assert_eq!(h["errors"]["transport:tls"], count, "{h}");
    assert_eq!(t.tls.handshakes(), 0, "no handshake may complete");
    let out = text(&o);
    assert!(
        out.contains("--cacert") && out.contains("--insecure"),
        "{out}"
    );
    t.backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_trusts_cacert_and_fails_without() {
    let t = target().await;
    let url = t.tls.url();
    let (o, _) = verify(&t, "with-cacert", &url, &["--cacert", s(&t.cert)]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The same file through the environment.
    let json = t.dir.path().join("env.json");
    let scenario = fixture("load/health.yaml");
    let o = support::postdeploy_env(
        &[
            "verify",
            &scenario,
            "--target",
            &url,
            "--no-history",
            "--junit",
            s(&t.dir.path().join("env.xml")),
            "--json",
            s(&json),
        ],
        &[("POSTDEPLOY_CACERT", s(&t.cert))],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // An empty variable (an unset pipeline variable) is no file at all:
    // the certificate is untrusted, and that is the run's verdict, not a
    // usage error.
    let o = support::postdeploy_env(
        &[
            "verify",
            &scenario,
            "--target",
            &url,
            "--no-history",
            "--junit",
            s(&t.dir.path().join("empty.xml")),
        ],
        &[("POSTDEPLOY_CACERT", "")],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let (o, report) = verify(&t, "without", &url, &[]).await;
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = report.to_string();
    assert!(
        all.contains("TLS failed") && all.contains("--cacert"),
        "{report:#}"
    );
    t.backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cacert_is_a_usage_error_naming_the_file_before_any_request() {
    let t = target().await;
    let health = fixture("load/health.yaml");
    let missing = t.dir.path().join("missing-ca.pem");
    let not_pem = t.dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let url = t.tls.url();
    for (file, why) in [(&missing, "No such file"), (&not_pem, "no certificate")] {
        let (o, summary) = load(&t, "bad", &health, &url, &["--cacert", s(file)]).await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(s(file)) && err.contains(why), "{err}");
        assert!(summary.is_none(), "no report for a run that never ran");

        let o = support::postdeploy(&[
            "verify",
            &health,
            "--target",
            &url,
            "--no-history",
            "--junit",
            s(&t.dir.path().join("bad.xml")),
            "--cacert",
            s(file),
        ])
        .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(s(file)) && err.contains(why), "{err}");
    }
    assert_eq!(t.tls.connections(), 0, "nothing may reach the target");
    t.backend.stop().await;
}

/// One request as the redirecting server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    referer: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// An HTTPS server that redirects: `/start` 307 to `/kept`, `/kept` 303
/// to `/final` on `localhost` (another origin than 127.0.0.1), `/final`
/// answers 200, and `/moved` 307 to the real backend's `/api/health`
/// behind the terminator; `/loop` 302 to itself. Keeps connections alive, as hyper expects.
struct Redirector {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Redirector {
    async fn start(acceptor: TlsAcceptor, health: String) -> Redirector {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let log = log.clone();
                let health = health.clone();
                conns.spawn(async move {
                    let conn = async {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = redirect_conn(tls, addr.port(), &health, &log).await;
                        }
                    };
                    let _ = tokio::time::timeout(CONN_LIMIT, conn).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Redirector { addr, seen, task }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn redirect_conn<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    port: u16,
    health: &str,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split_whitespace();
        let method = first.next().unwrap_or_default().to_owned();
        let path = first.next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < end + len {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[end..end + len]).into_owned();
        buf.drain(..end + len);
        log.lock().unwrap().push(Request {
            method,
            path: path.clone(),
            authorization: header("authorization"),
            referer: header("referer"),
            content_type: header("content-type"),
            body,
        });
        let (status, location, body): (u16, Option<String>, &str) = match path.as_str() {
            "/start" => (307, Some("/kept".into()), ""),
            "/kept" => (
                303,
                Some(format!("https://localhost:{port}/final")),
                "see other",
            ),
            "/final" => (200, None, r#"{"ok":true}"#),
            "/moved" => (307, Some(health.to_owned()), ""),
            "/loop" => (302, Some("/loop".into()), ""),
            _ => (404, None, ""),
        };
        let mut resp = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        if let Some(l) = location {
            resp.push_str(&format!("Location: {l}\r\n"));
        }
        resp.push_str("Content-Type: application/json\r\n\r\n");
        resp.push_str(body);
        s.write_all(resp.as_bytes()).await?;
        s.flush().await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_follows_https_redirects_as_verify_does() {
    let t = target().await;
    let r = Redirector::start(t.acceptor.clone(), format!("{}/api/health", t.tls.url())).await;
    let cacert = s(&t.cert).to_owned();
    let chain = fixture("https/redirect-chain.yaml");

    // verify: POST /start -> 307 -> POST /kept -> 303 -> GET /final.
    let json = t.dir.path().join("chain.json");
    let o = support::postdeploy(&[
        "verify",
        &chain,
        "--target",
        &r.url(),
        "--cacert",
        &cacert,
        "--no-history",
        "--junit",
        s(&t.dir.path().join("chain.xml")),
        "--json",
        s(&json),
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let by_verify = r.take();
    let base = r.url();
    let expected = vec![
        Request {
            method: "POST".into(),
            path: "/start".into(),
            authorization: Some("Bearer chain-token".into()),
            referer: None,
            content_type: Some("application/json".into()),
            body: r#"{"n":1}"#.into(),
        },
        // 307: method, body and (same origin) credentials kept.
        Request {
            method: "POST".into(),
            path: "/kept".into(),
            authorization: Some("Bearer chain-token".into()),
            referer: Some(format!("{base}/start")),
            content_type: Some("application/json".into()),
            body: r#"{"n":1}"#.into(),
        },
        // 303 to another origin: a GET without body or credentials.
        Request {
            method: "GET".into(),
            path: "/final".into(),
            authorization: None,
            referer: Some(format!("{base}/kept")),
            content_type: None,
            body: String::new(),
        },
    ];
    assert_eq!(by_verify, expected);

    let (o, summary) = load(
        &t,
        "chain",
        &chain,
        &r.url(),
        &["--cacert", &cacert, "--max-requests", "4"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let c = &summary.expect("summary.json")["requests"]["chain"];
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    // Users run concurrently, so hops of different iterations interleave:
    // every iteration's three hops, each exactly as verify sent it.
    let by_load = r.take();
    let iterations = by_load.len() / 3;
    assert!(iterations >= 4 && by_load.len() % 3 == 0, "{by_load:#?}");
    for hop in &expected {
        let n = by_load.iter().filter(|q| *q == hop).count();
        assert_eq!(n, iterations, "{hop:?} in {by_load:#?}");
    }

    // 307 from one https origin to the real backend behind another.
    let (o, summary) = load(
        &t,
        "moved",
        &fixture("https/moved-health.yaml"),
        &r.url(),
        &["--cacert", &cacert, "--max-requests", "30"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = &summary.expect("summary.json")["requests"]["moved health"];
    assert_eq!(m["count"], 30, "{m}");
    assert_eq!(m["errors"], serde_json::json!({}), "{m}");
    let moved = r.take();
    assert_eq!(moved.len(), 30, "one 307 per request");
    assert!(moved.iter().all(|q| q.path == "/moved"));
    t.backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_commands_give_up_a_redirect_loop_after_the_same_hops() {
    let t = target().await;
    let r = Redirector::start(t.acceptor.clone(), String::new()).await;
    let looping = fixture("https/redirect-loop.yaml");
    let o = support::postdeploy(&[
        "verify",
        &looping,
        "--target",
        &r.url(),
        "--insecure",
        "--no-history",
        "--junit",
        s(&t.dir.path().join("loop.xml")),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let per_request = r.take().len();
    // The first request and ten redirects.
    assert_eq!(per_request, 11, "{}", text(&o));

    let (o, summary) = load(
        &t,
        "loop",
        &looping,
        &r.url(),
        &["--insecure", "--max-requests", "5"],
    )
    .await;
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let l = &summary.expect("summary.json")["requests"]["loop"];
    let count = l["count"].as_u64().expect("count");
    assert_eq!(l["errors"]["transport:redirect"], count, "{l}");
    assert_eq!(r.take().len() as u64, count * per_request as u64);
    t.backend.stop().await;
}
