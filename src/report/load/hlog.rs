//! `latency.hlog`: an HdrHistogram interval log, one histogram per second
//! per request name (tagged) plus an untagged one of all names together,
//! which is what HdrHistogram's `HistogramLogProcessor` reads when no
//! `-tag` is given. Headers follow the Java `HistogramLogWriter`: format
//! version, `StartTime`, `BaseTime` (interval timestamps are seconds since
//! the run started) and the column legend.
//!
//! Values are microseconds; the interval max column is in milliseconds
//! (divisor 1000), as Java writes it for its nanosecond logs with its own
//! divisor. Use `-outputValueUnitRatio 1000` with the Java processor.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::Names;
use crate::load::model::{Measurements, new_histogram};

const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// The interval log of a run.
pub fn interval_log(m: &Measurements) -> anyhow::Result<Vec<u8>> {
    let names = Names::new(m.requests.keys());
    let start: SystemTime = m.started_at.into();
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    {
        let mut header = IntervalLogWriterBuilder::new();
        header
            .add_comment("[Logged with postdeploy load]")
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values in microseconds; Interval_Max in milliseconds]");
        for (name, stem) in names.pairs() {
            header.add_comment(&format!("[Tag {stem} = request {name:?}]"));
        }
        header
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut buf, &mut ser)?;
    }
    // The builder writes comments and time headers but not the legend line
    // Java tools expect; it goes between the headers and the intervals.
    buf.extend_from_slice(LEGEND.as_bytes());
    let mut w = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut buf, &mut ser)?;
    let write_err = |e| anyhow::anyhow!("writing the interval log: {e}");
    for iv in &m.intervals {
        let mut all: Histogram<u64> = new_histogram();
        let mut tagged: BTreeMap<&str, &Histogram<u64>> = BTreeMap::new();
        for (name, s) in &iv.per_name {
            if s.histogram.is_empty() {
                continue;
            }
            let _ = all.add(&s.histogram);
            tagged.insert(names.stem(name), &s.histogram);
        }
        let length = if iv.length.is_zero() {
            Duration::from_secs(1)
        } else {
            iv.length
        };
        w.write_histogram(&all, iv.start, length, None)
            .map_err(write_err)?;
        for (stem, h) in tagged {
            let tag = Tag::new(stem)
                .ok_or_else(|| anyhow::anyhow!("tag {stem:?} is not valid in an interval log"))?;
            w.write_histogram(h, iv.start, length, Some(tag))
                .map_err(write_err)?;
        }
    }
    drop(w);
    Ok(buf)
}
