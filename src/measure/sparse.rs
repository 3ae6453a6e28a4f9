//! Histograms as their non-empty buckets. An HdrHistogram with our bounds
//! (1 µs to 1 h, 3 digits) is a 180 KB array whatever it holds; a block of
//! a run holds a few hundred buckets. The regression gate keeps hundreds of
//! blocks per request name, so it keeps them sparse: a one-hour comparison
//! of 20 names then needs megabytes, not a gigabyte, and reading an interval
//! log decodes each interval without allocating a full array.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use crate::measure::{SIGFIG, new_histogram};

/// Non-empty buckets as (highest equivalent value, count), ascending by
/// value: exactly what `Histogram::iter_recorded` yields, so quantiles read
/// off it match `value_at_quantile` of the dense histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sparse {
    pub buckets: Vec<(u64, u64)>,
    pub total: u64,
}

const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// Our histograms' layout (lowest discernible 1, 3 significant digits):
/// 2,048 sub-buckets, half of them per bucket after the first.
const HALF_COUNT_MAGNITUDE: u32 = 10;
const HALF_COUNT: u64 = 1 << HALF_COUNT_MAGNITUDE;

impl Sparse {
    pub fn from_histogram(h: &Histogram<u64>) -> Sparse {
        let mut buckets = Vec::new();
        let (total, max) = (h.len(), h.max());
        let (mut v, mut seen) = (h.min_nz(), 0);
        // Walk only between min and max: a block spans a few thousand of
        // the ~22k buckets.
        while total > 0 && seen < total && v <= max {
            let n = h.count_at(v);
            if n > 0 {
                buckets.push((h.highest_equivalent(v), n));
                seen += n;
            }
            let next = h.next_non_equivalent(v);
            if next <= v {
                break;
            }
            v = next;
        }
        if seen != total {
            buckets = h
                .iter_recorded()
                .map(|x| (x.value_iterated_to(), x.count_at_value()))
                .collect();
        }
        Sparse { buckets, total }
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds `other` exactly (a merge of two sorted lists).
    pub fn add(&mut self, other: &Sparse) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 {
            *self = other.clone();
            return;
        }
        let mut out = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.buckets, &other.buckets);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push((a[i].0, a[i].1 + b[j].1));
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        self.buckets = out;
        self.total += other.total;
    }

    /// The dense histogram, for serialization and reports.
    pub fn to_histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for &(v, n) in &self.buckets {
            h.saturating_record_n(v, n);
        }
        h
    }

    /// Decodes HdrHistogram's V2 (optionally DEFLATE-wrapped) form straight
    /// into buckets. Histograms of other layouts take the library's path.
    pub fn decode_v2(bytes: &[u8]) -> Result<Sparse, String> {
        let cookie = be_u32(bytes, 0)?;
        let inflated;
        let body: &[u8] = match cookie {
            V2_COOKIE => bytes,
            V2_COMPRESSED_COOKIE => {
                let len = be_u32(bytes, 4)? as usize;
                let end = 8usize
                    .checked_add(len)
                    .filter(|e| *e <= bytes.len())
                    .ok_or("truncated histogram")?;
                inflated = inflate(&bytes[8..end])?;
                &inflated
            }
            _ => return Err("not an HdrHistogram V2 encoding".into()),
        };
        if be_u32(body, 0)? != V2_COOKIE {
            return Err("not an HdrHistogram V2 encoding".into());
        }
        let payload_len = be_u32(body, 4)? as usize;
        let offset = be_u32(body, 8)?;
        let digits = be_u32(body, 12)?;
        let low = be_u64(body, 16)?;
        let ratio = f64::from_bits(be_u64(body, 32)?);
        if offset != 0 || digits != u32::from(SIGFIG) || low != 1 || ratio != 1.0 {
            return Self::decode_slow(bytes);
        }
        let payload = body
            .get(40..40 + payload_len)
            .ok_or("truncated histogram payload")?;
        let template = template();
        let mut out = Sparse::default();
        let (mut index, mut pos) = (0u64, 0usize);
        while pos < payload.len() {
            let (zz, used) = varint(&payload[pos..])?;
            pos += used;
            let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
            if n < 0 {
                index = index.saturating_add(n.unsigned_abs());
            } else {
                if n > 0 {
                    let v = template.highest_equivalent(value_for(index));
                    out.buckets.push((v, n as u64));
                    out.total += n as u64;
                }
                index += 1;
            }
        }
        Ok(out)
    }

    fn decode_slow(bytes: &[u8]) -> Result<Sparse, String> {
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| format!("histogram cannot be decoded: {e:?}"))?;
        Ok(Sparse::from_histogram(&h))
    }
}

