//! The load test's HTTP client: hyper's HTTP/1 client used directly, over
//! TCP or rustls, with the TLS config and the redirect rules `verify` uses
//! ([`crate::tls`], [`crate::redirect`]). The result is the engine's
//! [`Response`], so checks mean the same as in `verify`.
//!
//! Each user (closed model) or in-flight iteration (open model) sends on a
//! connection of its own, a [`Lane`], as wrk's and oha's connections each
//! belong to one worker. A shared pool looked simpler, but users racing for
//! idle connections made it open more than it reused: 1,000 users held
//! about 1,600 connections, so the server saw more concurrency than the
//! user asked for, and every extra connection cost the generator about
//! 20 KB of hyper's buffers. The shared pool remains for what a lane does
//! not cover: redirects to another origin.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::check::Response;
use crate::http::{HttpOptions, Prepared, TransportError};

/// A request ready to send: the `Prepared` (its headers with the client's
/// defaults already in) plus its parsed `Uri`, built once per step when the
/// step has no per-iteration variables.
#[derive(Debug, Clone)]
pub struct Ready {
    pub prepared: Prepared,
    uri: Option<Uri>,
}

impl Ready {
    pub fn new(mut prepared: Prepared) -> Self {
        crate::http::apply_defaults(&mut prepared.headers);
        let uri = prepared.url.as_str().parse::<Uri>().ok();
        Ready { prepared, uri }
    }
}

/// One user's own connection: opened by its first request, reopened after
/// the server closes it or a request on it fails.
#[derive(Default)]
pub struct Lane {
    conn: Option<LaneConn>,
    timer: Option<Deadline>,
}

/// A lane's request timeout, armed lazily. `tokio::time::timeout` puts a
/// timer in tokio's wheel for every request and takes it out again, which
/// was a measurable share of a request's CPU against a fast server. This
/// timer stays armed across requests: it may go off early (set by an
/// earlier request, for an earlier deadline), in which case it is re-armed
/// for the current request's deadline and nothing fails. So it is
/// re-armed about once per timeout per lane, not once per request, and a
/// request still fails exactly when its own deadline has passed.
struct Deadline(std::pin::Pin<Box<tokio::time::Sleep>>);

