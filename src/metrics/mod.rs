//! Prometheus text exposition: parse, select samples, quantiles from buckets.
//!
//! Post-deploy checks read a service's metrics endpoint (text format 0.0.4 or
//! OpenMetrics) and assert on it: a family exists (possibly with no samples
//! yet), selected values, a histogram quantile, or a counter's increase across
//! a test. The parser is our own and strict because the available crate
//! (`prometheus-parse`) silently drops or mangles lines a check depends on;
//! see `docs/prometheus-parser.md`.
//!
//! ```
//! use postdeploy::metrics::{self, Selector};
//!
//! let text = "# TYPE http_requests_total counter\n\
//!             http_requests_total{status_code=\"503\"} 2\n\
//!             http_requests_total{status_code=\"200\"} 9\n";
//! let scrape = metrics::parse(text).unwrap();
//! let sel: Selector = r#"http_requests_total{status_code=~"5.."}"#.parse().unwrap();
//! assert_eq!(scrape.sum(&sel), Some(2.0));
//! ```

mod delta;
mod parse;
mod query;
mod selector;

pub use delta::{
    FamilyDelta, Increase, family_delta, increase, snapshot_from_json, snapshot_to_json,
};
pub use parse::{Exposition, Family, MetricKind, ParseError, Sample, parse};
pub use query::{LabelSet, QuantileGroup, QueryError, delta};
pub use selector::{LabelMatcher, MatchOp, Selector, SelectorError};