fn template() -> &'static Histogram<u64> {
    static T: std::sync::OnceLock<Histogram<u64>> = std::sync::OnceLock::new();
    T.get_or_init(new_histogram)
}

/// HdrHistogram's index → value for our layout (unit magnitude 0).
fn value_for(index: u64) -> u64 {
    let mut bucket = (index >> HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 {
        sub -= HALF_COUNT;
        bucket = 0;
    }
    sub.checked_shl(bucket as u32).unwrap_or(u64::MAX)
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "truncated histogram header".into())
}

fn be_u64(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        })
        .ok_or_else(|| "truncated histogram header".into())
}

/// LEB128 as HdrHistogram writes it: at most 9 bytes, the ninth whole.
fn varint(b: &[u8]) -> Result<(u64, usize), String> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            v |= u64::from(byte) << 56;
            return Ok((v, 9));
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err("truncated histogram count".into())
}

/// Inflates with one decompressor per thread, reset between histograms:
/// an interval log holds tens of thousands of small payloads, and a fresh
/// inflater (its 32 KB window) per payload was most of the cost.
fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    use flate2::{Decompress, FlushDecompress, Status};
    thread_local! {
        static INFLATER: std::cell::RefCell<Decompress> = std::cell::RefCell::new(Decompress::new(true));
    }
    INFLATER.with(|cell| {
        let mut d = cell.borrow_mut();
        d.reset(true);
        let mut out = Vec::with_capacity(data.len() * 4 + 64);
        loop {
            let consumed = d.total_in() as usize;
            let status = d
                .decompress_vec(&data[consumed..], &mut out, FlushDecompress::Finish)
                .map_err(|e| format!("histogram cannot be inflated: {e}"))?;
            match status {
                Status::StreamEnd => return Ok(out),
                _ if out.len() == out.capacity() => out.reserve(out.capacity().max(64)),
                _ if d.total_in() as usize >= data.len() => {
                    return Err("histogram cannot be inflated: truncated stream".into());
                }
                _ => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer, V2Serializer};

    fn sample(seed: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        let mut x = seed;
        for i in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // 1 µs to ~20 s, with repeats.
            let v = 1 + (x >> 33) % (1 + (i % 7) * 3_000_000);
            h.record(v).unwrap();
        }
        h.record_n(3_599_999_999, 3).unwrap();
        h
    }

    #[test]
    fn decoding_agrees_with_the_library_on_both_encodings() {
        for seed in 0..5 {
            let h = sample(seed);
            let want = Sparse::from_histogram(&h);
            assert_eq!(
                want.buckets,
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect::<Vec<_>>()
            );
            let mut plain = Vec::new();
            V2Serializer::new().serialize(&h, &mut plain).unwrap();
            let mut packed = Vec::new();
            V2DeflateSerializer::new()
                .serialize(&h, &mut packed)
                .unwrap();
            assert_eq!(Sparse::decode_v2(&plain).unwrap(), want);
            assert_eq!(Sparse::decode_v2(&packed).unwrap(), want);
            assert_eq!(want.to_histogram(), h);
        }
        let empty = new_histogram();
        let mut packed = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&empty, &mut packed)
            .unwrap();
        assert_eq!(Sparse::decode_v2(&packed).unwrap(), Sparse::default());
        assert!(Sparse::decode_v2(b"nonsense").is_err());
        assert!(Sparse::decode_v2(&packed[..10]).is_err());
    }

    #[test]
    fn adding_is_exact() {
        let (a, b) = (sample(1), sample(2));
        let mut sum = a.clone();
        sum.add(&b).unwrap();
        let mut s = Sparse::from_histogram(&a);
        s.add(&Sparse::from_histogram(&b));
        assert_eq!(s, Sparse::from_histogram(&sum));
    }
}
