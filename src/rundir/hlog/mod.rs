//! `latency.hlog`: an HdrHistogram interval log, one histogram per second
//! per request name (tagged) plus an untagged one of all names together,
//! which is what HdrHistogram's `HistogramLogProcessor` reads when no
//! `-tag` is given. Headers follow the Java `HistogramLogWriter`: format
//! version, `StartTime`, `BaseTime` (interval timestamps are seconds since
//! the run started) and the column legend.
//!
//! A second in which requests failed also gets a comment line (which
//! HdrHistogram's readers skip), `#[Failures START: TAG=U/E ...]`: per
//! request name, U requests that got no response (they are in no histogram)
//! and E failed requests in all. `merge` adds them up, so a merged run's
//! per-second errors and attempts are the shards' own.
//!
//! Values are microseconds; the interval max column is in milliseconds
//! (divisor 1000), as Java writes it for its nanosecond logs with its own
//! divisor. Use `-outputValueUnitRatio 1000` with the Java processor.
//!
//! This file is the one writer; [`read`] is the one reader.

pub mod read;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use super::Names;
use crate::measure::{IntervalHistograms, IntervalLog, new_histogram};

const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
/// How a second's failures line starts (see the module's comment).
pub const FAILURES: &str = "#[Failures ";

/// A tag, its requests without a response, and its failed requests.
pub type TagFailures<'a> = (&'a str, u64, u64);

/// Reads a `#[Failures ...]` line: its start (seconds since the run's
/// start) and, per tag, requests without a response and failed requests.
/// None for any other line.
pub fn parse_failures(line: &str) -> Option<(f64, Vec<TagFailures<'_>>)> {
    let rest = line.trim_end().strip_prefix(FAILURES)?.strip_suffix(']')?;
    let (start, pairs) = rest.split_once(':')?;
    let start: f64 = start.parse().ok()?;
    let mut out = Vec::new();
    for pair in pairs.split_whitespace() {
        let (tag, counts) = pair.rsplit_once('=')?;
        let (unanswered, errors) = counts.split_once('/')?;
        out.push((tag, unanswered.parse().ok()?, errors.parse().ok()?));
    }
    Some((start, out))
}

/// Interval_Max is written in ms: values are µs.
const MAX_DIVISOR: f64 = 1000.0;

/// Writes the interval log as the run goes: a second's histograms are
/// written (and flushed, so a killed run still leaves a readable log) when
/// the second closes, and dropped.
pub struct HlogStream<W: Write> {
    out: W,
    names: Names,
    ser: V2DeflateSerializer,
    bytes: Vec<u8>,
    text: String,
}

impl HlogStream<BufWriter<File>> {
    /// A log at `path` (created or truncated), written from `begin` on.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(HlogStream::new(BufWriter::new(File::create(path)?)))
    }
}

