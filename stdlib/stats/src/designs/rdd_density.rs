//! The manipulation test of a regression discontinuity: is the running variable's density
//! continuous at the cutoff? As Cattaneo, Jansson and Ma's `rddensity` (version 3.0, R
//! and Python alike) computes it by default: the empirical distribution function fitted
//! by a local polynomial each side of the cutoff (its slope is the density), bandwidths
//! each side from `rdbwdensity` combined as `comb` (the median of the side's own, the
//! difference's and the sum's), the densities from a polynomial one order higher than
//! the one the bandwidths were chosen for (robust bias correction: q = p + 1), jackknife
//! standard errors, mass points adjusted, and T = (right − left) / its standard error
//! against the normal. Each step names the quantity of `rddensity` it equals.

use faer::Mat;
use faer::linalg::solvers::DenseSolveCore;
use statrs::distribution::{ContinuousCDF, Normal};

use super::rdd::Kernel;

/// `rdbwdensity`'s constants of the pilot bandwidths for the bias (`Cb`) and the variance
/// (`Cc`), by the order p from 1 to 7, written as the package writes them.
#[allow(clippy::excessive_precision)]
const PILOT_BIAS: [f64; 7] = [
    25884.444444494150957,
    3430865.4551236177795,
    845007948.04262602329,
    330631733667.03808594,
    187774809656037.3125,
    145729502641999264.0,
    146013502974449876992.0,
];
#[allow(clippy::excessive_precision)]
const PILOT_VARIANCE: [f64; 7] = [
    4.8000000000000246914,
    548.57142857155463389,
    100800.00000020420703,
    29558225.458100609481,
    12896196859.612621307,
    7890871468221.609375,
    6467911284037581.0,
];

/// The highest order `rddensity` takes.
pub const MAX_ORDER: usize = 7;

#[derive(Clone, Debug)]
pub struct Options {
    pub cutoff: f64,
    /// The order the bandwidths are chosen for (`p`, default 2); the densities come from
    /// order p + 1.
    pub order: usize,
    pub kernel: Kernel,
    /// The bandwidths below and above, when the user gives them.
    pub bandwidths: Option<(f64, f64)>,
}

