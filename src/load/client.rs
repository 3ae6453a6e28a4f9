//! The load test's HTTP client: hyper's pooled HTTP/1 client used directly
//! for plain-HTTP targets (one pool shared by every user), verify's reqwest
//! client for https and for following redirects. Either way the result is
//! the engine's [`Response`], so checks mean the same as in `verify`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::check::Response;
use crate::http::{Client as CheckClient, HttpOptions, Prepared, TransportError};

/// A request ready to send: the `Prepared` plus its parsed `Uri`, built once
/// per step when the step has no per-iteration variables.
#[derive(Debug, Clone)]
pub struct Ready {
    pub prepared: Prepared,
    uri: Option<Uri>,
}

impl Ready {
    pub fn new(prepared: Prepared) -> Self {
        // Only plain http goes through hyper; the rest keeps `uri: None`.
        let uri = (prepared.url.scheme() == "http")
            .then(|| prepared.url.as_str().parse::<Uri>().ok())
            .flatten();
        Ready { prepared, uri }
    }
}

#[derive(Clone)]
pub struct LoadClient {
    hyper: HyperClient<HttpConnector, Full<Bytes>>,
    fallback: CheckClient,
    max_body: usize,
}

impl LoadClient {
    pub fn new(opts: &HttpOptions) -> Result<Self, TransportError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let fallback = CheckClient::new(&HttpOptions {
            pool_max_idle: opts.pool_max_idle.max(64),
            ..opts.clone()
        })?;
        Ok(LoadClient {
            hyper,
            fallback,
            max_body: opts.max_body,
        })
    }

    /// Sends `req`; the response's latency runs from `from` (the actual or,
    /// in the open model, the intended send time) to the last body byte.
    pub async fn send(&self, req: &Ready, from: Instant) -> Result<Response, TransportError> {
        let p = &req.prepared;
        let Some(uri) = &req.uri else {
            return self.via_fallback(p, from).await;
        };
        let mut builder = Request::builder().method(p.method.clone()).uri(uri.clone());
        if let Some(h) = builder.headers_mut() {
            h.clone_from(&p.headers);
            crate::http::apply_defaults(h);
        }
        let body = p.body.clone().unwrap_or_default();
        let request = builder
            .body(Full::new(body))
            .map_err(|e| TransportError::Invalid(e.to_string()))?;
        let max_body = self.max_body;
        let exchange = async {
            let resp = self
                .hyper
                .request(request)
                .await
                .map_err(|e| classify(&e))?;
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
            Ok::<_, TransportError>((parts.status.as_u16(), parts.headers, collected.to_bytes()))
        };
        let (status, headers, body) = match tokio::time::timeout(p.timeout, exchange).await {
            Err(_) => {
                return Err(TransportError::Timeout(crate::check::fmt_duration(
                    p.timeout,
                )));
            }
            Ok(r) => r?,
        };
        if p.follow_redirects
            && matches!(status, 301 | 302 | 303 | 307 | 308)
            && headers.contains_key(http::header::LOCATION)
        {
            // Rare in load tests: let the gate's client walk the redirects.
            return self.via_fallback(p, from).await;
        }
        Ok(Response {
            status,
            headers,
            body,
            latency: from.elapsed(),
        })
    }

    async fn via_fallback(&self, p: &Prepared, from: Instant) -> Result<Response, TransportError> {
        let mut resp = self.fallback.send(p).await?;
        resp.latency = from.elapsed();
        Ok(resp)
    }
}

fn classify(e: &hyper_util::client::legacy::Error) -> TransportError {
    let text = crate::http::chain(e);
    if e.is_connect() {
        let lower = text.to_ascii_lowercase();
        if lower.contains("dns")
            || lower.contains("failed to lookup")
            || lower.contains("name or service not known")
        {
            TransportError::Dns(text)
        } else {
            TransportError::Connect(text)
        }
    } else {
        TransportError::Other(text)
    }
}