impl Deadline {
    /// Runs `fut` until it ends (`Some`) or `deadline` passes (`None`).
    async fn bound<F: std::future::Future>(
        &mut self,
        deadline: tokio::time::Instant,
        fut: F,
    ) -> Option<F::Output> {
        use std::future::Future as _;
        use std::task::Poll;
        let timer = &mut self.0;
        // Never later than this request's deadline.
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            while timer.as_mut().poll(cx).is_ready() {
                if tokio::time::Instant::now() >= deadline {
                    return Poll::Ready(None);
                }
                // An earlier request's deadline: re-armed for this one
                // (which is in the future), so the next poll registers.
                timer.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

struct LaneConn {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The Host header for this origin, built once per connection.
    host: http::HeaderValue,
    sender: SendRequest<Full<Bytes>>,
}

impl Clone for Lane {
    /// A copy starts without a connection: a connection is one user's alone.
    /// (Goose keeps per-user data only if it can be cloned.)
    fn clone(&self) -> Self {
        Lane::default()
    }
}

impl Lane {
    /// Whether a request to `uri` goes on this lane: its first one does,
    /// and later ones to the same origin.
    fn takes(&self, uri: &Uri) -> bool {
        match &self.conn {
            None => true,
            Some(c) => uri.scheme() == Some(&c.scheme) && uri.authority() == Some(&c.authority),
        }
    }
}

/// Lanes the open model's iterations borrow and give back, so its
/// connections number at most the iterations ever in flight at once.
#[derive(Clone, Default)]
struct Lanes(std::sync::Arc<std::sync::Mutex<Vec<Lane>>>);

/// A lane borrowed from the open model's free list, returned on drop.
pub struct BorrowedLane {
    lane: Lane,
    home: Lanes,
}

impl std::ops::Deref for BorrowedLane {
    type Target = Lane;
    fn deref(&self) -> &Lane {
        &self.lane
    }
}

impl std::ops::DerefMut for BorrowedLane {
    fn deref_mut(&mut self) -> &mut Lane {
        &mut self.lane
    }
}

impl Drop for BorrowedLane {
    fn drop(&mut self) {
        let lane = std::mem::take(&mut self.lane);
        if lane.conn.is_some() {
            self.home
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(lane);
        }
    }
}

#[derive(Clone)]
pub struct LoadClient {
    hyper: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    connector: HttpsConnector<HttpConnector>,
    lanes: Lanes,
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
            .build(connector.clone());
        Ok(LoadClient {
            hyper,
            connector,
            lanes: Lanes::default(),
            max_body: opts.max_body,
        })
    }

    /// A lane for one open-model iteration: one that an earlier iteration
    /// gave back (its connection still open) when there is one.
    pub fn borrow_lane(&self) -> BorrowedLane {
        let lane = self
            .lanes
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        BorrowedLane {
            lane,
            home: self.lanes.clone(),
        }
    }

    /// Sends `req`, following redirects when the step does; the response's
    /// latency runs from `from` (the actual or, in the open model, the
    /// intended send time) to the last body byte of the final response.
    ///
    /// After a timeout or a failed exchange the lane's connection is closed:
    /// its state is unknown, and the next request opens another, as a pool
    /// would never hand such a connection out again.
    pub async fn send(
        &self,
        req: &Ready,
        from: Instant,
        lane: &mut Lane,
    ) -> Result<Response, TransportError> {
        let p = &req.prepared;
        let deadline = tokio::time::Instant::now() + p.timeout;
        let mut timer = lane
            .timer
            .take()
            .unwrap_or_else(|| Deadline(Box::pin(tokio::time::sleep_until(deadline))));
        let outcome = timer.bound(deadline, self.exchange(req, lane)).await;
        lane.timer = Some(timer);
        let (status, headers, body) = match outcome {
            None => {
                lane.conn = None;
                return Err(TransportError::Timeout(crate::measure::fmt_duration(
                    p.timeout,
                )));
            }
            Some(Err(e)) => {
                lane.conn = None;
                return Err(e);
            }
            Some(Ok(r)) => r,
        };
        Ok(Response {
            status,
            headers,
            body,
            latency: from.elapsed(),
        })
    }

    async fn exchange(
        &self,
        req: &Ready,
        lane: &mut Lane,
    ) -> Result<(u16, HeaderMap, Bytes), TransportError> {
        let p = &req.prepared;
        let uri = match &req.uri {
            Some(u) => u.clone(),
            None => to_uri(&p.url)?,
        };
        // The client's default headers are in already (`Ready::new`).
        let headers = p.headers.clone();
        let body = p.body.clone().unwrap_or_default();
        let resp = self
            .request(p.method.clone(), uri, headers, body, lane)
            .await?;
        let status = resp.status().as_u16();
        if p.follow_redirects && crate::redirect::next_method(status, &p.method).is_some() {
            // Boxed, as a rare path (see connect).
            return Box::pin(self.follow(p, resp, lane)).await;
        }
        self.read(resp).await
    }

    /// The rest of a redirect chain (rare in load tests, so off the hot
    /// path): each hop by [`crate::redirect`]'s rules.
    async fn follow(
        &self,
        p: &Prepared,
        mut resp: http::Response<Incoming>,
        lane: &mut Lane,
    ) -> Result<(u16, HeaderMap, Bytes), TransportError> {
        let mut method = p.method.clone();
        let mut body = p.body.clone().unwrap_or_default();
        let mut chain = p.headers.clone();
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
                .request(method.clone(), uri, headers, body.clone(), lane)
                .await?;
        }
    }

    async fn request(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
        lane: &mut Lane,
    ) -> Result<http::Response<Incoming>, TransportError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.headers_mut() = headers;
        if !lane.takes(&uri) {
            // A redirect to another origin: the shared pool.
            *request.uri_mut() = uri;
            return self.hyper.request(request).await.map_err(|e| classify(&e));
        }
        // The target in origin form, as hyper-util's client sends HTTP/1.
        *request.uri_mut() = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        loop {
            let reused = lane.conn.as_ref().is_some_and(|c| !c.sender.is_closed());
            if !reused {
                // Boxed: connecting (TCP, TLS) is rare, and its state would
                // otherwise sit in every user's request future.
                lane.conn = Some(Box::pin(self.connect(&uri)).await?);
            }
            let conn = lane.conn.as_mut().expect("connected above");
            if !request.headers().contains_key(http::header::HOST) {
                request
                    .headers_mut()
                    .insert(http::header::HOST, conn.host.clone());
            }
            let sender = &mut conn.sender;
            if sender.ready().await.is_err() {
                lane.conn = None;
                if reused {
                    continue;
                }
                return Err(TransportError::Connect(
                    "the server closed the connection before the request".into(),
                ));
            }
            match sender.try_send_request(request).await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => {
                    lane.conn = None;
                    match e.take_message() {
                        // Never written: the server closed the idle
                        // connection as it was reused. Once more, on a new
                        // one, as hyper-util's pool does.
                        Some(again) if reused => request = again,
                        _ => return Err(TransportError::Other(crate::http::chain(e.error()))),
                    }
                }
            }
        }
    }

    async fn connect(&self, uri: &Uri) -> Result<LaneConn, TransportError> {
        use tower_service::Service as _;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(TransportError::Invalid(format!(
                "{uri}: not an absolute URL"
            )));
        };
        // What hyper-util's client sends: host and port (the scheme's
        // default port left out), never the userinfo an authority may carry.
        let default_port = if *scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        };
        let host = match authority.port_u16() {
            Some(p) if p != default_port => {
                http::HeaderValue::from_str(&format!("{}:{p}", authority.host()))
            }
            _ => http::HeaderValue::from_str(authority.host()),
        }
        .map_err(|_| TransportError::Invalid(format!("{uri}: invalid host")))?;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| classify_connect(&*e))?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(|e| classify_connect(&*e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| TransportError::Connect(crate::http::chain(&e)))?;
        // Ends when the lane drops its sender, or the server hangs up.
        tokio::spawn(conn);
        Ok(LaneConn {
            scheme: scheme.clone(),
            authority: authority.clone(),
            host,
            sender,
        })
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
    if e.is_connect() || crate::tls::is_tls_error(e) {
        classify_connect(e)
    } else {
        TransportError::Other(crate::http::chain(e))
    }
}

