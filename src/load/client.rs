//! The load test's HTTP client: hyper's pooled HTTP/1 client used directly,
//! over TCP or rustls (one pool shared by every user), with the TLS config
//! and the redirect rules `verify` uses ([`crate::tls`],
//! [`crate::redirect`]). The result is the engine's [`Response`], so checks
//! mean the same as in `verify`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::check::Response;
use crate::http::{HttpOptions, Prepared, TransportError};

/// A request ready to send: the `Prepared` plus its parsed `Uri`, built once
/// per step when the step has no per-iteration variables.
#[derive(Debug, Clone)]
pub struct Ready {
    pub prepared: Prepared,
    uri: Option<Uri>,
}

impl Ready {
    pub fn new(prepared: Prepared) -> Self {
        let uri = prepared.url.as_str().parse::<Uri>().ok();
        Ready { prepared, uri }
    }
}

#[derive(Clone)]
pub struct LoadClient {
    hyper: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    max_body: usize,
}

impl LoadClient {
    pub fn new(opts: &HttpOptions) -> Result<Self, TransportError> {
        let mut http = HttpConnector::new();
        // The TLS layer above takes https URLs; the TCP one must let them by.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let tls = crate::tls::client_config(opts.insecure, &opts.ca_certs)
            .map_err(|e| TransportError::Other(e.to_string()))?;
        // Built from its parts rather than by `HttpsConnectorBuilder`: the
        // builder refuses a config that already names its ALPN, and this
        // config offers `http/1.1` (as reqwest does for `verify`). The
        // parts are the builder's `https_or_http().enable_http1()`: http
        // URLs go straight to TCP, and the server name (SNI, and the name
        // the certificate must match) comes from the URL's host; an IP
        // literal is matched against the certificate's IP addresses and
        // sends no SNI, as TLS requires.
        let connector = HttpsConnector::from((http, tls));
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(LoadClient {
            hyper,
            max_body: opts.max_body,
        })
    }

    /// Sends `req`, following redirects when the step does; the response's
    /// latency runs from `from` (the actual or, in the open model, the
    /// intended send time) to the last body byte of the final response.
    pub async fn send(&self, req: &Ready, from: Instant) -> Result<Response, TransportError> {
        let p = &req.prepared;
        let (status, headers, body) =
            match tokio::time::timeout(p.timeout, self.exchange(req)).await {
                Err(_) => {
                    return Err(TransportError::Timeout(crate::check::fmt_duration(
                        p.timeout,
                    )));
                }
                Ok(r) => r?,
            };
        Ok(Response {
            status,
            headers,
            body,
            latency: from.elapsed(),
        })
    }

    async fn exchange(&self, req: &Ready) -> Result<(u16, HeaderMap, Bytes), TransportError> {
        let p = &req.prepared;
        let uri = match &req.uri {
            Some(u) => u.clone(),
            None => to_uri(&p.url)?,
        };
        let mut headers = p.headers.clone();
        crate::http::apply_defaults(&mut headers);
        let body = p.body.clone().unwrap_or_default();
        let resp = self.request(p.method.clone(), uri, headers, body).await?;
        let status = resp.status().as_u16();
        if p.follow_redirects && crate::redirect::next_method(status, &p.method).is_some() {
            return self.follow(p, resp).await;
        }
        self.read(resp).await
    }

    /// The rest of a redirect chain (rare in load tests, so off the hot
    /// path): each hop by [`crate::redirect`]'s rules.
    async fn follow(
        &self,
        p: &Prepared,
        mut resp: http::Response<Incoming>,
    ) -> Result<(u16, HeaderMap, Bytes), TransportError> {
        let mut method = p.method.clone();
        let mut body = p.body.clone().unwrap_or_default();
        let mut chain = p.headers.clone();
        crate::http::apply_defaults(&mut chain);
        let mut urls = vec![p.url.clone()];
        loop {
            let status = resp.status().as_u16();
            let Some((next_method, keep_body)) = crate::redirect::next_method(status, &method)
            else {
                return self.read(resp).await;
            };
            let current = urls.last().expect("the chain starts with the first URL");
            let Some(next) = crate::redirect::location(resp.headers(), current) else {
                return self.read(resp).await;
            };
            crate::redirect::check(&next, &urls)
                .map_err(|e| TransportError::Redirect(e.to_string()))?;
            // Read to the end, so the connection goes back to the pool.
            let _ = Limited::new(resp.into_body(), self.max_body)
                .collect()
                .await;
            if !keep_body {
                body = Bytes::new();
                crate::redirect::drop_payload_headers(&mut chain);
            }
            method = next_method;
            let headers = crate::redirect::hop_headers(&chain, &next, current);
            let uri = to_uri(&next)?;
            urls.push(next);
            resp = self
                .request(method.clone(), uri, headers, body.clone())
                .await?;
        }
    }

    async fn request(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<Incoming>, TransportError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.hyper.request(request).await.map_err(|e| classify(&e))
    }

    async fn read(
        &self,
        resp: http::Response<Incoming>,
    ) -> Result<(u16, HeaderMap, Bytes), TransportError> {
        let max_body = self.max_body;
        let (parts, body) = resp.into_parts();
        let collected = Limited::new(body, max_body).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                TransportError::BodyTooLarge(max_body)
            } else {
                TransportError::Other(crate::http::chain(e.as_ref()))
            }
        })?;
        Ok((parts.status.as_u16(), parts.headers, collected.to_bytes()))
    }
}

fn to_uri(url: &url::Url) -> Result<Uri, TransportError> {
    url.as_str()
        .parse::<Uri>()
        .map_err(|e| TransportError::Invalid(format!("{url}: {e}")))
}

fn classify(e: &hyper_util::client::legacy::Error) -> TransportError {
    let text = crate::http::chain(e);
    if crate::tls::is_tls_error(e) {
        return TransportError::Tls(text);
    }
    if e.is_connect() {
        let lower = text.to_ascii_lowercase();
        if lower.contains("dns")
            || lower.contains("failed to lookup")
            || lower.contains("name or service not known")
        {
            TransportError::Dns(text)
        } else if lower.contains("tls") || lower.contains("handshake") {
            // A server that hangs up mid-handshake: no rustls error to
            // find, only tokio-rustls's "tls handshake eof".
            TransportError::Tls(text)
        } else {
            TransportError::Connect(text)
        }
    } else {
        TransportError::Other(text)
    }
}
