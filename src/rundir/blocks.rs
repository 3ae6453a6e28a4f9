//! A run's per-name histograms coarsened into blocks, read back from its
//! interval log exactly as the store coarsens them, so a run judged from
//! its directory and the same run judged from the store see the same data.

use std::collections::BTreeMap;
use std::path::Path;

use super::Names;
use super::hlog::read::{Logged, Reader};
use crate::measure::{Measurements, Sparse};
use crate::record::{add_to_blocks, block_count, block_secs};

/// The interval log's per-name histograms added into `n` blocks of `bs`
/// seconds. `by_tag` maps the log's tags to request names; other tags
/// (and the untagged all-names lines) are skipped.
pub fn blocks_from_log(
    log: impl std::io::BufRead,
    by_tag: &BTreeMap<String, String>,
    bs: u32,
    n: usize,
) -> Result<BTreeMap<String, Vec<Sparse>>, String> {
    let mut blocks: BTreeMap<String, Vec<Sparse>> = by_tag
        .values()
        .map(|name| (name.clone(), vec![Sparse::default(); n]))
        .collect();
    let mut reader = Reader::new(log, by_tag.clone()).latencies_only();
    while let Some(e) = reader
        .next_entry()
        .map_err(|e| format!("interval log: {e}"))?
    {
        if let (Logged::Latencies(h), Some(b)) = (&e.logged, blocks.get_mut(&e.name)) {
            add_to_blocks(b, bs, e.start, h);
        }
    }
    Ok(blocks)
}

/// The blocks of a run just made, read back from the interval log it
/// streamed (`path`): the histograms were never all in memory at once, and
/// are not now either. A missing or unreadable log gives empty blocks (the
/// gate then finds too few samples and says so) and the reason.
pub fn blocks_from_hlog(
    path: &Path,
    m: &Measurements,
) -> (BTreeMap<String, Vec<Sparse>>, Option<String>) {
    let elapsed_s = m.elapsed.as_secs_f64();
    let bs = block_secs(elapsed_s);
    let n = block_count(elapsed_s, bs);
    let stems = Names::new(m.requests.keys());
    let by_tag: BTreeMap<String, String> = stems
        .pairs()
        .map(|(name, stem)| (stem.to_string(), name.to_string()))
        .collect();
    let read = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|f| blocks_from_log(std::io::BufReader::new(f), &by_tag, bs, n));
    match read {
        Ok(b) => (b, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    }
}
