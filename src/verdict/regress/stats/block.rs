//! How long a bootstrap block must be for the resample to keep the run's
//! correlation.

/// Politis & White (2004) automatic block length, with the Patton, Politis
/// & White (2009) correction for the moving-block bootstrap, in elements of
/// `y`. Returns 1 for series too short or too flat to say anything.
pub(super) fn politis_white(y: &[f64]) -> f64 {
    let n = y.len();
    if n < 4 {
        return 1.0;
    }
    let nf = n as f64;
    let mean = y.iter().sum::<f64>() / nf;
    let x: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let acov = |k: usize| -> f64 {
        x[..n - k]
            .iter()
            .zip(&x[k..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / nf
    };
    let g0 = acov(0);
    if g0 <= 0.0 {
        return 1.0;
    }
    // Smallest lag after which K_n consecutive autocorrelations are all
    // insignificant; twice that is the bandwidth of the flat-top window.
    let k_n = ((nf.log10().sqrt()).ceil() as usize).max(5);
    let m_max = ((nf.sqrt()).ceil() as usize + k_n).min(n - 1);
    let crit = 2.0 * (nf.log10() / nf).sqrt();
    let rho: Vec<f64> = (0..=(m_max + k_n).min(n - 1))
        .map(|k| acov(k) / g0)
        .collect();
    let m_hat = (0..=m_max)
        .find(|&m| (m + 1..=(m + k_n).min(n - 1)).all(|k| rho[k].abs() < crit))
        .unwrap_or(m_max);
    let big_m = (2 * m_hat).min(m_max);
    if big_m == 0 {
        return 1.0;
    }
    let flat_top = |t: f64| {
        let t = t.abs();
        if t <= 0.5 {
            1.0
        } else if t <= 1.0 {
            2.0 * (1.0 - t)
        } else {
            0.0
        }
    };
    let (mut g, mut g_zero) = (0.0, g0);
    for k in 1..=big_m {
        let lam = flat_top(k as f64 / big_m as f64);
        let gk = acov(k);
        g += 2.0 * lam * k as f64 * gk;
        g_zero += 2.0 * lam * gk;
    }
    let d = 4.0 / 3.0 * g_zero * g_zero;
    if d <= 0.0 {
        return 1.0;
    }
    let b = (2.0 * g * g / d).cbrt() * nf.cbrt();
    let b_max = (3.0 * nf.sqrt()).min(nf / 3.0).ceil();
    b.clamp(1.0, b_max.max(1.0))
}