/// One side's density at the cutoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SideDensity {
    pub density: f64,
    pub std_error: f64,
    pub bandwidth: f64,
    /// Rows within the bandwidth on this side.
    pub rows_within: usize,
    pub rows: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DensityTest {
    pub below: SideDensity,
    pub above: SideDensity,
    /// Above minus below, its jackknife standard error, T and the two-sided p-value.
    pub difference: f64,
    pub std_error: f64,
    pub statistic: f64,
    pub p_value: f64,
    /// Whether some values repeat (mass points), which adjusts the estimates.
    pub mass_points: bool,
    pub bandwidths_chosen: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DensityError {
    /// The cutoff is not strictly inside the data.
    CutoffOutside { low: f64, high: f64 },
    /// Too few rows within the bandwidth to fit the polynomial (the design is singular).
    TooFewRows {
        below: usize,
        above: usize,
        needed: usize,
    },
    /// The jackknife variance of the difference is not positive.
    NoVariance,
}

/// The test. `x` holds the running variable's values (finite, any order).
pub fn test(x: &[f64], options: &Options) -> Result<DensityTest, DensityError> {
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let (low, high) = (sorted[0], sorted[n - 1]);
    let c = options.cutoff;
    if !(c > low && c < high) {
        return Err(DensityError::CutoffOutside { low, high });
    }
    let centred: Vec<f64> = sorted.iter().map(|v| v - c).collect();
    let groups = Groups::of(&centred);
    let mass_points = groups.first.len() < n;
    let cdf = distribution_function(n, &groups, mass_points);
    let p = options.order;
    let (hl, hr, chosen) = match options.bandwidths {
        Some((hl, hr)) => (hl, hr, false),
        None => {
            let (hl, hr) = bandwidths(&centred, &groups, &cdf, p, options.kernel, mass_points);
            (hl, hr, true)
        }
    };
    let window: Vec<usize> = (0..n)
        .filter(|&i| centred[i] >= -hl && centred[i] <= hr)
        .collect();
    let local_x: Vec<f64> = window.iter().map(|&i| centred[i]).collect();
    let local_y: Vec<f64> = window.iter().map(|&i| cdf[i]).collect();
    let below_rows = centred.iter().filter(|v| **v < 0.0).count();
    let fit = local_fit(&Local {
        x: &local_x,
        y: &local_y,
        n,
        hl,
        hr,
        order: p + 1,
        derivative: 1,
        kernel: options.kernel,
        mass_points,
    })
    .ok_or(DensityError::TooFewRows {
        below: local_x.iter().filter(|v| **v < 0.0).count(),
        above: local_x.iter().filter(|v| **v >= 0.0).count(),
        needed: p + 2,
    })?;
    let rows_below = local_x.iter().filter(|v| **v < 0.0).count();
    let variance = fit.variance[Target::Difference as usize];
    if variance.is_nan() || variance <= 0.0 {
        return Err(DensityError::NoVariance);
    }
    let difference = fit.density[Target::Difference as usize];
    let std_error = variance.sqrt();
    let statistic = difference / std_error;
    let side = |target: Target, bandwidth: f64, rows_within: usize, rows: usize| SideDensity {
        density: fit.density[target as usize],
        std_error: fit.variance[target as usize].max(0.0).sqrt(),
        bandwidth,
        rows_within,
        rows,
    };
    Ok(DensityTest {
        below: side(Target::Below, hl, rows_below, below_rows),
        above: side(
            Target::Above,
            hr,
            local_x.len() - rows_below,
            n - below_rows,
        ),
        difference,
        std_error,
        statistic,
        p_value: 2.0 * Normal::standard().cdf(-statistic.abs()),
        mass_points,
        bandwidths_chosen: chosen,
    })
}

/// The four quantities `rddensity_fV` estimates, in its order.
#[derive(Clone, Copy)]
enum Target {
    Below = 0,
    Above = 1,
    Difference = 2,
    Sum = 3,
}

/// Runs of equal values in sorted data: each run's first and last index.
struct Groups {
    first: Vec<usize>,
    last: Vec<usize>,
    /// Each row's run.
    of_row: Vec<usize>,
}

impl Groups {
    fn of(sorted: &[f64]) -> Groups {
        let (mut first, mut last, mut of_row) = (vec![], vec![], Vec::with_capacity(sorted.len()));
        for (i, v) in sorted.iter().enumerate() {
            if i == 0 || *v != sorted[i - 1] {
                first.push(i);
                last.push(i);
            } else {
                *last.last_mut().expect("a run is open") = i;
            }
            of_row.push(first.len() - 1);
        }
        Groups {
            first,
            last,
            of_row,
        }
    }

    fn values<'a>(&'a self, sorted: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
        self.first.iter().map(|&i| sorted[i])
    }
}

/// The empirical distribution function at each sorted row, i/(n − 1), every row of a
/// run of equal values taking the run's last (`rddensity`'s Y with mass points).
fn distribution_function(n: usize, groups: &Groups, mass_points: bool) -> Vec<f64> {
    let scale = (n - 1) as f64;
    (0..n)
        .map(|i| {
            let at = if mass_points {
                groups.last[groups.of_row[i]]
            } else {
                i
            };
            at as f64 / scale
        })
        .collect()
}

/// The local sample a polynomial is fitted to: sorted, centred at the cutoff, within
/// `[-hl, hr]`.
struct Local<'a> {
    x: &'a [f64],
    y: &'a [f64],
    /// All rows, both sides (N, the jackknife's scale).
    n: usize,
    hl: f64,
    hr: f64,
    order: usize,
    /// The derivative whose coefficient is also returned (`s`).
    derivative: usize,
    kernel: Kernel,
    mass_points: bool,
}

/// `rddensity_fV` (unrestricted, jackknife): the densities below and above, their
/// difference and sum, their jackknife variances, and the coefficients of the
/// `derivative`-th power.
struct LocalFit {
    density: [f64; 4],
    variance: [f64; 4],
    derivative: [f64; 4],
}

