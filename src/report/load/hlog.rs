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

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

use super::Names;
use crate::load::model::{IntervalHistograms, IntervalLog, new_histogram};

const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
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
    /// that had responses.
    pub fn interval(
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
        self.out.flush()
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
        self.interval(iv.start, iv.length, &per_name)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
