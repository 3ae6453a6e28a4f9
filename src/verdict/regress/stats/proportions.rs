//! Error rates are compared per request, not by resampling: see
//! [`proportion_delta`].

use super::Estimate;

/// Two-proportion comparison for error rates: Δ = x_c/n_c − x_b/n_b with
/// Newcombe's hybrid score interval (his method 10, built from the two
/// Wilson intervals). Errors are counted per request, not per block: an
/// error burst makes this interval too narrow, which the caller's tolerance
/// and noise floor must absorb. Chosen over the Wald interval because it
/// stays inside [−1, 1] and is not degenerate with zero errors, the usual
/// case. None if n_c or n_b is 0, x > n, or `confidence` is outside (0, 1).
pub fn proportion_delta(
    x_c: u64,
    n_c: u64,
    x_b: u64,
    n_b: u64,
    confidence: f64,
) -> Option<Estimate> {
    if n_c == 0 || n_b == 0 || x_c > n_c || x_b > n_b || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile(0.5 + confidence / 2.0);
    let (p1, l1, u1) = wilson(x_c, n_c, z);
    let (p2, l2, u2) = wilson(x_b, n_b, z);
    let value = p1 - p2;
    Some(Estimate {
        value,
        low: value - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        high: value + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    })
}

/// (p, low, high) of the Wilson score interval.
fn wilson(x: u64, n: u64, z: f64) -> (f64, f64, f64) {
    let n = n as f64;
    let p = x as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (p, (centre - half).max(0.0), (centre + half).min(1.0))
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error < 1.2e-9, ample for a confidence level).
pub(super) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}
