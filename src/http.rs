//! The HTTP client for checks: timeouts over the whole exchange, a cap on
//! body size, redirects bounded, and transport failures classified so a
//! report can say *why* a target could not be reached.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::check::Response;

/// The User-Agent of every request, `verify`'s and `load`'s alike, so a
/// target's logs and WAF see one client.
pub const USER_AGENT: &str = concat!("postdeploy/", env!("CARGO_PKG_VERSION"));

/// Headers every request carries unless the scenario or `--header` sets
/// them. Both clients (reqwest for `verify`, hyper for `load`) take them
/// from here so the two commands send the same request. No
/// `Accept-Encoding`: bodies are judged as the server sends them, and
/// asking for gzip would make `load` measure compression `verify` never saw.
/// A scenario that sets `Accept-Encoding` itself gets the body as sent, in
/// both commands.
pub fn default_headers() -> &'static HeaderMap {
    static DEFAULTS: LazyLock<HeaderMap> = LazyLock::new(|| {
        let mut h = HeaderMap::with_capacity(2);
        h.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        // What reqwest sends on its own; written down so hyper sends it too.
        h.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
        h
    });
    &DEFAULTS
}

/// Adds each of [`default_headers`] that `headers` does not set (on load's
/// hot path: no allocation beyond the inserted entries).
pub fn apply_defaults(headers: &mut HeaderMap) {
    for (name, value) in default_headers() {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Accept invalid TLS certificates (self-signed staging targets).
    pub insecure: bool,
    /// Trusted in addition to the platform's roots (`--cacert`): a private
    /// CA, or a staging target's own certificate, without `--insecure`.
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Bodies larger than this are not read to the end: the step fails.
    pub max_body: usize,
    /// Connections kept idle per host; a gate needs few, load needs many.
    pub pool_max_idle: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            insecure: false,
            ca_certs: Vec::new(),
            max_body: 10 * 1024 * 1024,
            pool_max_idle: 8,
        }
    }
}

/// Why no response could be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("name resolution failed: {0}")]
    Dns(String),
    #[error(
        "TLS failed: {0} (trust the target's CA with --cacert FILE, or skip verification with --insecure)"
    )]
    Tls(String),
    #[error("no complete response within {0}")]
    Timeout(String),
    #[error("redirect problem: {0}")]
    Redirect(String),
    #[error("response body exceeds the {0}-byte cap (--max-body)")]
    BodyTooLarge(usize),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// A stable key for counting under load.
    pub fn reason_key(&self) -> &'static str {
        match self {
            TransportError::Connect(_) => "transport:connect",
            TransportError::Dns(_) => "transport:dns",
            TransportError::Tls(_) => "transport:tls",
            TransportError::Timeout(_) => "transport:timeout",
            TransportError::Redirect(_) => "transport:redirect",
            TransportError::BodyTooLarge(_) => "transport:body-too-large",
            TransportError::Invalid(_) => "transport:invalid-request",
            TransportError::Other(_) => "transport:other",
        }
    }
}

/// A request with every template already rendered.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    pub follow_redirects: bool,
}

#[derive(Clone)]
pub struct Client {
    follow: reqwest::Client,
    manual: reqwest::Client,
    max_body: usize,
}

impl Client {
    pub fn new(opts: &HttpOptions) -> Result<Self, TransportError> {
        let tls = crate::tls::client_config(opts.insecure, &opts.ca_certs)
            .map_err(|e| TransportError::Other(e.to_string()))?;
        let build = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .redirect(policy)
                // The config `load` uses too: same provider, roots, ALPN.
                .tls_backend_preconfigured(tls.clone())
                .pool_max_idle_per_host(opts.pool_max_idle)
                .default_headers(default_headers().clone())
                // Another crate in the build (goose) turns on reqwest's
                // decompression features, which would add Accept-Encoding
                // to every request; `load`'s hyper client never does.
                .no_gzip()
                .no_brotli()
                .no_zstd()
                .no_deflate()
                .no_proxy()
                .build()
                .map_err(|e| TransportError::Other(chain(&e)))
        };
        Ok(Client {
            follow: build(reqwest::redirect::Policy::custom(
                |attempt| match crate::redirect::check(attempt.url(), attempt.previous()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                },
            ))?,
            manual: build(reqwest::redirect::Policy::none())?,
            max_body: opts.max_body,
        })
    }

    /// Sends the request and reads the body up to the cap. Latency runs from
    /// just before the send to the last byte of the body.
    pub async fn send(&self, req: &Prepared) -> Result<Response, TransportError> {
        let client = if req.follow_redirects {
            &self.follow
        } else {
            &self.manual
        };
        let mut builder = client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone());
        if let Some(b) = &req.body {
            builder = builder.body(b.clone());
        }
        let request = builder
            .build()
            .map_err(|e| TransportError::Invalid(chain(&e)))?;
        let started = Instant::now();
        let exchange = async {
            let resp = client.execute(request).await.map_err(classify)?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if resp
                .content_length()
                .is_some_and(|n| n > self.max_body as u64)
            {
                return Err(TransportError::BodyTooLarge(self.max_body));
            }
            let mut body = BytesMut::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(classify)?;
                if body.len() + chunk.len() > self.max_body {
                    return Err(TransportError::BodyTooLarge(self.max_body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, body.freeze()))
        };
        match tokio::time::timeout(req.timeout, exchange).await {
            Err(_) => Err(TransportError::Timeout(crate::measure::fmt_duration(
                req.timeout,
            ))),
            Ok(Err(e)) => Err(e),
            Ok(Ok((status, headers, body))) => Ok(Response {
                status,
                headers,
                body,
                latency: started.elapsed(),
            }),
        }
    }
}

/// The error and its causes on one line: reqwest's top-level message alone
/// ("error sending request") tells a user nothing.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn classify(e: reqwest::Error) -> TransportError {
    // The step report already names the method and URL; reqwest repeats the
    // URL in its message. Judging by the message without it also keeps a
    // path such as `/api/dns/tls-certificate` from turning a refused
    // connection into a DNS or TLS failure.
    let e = e.without_url();
    let text = chain(&e).replace("error sending request: ", "");
    let lower = text.to_ascii_lowercase();
    if e.is_redirect() {
        TransportError::Redirect(text)
    } else if e.is_timeout() {
        TransportError::Timeout(text)
    } else if lower.contains("dns")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        TransportError::Dns(text)
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        TransportError::Tls(text)
    } else if e.is_connect() {
        TransportError::Connect(text)
    } else {
        TransportError::Other(text)
    }
}

/// Parses `Name: value` as given to `--header`.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("header `{s}` must look like `Name: value`"))?;
    let name = HeaderName::from_bytes(k.trim().as_bytes())
        .map_err(|_| format!("invalid header name `{}`", k.trim()))?;
    let value = HeaderValue::from_str(v.trim())
        .map_err(|_| format!("invalid value for header `{}`", k.trim()))?;
    Ok((name, value))
}