fn local_fit(local: &Local) -> Option<LocalFit> {
    let nh = local.x.len();
    let k = 2 * local.order + 2;
    // Columns alternate below and above: (x/hl)^j below, (x/hr)^j above, j = 0..=p.
    let scale: Vec<f64> = (0..k)
        .map(|j| {
            let h = if j % 2 == 0 { local.hl } else { local.hr };
            h.powi((j / 2) as i32)
        })
        .collect();
    let mut design = Mat::<f64>::zeros(nh, k);
    let mut weighted = Mat::<f64>::zeros(nh, k);
    for (i, &x) in local.x.iter().enumerate() {
        let below = x < 0.0;
        let h = if below { local.hl } else { local.hr };
        let w = kernel_weight(local.kernel, x / h) / h;
        let u = x / h;
        for power in 0..=local.order {
            let j = 2 * power + usize::from(!below);
            let v = u.powi(power as i32);
            design[(i, j)] = v;
            weighted[(i, j)] = v * w;
        }
    }
    let gram = weighted.transpose() * &design;
    let inverse = gram.full_piv_lu().inverse();
    let finite = (0..k).all(|i| (0..k).all(|j| inverse[(i, j)].is_finite()));
    if !finite || nh < k {
        return None;
    }
    let xwy: Vec<f64> = (0..k)
        .map(|j| (0..nh).map(|i| weighted[(i, j)] * local.y[i]).sum())
        .collect();
    let b: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|m| inverse[(j, m)] * xwy[m]).sum::<f64>() / scale[j])
        .collect();
    // Jackknife: each row's influence is the weighted design summed over the rows after
    // it (after the first of its run of equal values, with mass points), over N − 1.
    let groups = Groups::of(local.x);
    let scale_n = (local.n - 1) as f64;
    let mut influence = Mat::<f64>::zeros(nh, k);
    for j in 0..k {
        let mut after = vec![0.0; nh + 1];
        for i in (0..nh).rev() {
            after[i] = after[i + 1] + weighted[(i, j)];
        }
        for i in 0..nh {
            let from = if local.mass_points {
                groups.first[groups.of_row[i]]
            } else {
                i
            };
            influence[(i, j)] = after[from + 1] / scale_n;
        }
    }
    let meat = influence.transpose() * &influence;
    let v = &inverse * &meat * &inverse;
    let cov = |a: usize, b: usize| v[(a, b)] / (scale[a] * scale[b]);
    let (l, r) = (2, 3);
    let s = local.derivative;
    let positive = |x: f64| if x < 0.0 { f64::NAN } else { x };
    Some(LocalFit {
        density: [b[l], b[r], b[r] - b[l], b[r] + b[l]],
        variance: [
            positive(cov(l, l)),
            positive(cov(r, r)),
            positive(cov(l, l) + cov(r, r) - 2.0 * cov(l, r)),
            positive(cov(l, l) + cov(r, r) + 2.0 * cov(l, r)),
        ],
        derivative: {
            let (dl, dr) = (b[2 * s], b[2 * s + 1]);
            [dl, dr, dr - dl, dr + dl]
        },
    })
}

/// The kernel at u = x/h (without the 1/h), as `rddensity_fV` weights each side.
fn kernel_weight(kernel: Kernel, u: f64) -> f64 {
    match kernel {
        Kernel::Triangular => 1.0 - u.abs(),
        Kernel::Uniform => 0.5,
        Kernel::Epanechnikov => 0.75 * (1.0 - u * u),
    }
}

/// ∫₀¹ K(l) l^m dl, the moments `Sgenerate` and `Cgenerate` integrate.
fn kernel_moment(kernel: Kernel, m: usize) -> f64 {
    let m = m as f64;
    match kernel {
        Kernel::Triangular => 1.0 / (m + 1.0) - 1.0 / (m + 2.0),
        Kernel::Uniform => 0.5 / (m + 1.0),
        Kernel::Epanechnikov => 0.75 * (1.0 / (m + 1.0) - 1.0 / (m + 3.0)),
    }
}

/// (S⁻¹C)[1] on [0, 1]: the constant of the leading bias of the density (`rdbwdensity`).
fn bias_constant(kernel: Kernel, p: usize) -> f64 {
    let s = Mat::<f64>::from_fn(p + 1, p + 1, |i, j| kernel_moment(kernel, i + j));
    let c = Mat::<f64>::from_fn(p + 1, 1, |i, _| kernel_moment(kernel, i + p + 1));
    let solved = s.full_piv_lu().inverse() * c;
    solved[(1, 0)]
}

/// The probabilists' Hermite polynomial Heₖ(x) (`rddensity_H`).
fn hermite(x: f64, k: usize) -> f64 {
    let (mut previous, mut current) = (1.0, x);
    if k == 0 {
        return 1.0;
    }
    for j in 1..k {
        let next = x * current - j as f64 * previous;
        previous = current;
        current = next;
    }
    current
}

/// The k-th (1-based) smallest of `values`, or the largest when there are fewer.
fn kth_or_last(values: &[f64], k: usize) -> f64 {
    values[k.min(values.len()) - 1]
}

