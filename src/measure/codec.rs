//! The one wire form of a latency histogram: base64 of HdrHistogram's
//! V2-DEFLATE serialization. `summary.json`, the interval log and the
//! history store all use it, so a stored histogram and a reported one are
//! the same bytes and every HdrHistogram tool reads both.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

use super::{Sparse, new_histogram};

/// None only for counts beyond i64 (the format's limit), which a run cannot
/// reach.
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// [`encode_histogram`] where an empty string is an acceptable answer to
/// the impossible overflow.
pub fn encode(h: &Histogram<u64>) -> String {
    encode_histogram(h).unwrap_or_default()
}

pub fn decode(b64: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram cannot be decoded: {e:?}"))?;
    // Re-home into the run's settings so that adding never fails.
    let mut out = new_histogram();
    out.add(&h)
        .map_err(|e| format!("histogram outside the recorded range: {e:?}"))?;
    Ok(out)
}

/// Blocks as one text column: base64 V2-DEFLATE histograms separated by
/// spaces, the encoding every HdrHistogram tool reads.
pub fn encode_blocks(blocks: &[Sparse]) -> String {
    blocks
        .iter()
        .map(|b| encode(&b.to_histogram()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn decode_blocks(text: &str) -> Result<Vec<Sparse>, String> {
    text.split_ascii_whitespace().map(decode_sparse).collect()
}

/// Base64 V2 straight to buckets, without a dense array.
pub fn decode_sparse(b64: &str) -> Result<Sparse, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Sparse::decode_v2(&bytes)
}
