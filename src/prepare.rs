//! Turns a step's request into a concrete HTTP request: templates rendered,
//! path joined to the target, defaults and `--header`s applied. Shared by
//! verify and load so both send exactly the same thing.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::http::Prepared;
use crate::scenario::model::{Defaults, Request};
use crate::scenario::template::{JsonTemplate, Scope, Template};

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

/// Renders `req` in `scope`: the request's templates parsed and rendered in
/// one go, for callers that send a step once (verify).
pub fn prepare(
    req: &Request,
    defaults: &Defaults,
    run: &RequestDefaults,
    scope: &Scope,
) -> Result<Prepared, String> {
    RequestTemplate::compile(req, defaults, run)?.render(scope)
}

/// A step's request with everything that does not depend on variables
/// settled once: method and header names parsed, templates parsed, headers
/// merged in precedence order. The load plan keeps one per step, so a
/// request that reads a captured value costs a concatenation per iteration,
/// not a parse.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    method: Method,
    target: url::Url,
    path: Template,
    query: Vec<(Template, Template)>,
    /// Scenario default headers, then the step's (a later one with the same
    /// name wins), as templates.
    headers: Vec<(HeaderName, Template)>,
    body: BodyTemplate,
    /// `--header`s: they win over everything, after rendering.
    run_headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    follow_redirects: bool,
}

#[derive(Debug, Clone)]
enum BodyTemplate {
    None,
    Json(JsonTemplate),
    Text(Template),
}

impl RequestTemplate {
    pub fn compile(
        req: &Request,
        defaults: &Defaults,
        run: &RequestDefaults,
    ) -> Result<RequestTemplate, String> {
        let method = Method::from_bytes(req.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", req.method))?;
        let path = Template::parse(&req.path.value)?;
        let query = req
            .query
            .iter()
            .map(|(k, v)| Ok((Template::parse(k)?, Template::parse(&v.value)?)))
            .collect::<Result<_, String>>()?;
        let mut headers: Vec<(HeaderName, Template)> = Vec::new();
        for (k, v) in defaults.headers.iter().chain(&req.headers) {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name `{k}`"))?;
            let t = Template::parse(&v.value)?;
            headers.retain(|(n, _)| n != name);
            headers.push((name, t));
        }
        let body = if let Some(j) = &req.json {
            BodyTemplate::Json(JsonTemplate::parse(&j.value)?)
        } else if let Some(b) = &req.body {
            BodyTemplate::Text(Template::parse(&b.value)?)
        } else {
            BodyTemplate::None
        };
        let timeout = req
            .timeout
            .map(|t| t.0)
            .or(run.timeout)
            .or(defaults.timeout.map(|t| t.0))
            .unwrap_or(FALLBACK_TIMEOUT);
        Ok(RequestTemplate {
            method,
            target: run.target.clone(),
            path,
            query,
            headers,
            body,
            run_headers: run.headers.clone(),
            timeout,
            follow_redirects: req.follow_redirects.unwrap_or(true),
        })
    }

    /// Variables the request reads (`${var}`, not `${env.X}`), sorted and
    /// without repeats.
    pub fn vars(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .path
            .vars()
            .chain(
                self.query
                    .iter()
                    .flat_map(|(k, v)| k.vars().chain(v.vars())),
            )
            .chain(self.headers.iter().flat_map(|(_, v)| v.vars()))
            .map(str::to_string)
            .collect();
        match &self.body {
            BodyTemplate::None => {}
            BodyTemplate::Json(j) => out.extend(j.vars().into_iter().map(str::to_string)),
            BodyTemplate::Text(t) => out.extend(t.vars().map(str::to_string)),
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn render(&self, scope: &Scope) -> Result<Prepared, String> {
        let mut url = join(&self.target, &self.path.render(scope)?)?;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(&k.render(scope)?, &v.render(scope)?);
            }
        }
        let mut headers = HeaderMap::with_capacity(self.headers.len() + self.run_headers.len() + 1);
        for (name, t) in &self.headers {
            let value = HeaderValue::from_str(&t.render(scope)?)
                .map_err(|_| format!("invalid value for header `{name}`"))?;
            headers.insert(name.clone(), value);
        }
        let body = match &self.body {
            BodyTemplate::Json(j) => {
                let v = j.render(scope)?;
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                Some(Bytes::from(
                    serde_json::to_vec(&v).map_err(|e| e.to_string())?,
                ))
            }
            BodyTemplate::Text(t) => Some(Bytes::from(t.render(scope)?)),
            BodyTemplate::None => None,
        };
        for (k, v) in &self.run_headers {
            headers.insert(k.clone(), v.clone());
        }
        Ok(Prepared {
            method: self.method.clone(),
            url,
            headers,
            body,
            timeout: self.timeout,
            follow_redirects: self.follow_redirects,
        })
    }
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