/// `rdbwdensity` (unrestricted, jackknife, regularised) and `rddensity`'s `comb`: the
/// bandwidth below and above.
fn bandwidths(
    x: &[f64],
    groups: &Groups,
    cdf: &[f64],
    p: usize,
    kernel: Kernel,
    mass_points: bool,
) -> (f64, f64) {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let z = mean / sd;
    let density = |k: usize| {
        1.0 / (hermite(z, k).powi(2) * (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt())
    };
    let nf = n as f64;
    let pf = p as f64;
    let mut bn = ((2.0 * pf + 1.0) / 4.0 * density(p + 2) * PILOT_BIAS[p - 1] / nf)
        .powf(1.0 / (2.0 * pf + 5.0))
        * sd;
    let mut cn = (1.0 / (2.0 * pf) * density(p) * PILOT_VARIANCE[p - 1] / nf)
        .powf(1.0 / (2.0 * pf + 1.0))
        * sd;
    let unique: Vec<f64> = if mass_points {
        groups.values(x).collect()
    } else {
        x.to_vec()
    };
    // Distances below (ascending) and values above, of the rows and of the distinct values.
    let below = |v: &[f64]| {
        let mut d: Vec<f64> = v.iter().filter(|x| **x < 0.0).map(|x| x.abs()).collect();
        d.sort_by(f64::total_cmp);
        d
    };
    let above = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| *x >= 0.0)
            .collect::<Vec<f64>>()
    };
    let (rows_below, rows_above) = (below(x), above(x));
    let (unique_below, unique_above) = (below(&unique), above(&unique));
    let widest = unique.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    bn = bn.min(widest);
    cn = cn.min(widest);
    for (d, a) in [(&rows_below, &rows_above), (&unique_below, &unique_above)] {
        bn = bn
            .max(kth_or_last(d, 20 + p + 3))
            .max(kth_or_last(a, 20 + p + 3));
        cn = cn
            .max(kth_or_last(d, 20 + p + 1))
            .max(kth_or_last(a, 20 + p + 1));
    }
    let within = |h: f64| -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .filter(|&i| x[i].abs() <= h)
            .map(|i| (x[i], cdf[i]))
            .unzip()
    };
    let fit = |h: f64, order: usize, derivative: usize| {
        let (lx, ly) = within(h);
        local_fit(&Local {
            x: &lx,
            y: &ly,
            n,
            hl: h,
            hr: h,
            order,
            derivative,
            kernel,
            mass_points,
        })
    };
    let bias_fit = fit(bn, p + 2, p + 1);
    let variance_fit = fit(cn, p, 1);
    let constant = bias_constant(kernel, p);
    let sign = if p.is_multiple_of(2) { 1.0 } else { -1.0 };
    let mut chosen = [0.0; 4];
    for target in [
        Target::Below,
        Target::Above,
        Target::Difference,
        Target::Sum,
    ] {
        let t = target as usize;
        let variance = variance_fit
            .as_ref()
            .map_or(f64::NAN, |f| nf * cn * f.variance[t]);
        let bias = bias_fit.as_ref().map_or(f64::NAN, |f| {
            let (l, r) = (
                f.derivative[0] * constant * sign,
                f.derivative[1] * constant,
            );
            match target {
                Target::Below => l,
                Target::Above => r,
                Target::Difference => r - l,
                Target::Sum => r + l,
            }
        });
        let h = (1.0 / (2.0 * pf) * variance / bias.powi(2) / nf).powf(1.0 / (2.0 * pf + 1.0));
        chosen[t] = if h.is_nan() || variance < 0.0 { 0.0 } else { h };
    }
    // Regularised: no wider than the data, and holding at least 20 + p + 1 rows and
    // distinct values each side.
    let (far_below, far_above) = (unique[0].abs(), unique[unique.len() - 1]);
    chosen[0] = chosen[0].min(far_below);
    chosen[1] = chosen[1].min(far_above);
    chosen[2] = chosen[2].min(far_below.max(far_above));
    chosen[3] = chosen[3].min(far_below.max(far_above));
    let least = 20 + p + 1;
    for (d, a) in [(&rows_below, &rows_above), (&unique_below, &unique_above)] {
        let (low, high) = (kth_or_last(d, least), kth_or_last(a, least));
        chosen[0] = chosen[0].max(low);
        chosen[1] = chosen[1].max(high);
        chosen[2] = chosen[2].max(low).max(high);
        chosen[3] = chosen[3].max(low).max(high);
    }
    let median = |a: f64, b: f64, c: f64| a.max(b).min(a.min(b).max(c));
    (
        median(chosen[0], chosen[2], chosen[3]),
        median(chosen[1], chosen[2], chosen[3]),
    )
}