impl<W: Write> HlogStream<W> {
    pub fn new(out: W) -> Self {
        HlogStream {
            out,
            names: Names::default(),
            ser: V2DeflateSerializer::new(),
            bytes: Vec::new(),
            text: String::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the headers: comments naming each tag's request (redacted, as
    /// the tags are), start and base time, and the column legend.
    pub fn header(
        &mut self,
        started_at: chrono::DateTime<chrono::Utc>,
        names: &[String],
    ) -> std::io::Result<()> {
        self.names = Names::new(names);
        let start: SystemTime = started_at.into();
        let mut header = IntervalLogWriterBuilder::new();
        header
            .add_comment("[Logged with postdeploy load]")
            .add_comment("[Histogram log format version 1.3]")
            .add_comment("[Values in microseconds; Interval_Max in milliseconds]");
        for (name, stem) in self.names.pairs() {
            header.add_comment(&format!(
                "[Tag {stem} = request {:?}]",
                crate::secrets::redact(name)
            ));
        }
        header
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(MAX_DIVISOR)
            .begin_log_with(&mut self.out, &mut self.ser)?;
        // The builder writes comments and time headers but not the legend
        // line Java tools expect.
        self.out.write_all(LEGEND.as_bytes())?;
        self.out.flush()
    }

    /// One second: an untagged histogram of every name together (what
    /// `HistogramLogProcessor` reads without `-tag`), then one per name
    /// that had responses. Flushed by the caller, with the failures line.
    fn interval(
        &mut self,
        start: Duration,
        length: Duration,
        per_name: &[(&str, &Histogram<u64>)],
    ) -> std::io::Result<()> {
        let length = if length.is_zero() {
            Duration::from_secs(1)
        } else {
            length
        };
        let mut all: Histogram<u64> = new_histogram();
        for (_, h) in per_name {
            let _ = all.add(*h);
        }
        self.line(None, start, length, &all)?;
        for (name, h) in per_name {
            if h.is_empty() {
                continue;
            }
            let stem = self.names.stem(name).to_string();
            self.line(Some(&stem), start, length, h)?;
        }
        Ok(())
    }

    /// The second's `#[Failures ...]` line, if any request failed in it.
    fn failures(&mut self, iv: &IntervalHistograms) -> std::io::Result<()> {
        let mut line = String::new();
        for (name, st) in iv.per_name.iter().filter(|(_, st)| st.errors > 0) {
            let unanswered = st.count.saturating_sub(st.histogram.len());
            let _ = write!(
                line,
                " {}={unanswered}/{}",
                self.names.stem(name),
                st.errors
            );
        }
        if line.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "{FAILURES}{:.3}:{line}]", iv.start.as_secs_f64())
    }

    /// The line format of hdrhistogram's `IntervalLogWriter`, written here
    /// so the headers need not be repeated for every second.
    fn line(
        &mut self,
        tag: Option<&str>,
        start: Duration,
        length: Duration,
        h: &Histogram<u64>,
    ) -> std::io::Result<()> {
        self.bytes.clear();
        self.text.clear();
        self.ser
            .serialize(h, &mut self.bytes)
            .map_err(|e| std::io::Error::other(format!("encoding a histogram: {e:?}")))?;
        base64::engine::general_purpose::STANDARD.encode_string(&self.bytes, &mut self.text);
        if let Some(t) = tag {
            write!(self.out, "Tag={t},")?;
        }
        writeln!(
            self.out,
            "{:.3},{:.3},{:.3},{}",
            start.as_secs_f64(),
            length.as_secs_f64(),
            h.max() as f64 / MAX_DIVISOR,
            self.text
        )
    }
}

impl<W: Write> IntervalLog for HlogStream<W> {
    fn begin(
        &mut self,
        started_at: chrono::DateTime<chrono::Utc>,
        names: &[String],
    ) -> std::io::Result<()> {
        self.header(started_at, names)
    }

    fn write(&mut self, iv: &IntervalHistograms) -> std::io::Result<()> {
        let per_name: Vec<(&str, &Histogram<u64>)> = iv
            .per_name
            .iter()
            .map(|(n, s)| (n.as_str(), &s.histogram))
            .collect();
        self.interval(iv.start, iv.length, &per_name)?;
        self.failures(iv)?;
        // Once per second, so a killed run still leaves a readable log.
        self.out.flush()
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod failures_tests {
    use super::*;
    use crate::measure::IntervalStats;

    #[test]
    fn a_seconds_failures_round_trip_through_its_comment_line() {
        let mut log = HlogStream::new(Vec::new());
        let names = vec!["get a".to_string(), "ok".to_string()];
        log.header(chrono::Utc::now(), &names).unwrap();
        let mut answered = new_histogram();
        for v in [120, 300, 310] {
            answered.record(v).unwrap();
        }
        let per_name = [
            // 5 attempts: 3 answered (1 of them failed its checks), 2
            // never answered.
            (
                "get a".to_string(),
                IntervalStats {
                    histogram: answered.clone(),
                    count: 5,
                    errors: 3,
                },
            ),
            (
                "ok".to_string(),
                IntervalStats {
                    histogram: answered,
                    count: 3,
                    errors: 0,
                },
            ),
        ];
        let iv = IntervalHistograms {
            start: Duration::from_secs(7),
            length: Duration::from_secs(1),
            users: 1,
            per_name: per_name.into_iter().collect(),
        };
        log.write(&iv).unwrap();
        // A second without failures writes no such line.
        let mut calm = iv.clone();
        calm.per_name.get_mut("get a").unwrap().errors = 0;
        calm.per_name.get_mut("get a").unwrap().count = 3;
        log.write(&calm).unwrap();
        let text = String::from_utf8(log.into_inner()).unwrap();
        let lines: Vec<_> = text.lines().filter_map(parse_failures).collect();
        assert_eq!(lines, vec![(7.0, vec![("get_a", 2, 3)])], "{text}");
        // HdrHistogram's own reader still reads every interval.
        let intervals =
            hdrhistogram::serialization::interval_log::IntervalLogIterator::new(text.as_bytes())
                .filter(|e| {
                    matches!(
                        e,
                        Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(_))
                    )
                })
                .count();
        assert_eq!(intervals, 6, "{text}");
        assert_eq!(parse_failures("#[Failures 1.000: a=x/1]"), None);
        assert_eq!(parse_failures("#[StartTime: 1.000 ]"), None);
    }
}
