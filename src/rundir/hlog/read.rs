//! The one reader of `latency.hlog`. It yields the log's entries one line
//! at a time, in the order written: the log of a long run is far larger
//! than anything made from it, so no caller holds it whole.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::Duration;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use super::{FAILURES, parse_failures};
use crate::measure::Sparse;
use crate::measure::codec::decode_sparse;

/// One request name's share of one logged second.
#[derive(Debug)]
pub struct Entry {
    /// Since the run's start, as the log's `BaseTime` counts it.
    pub start: Duration,
    /// Zero on failures lines, which carry no length.
    pub length: Duration,
    /// The request name the entry's tag stands for.
    pub name: String,
    pub logged: Logged,
}

/// What the log holds for one request name in one second.
#[derive(Debug)]
pub enum Logged {
    /// The latencies of its responses.
    Latencies(Sparse),
    /// Its failed requests, and how many of those got no response.
    Failures { unanswered: u64, errors: u64 },
}

/// Entries of the tags in `tags` (log tag → request name); other tags and
/// the untagged all-names lines are skipped.
pub struct Reader<R> {
    log: R,
    line: Vec<u8>,
    tags: BTreeMap<String, String>,
    queued: std::collections::VecDeque<Entry>,
    /// Whether failures lines are wanted (a reader of latencies alone
    /// skips them without parsing).
    failures: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(log: R, tags: BTreeMap<String, String>) -> Self {
        Reader {
            log,
            line: Vec::new(),
            tags,
            queued: Default::default(),
            failures: true,
        }
    }

    /// A reader that yields only [`Logged::Latencies`].
    pub fn latencies_only(mut self) -> Self {
        self.failures = false;
        self
    }

    /// The next entry; None at the end of the log.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, String> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Ok(Some(e));
            }
            self.line.clear();
            // Kept with its newline: the log parser wants whole lines.
            if self
                .log
                .read_until(b'\n', &mut self.line)
                .map_err(|e| e.to_string())?
                == 0
            {
                return Ok(None);
            }
            if self.line.starts_with(FAILURES.as_bytes()) {
                if self.failures {
                    self.queue_failures()?;
                }
                continue;
            }
            if !self.line.starts_with(b"Tag=") {
                continue;
            }
            for entry in IntervalLogIterator::new(&self.line) {
                let LogEntry::Interval(iv) = entry.map_err(|e| format!("{e:?}"))? else {
                    continue;
                };
                let Some(name) = iv.tag().and_then(|t| self.tags.get(t.as_str())) else {
                    continue;
                };
                self.queued.push_back(Entry {
                    start: iv.start_timestamp(),
                    length: iv.duration(),
                    name: name.clone(),
                    logged: Logged::Latencies(decode_sparse(iv.encoded_histogram())?),
                });
            }
        }
    }

    fn queue_failures(&mut self) -> Result<(), String> {
        let text = String::from_utf8_lossy(&self.line);
        let (start, per_tag) =
            parse_failures(&text).ok_or_else(|| format!("unreadable line: {text}"))?;
        for (tag, unanswered, errors) in per_tag {
            if let Some(name) = self.tags.get(tag) {
                self.queued.push_back(Entry {
                    start: Duration::from_secs_f64(start.max(0.0)),
                    length: Duration::ZERO,
                    name: name.clone(),
                    logged: Logged::Failures { unanswered, errors },
                });
            }
        }
        Ok(())
    }
}
