//! Prometheus text exposition: parse, select samples, quantiles from buckets.
