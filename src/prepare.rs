//! Turns a step's request into a concrete HTTP request: templates rendered,
//! path joined to the target, defaults and `--header`s applied. Shared by
//! verify and load so both send exactly the same thing.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::http::Prepared;
use crate::scenario::model::{Defaults, Request};
use crate::scenario::template::Scope;

/// Settings that apply to every request of a run.
#[derive(Debug, Clone)]
pub struct RequestDefaults {
    pub target: url::Url,
    /// `--header` values; they win over scenario headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `--timeout`; wins over the scenario's default, not over a step's own.
    pub timeout: Option<Duration>,
}

pub const FALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Joins a path to the target, keeping the target's own path prefix
/// (a target of `https://host/prefix` and a path `/api/health` give
/// `https://host/prefix/api/health`). Absolute URLs are used as they are.
pub fn join(target: &url::Url, path: &str) -> Result<url::Url, String> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return url::Url::parse(path).map_err(|e| format!("invalid URL `{path}`: {e}"));
    }
    let base = target.as_str().trim_end_matches('/');
    let sep = if path.starts_with('/') { "" } else { "/" };
    url::Url::parse(&format!("{base}{sep}{path}"))
        .map_err(|e| format!("invalid URL `{base}{sep}{path}`: {e}"))
}

pub fn prepare(
    req: &Request,
    defaults: &Defaults,
    run: &RequestDefaults,
    scope: &Scope,
) -> Result<Prepared, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid method `{}`", req.method))?;
    let mut url = join(&run.target, &scope.render(&req.path.value)?)?;
    if !req.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &req.query {
            pairs.append_pair(&scope.render(k)?, &scope.render(&v.value)?);
        }
    }
    let mut headers = HeaderMap::new();
    let mut put = |k: &str, v: String| -> Result<(), String> {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name `{k}`"))?;
        let value =
            HeaderValue::from_str(&v).map_err(|_| format!("invalid value for header `{k}`"))?;
        headers.insert(name, value);
        Ok(())
    };
    for (k, v) in &defaults.headers {
        put(k, scope.render(&v.value)?)?;
    }
    for (k, v) in &req.headers {
        put(k, scope.render(&v.value)?)?;
    }
    let body = if let Some(j) = &req.json {
        let v = scope.render_json(&j.value)?;
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Some(Bytes::from(
            serde_json::to_vec(&v).map_err(|e| e.to_string())?,
        ))
    } else if let Some(b) = &req.body {
        Some(Bytes::from(scope.render(&b.value)?))
    } else {
        None
    };
    for (k, v) in &run.headers {
        headers.insert(k.clone(), v.clone());
    }
    let timeout = req
        .timeout
        .map(|t| t.0)
        .or(run.timeout)
        .or(defaults.timeout.map(|t| t.0))
        .unwrap_or(FALLBACK_TIMEOUT);
    Ok(Prepared {
        method,
        url,
        headers,
        body,
        timeout,
        follow_redirects: req.follow_redirects.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_prefix_and_absolute_urls() {
        let t = url::Url::parse("https://h.example/prefix/").unwrap();
        assert_eq!(
            join(&t, "/api/health").unwrap().as_str(),
            "https://h.example/prefix/api/health"
        );
        assert_eq!(
            join(&t, "api").unwrap().as_str(),
            "https://h.example/prefix/api"
        );
        assert_eq!(
            join(&t, "http://other/x").unwrap().as_str(),
            "http://other/x"
        );
    }
}