/// A connection that could not be made: DNS, TLS or TCP.
fn classify_connect(e: &(dyn std::error::Error + 'static)) -> TransportError {
    let text = crate::http::chain(e);
    if crate::tls::is_tls_error(e) {
        return TransportError::Tls(text);
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("dns")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        TransportError::Dns(text)
    } else if lower.contains("tls") || lower.contains("handshake") {
        // A server that hangs up mid-handshake: no rustls error to find,
        // only tokio-rustls's "tls handshake eof".
        TransportError::Tls(text)
    } else {
        TransportError::Connect(text)
    }
}

#[cfg(test)]
mod tests {
    use super::Deadline;
    use std::time::Duration;
    use tokio::time::{Instant, sleep, sleep_until};

    fn armed_for(at: Instant) -> Deadline {
        Deadline(Box::pin(sleep_until(at)))
    }

    #[tokio::test]
    async fn a_timer_left_by_an_earlier_request_fails_nothing_early() {
        // Armed for 20 ms from now, as an earlier request would leave it;
        // this request's deadline is 2 s away and it takes 100 ms.
        let now = Instant::now();
        let mut timer = armed_for(now + Duration::from_millis(20));
        let out = timer
            .bound(now + Duration::from_secs(2), async {
                sleep(Duration::from_millis(100)).await;
                7
            })
            .await;
        assert_eq!(out, Some(7));
        // Re-armed for this request's deadline, not left behind.
        assert_eq!(timer.0.deadline(), now + Duration::from_secs(2));
    }

    /// How long a request that never ends takes to fail, with the timer
    /// armed at `armed` and the request's deadline at `deadline`.
    async fn fails_after(armed: Duration, deadline: Duration) -> Duration {
        let now = Instant::now();
        let mut timer = armed_for(now + armed);
        let out = timer
            .bound(now + deadline, std::future::pending::<()>())
            .await;
        assert_eq!(out, None);
        now.elapsed()
    }

    #[tokio::test]
    async fn a_request_fails_once_its_own_deadline_passes() {
        // Armed earlier than the deadline: goes off, is re-armed, then fails.
        let took = fails_after(Duration::from_millis(10), Duration::from_millis(60)).await;
        assert!(took >= Duration::from_millis(60), "{took:?}");
        // Armed later than the deadline (a longer-timeout step before): it
        // is pulled in, so the request does not wait for the old one.
        let took = fails_after(Duration::from_secs(60), Duration::from_millis(50)).await;
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_secs(30),
            "{took:?}"
        );
    }
}
