//! Meta-analysis of study estimates with known standard errors, as metafor's `rma` (3.x)
//! computes it: the inverse-variance weighted mean under a fixed or random effect, the
//! between-study variance τ² by DerSimonian–Laird, restricted maximum likelihood (metafor's
//! default) or Paule–Mandel, normal or Knapp–Hartung inference, Cochran's Q, I² and H² as
//! metafor defines them for each model, and the prediction interval of `predict.rma`.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// τ² = 0: the common (fixed) effect.
    Fixed,
    DerSimonianLaird,
    /// Restricted maximum likelihood (metafor's default).
    Reml,
    PauleMandel,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub method: Method,
    /// Knapp and Hartung's variance and t(k − 1) intervals (metafor's `test = "knha"`).
    pub knapp_hartung: bool,
    pub level: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pooled {
    pub studies: usize,
    pub estimate: f64,
    pub std_error: f64,
    /// z, or t with Knapp–Hartung.
    pub statistic: f64,
    /// The t distribution's degrees of freedom with Knapp–Hartung.
    pub df: Option<f64>,
    pub p_value: f64,
    pub conf_low: f64,
    pub conf_high: f64,
    /// The interval for the effect in a new study (equal to the confidence interval when
    /// τ² = 0).
    pub prediction_low: f64,
    pub prediction_high: f64,
    pub tau2: f64,
    /// I² and H² as metafor reports them: from τ² and the typical within-study variance in
    /// a random-effects model, from Q in a fixed one.
    pub i2: f64,
    pub h2: f64,
    pub q: f64,
    pub q_p_value: f64,
    /// Each study's share of the weight, in percent.
    pub weights: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetaError {
    /// No study at all.
    TooFewStudies(usize),
    /// A standard error that is not positive and finite (its study's index).
    BadStandardError(usize),
    /// REML's iterations did not settle.
    NotConverged,
}

/// metafor's REML controls: Fisher scoring to a change below `threshold`, at most
/// `maxiter` steps; here tighter than metafor's 1e-5, so τ² is exact to the digits shown.
const THRESHOLD: f64 = 1e-12;
const MAX_ITERATIONS: usize = 1000;

pub fn pool(y: &[f64], se: &[f64], options: &Options) -> Result<Pooled, MetaError> {
    let k = y.len();
    if k == 0 {
        return Err(MetaError::TooFewStudies(0));
    }
    // One study, as metafor takes it: τ² = 0, a z test, Q = 0 (p = 1), I² = 0, H² = 1.
    let single = k == 1;
    if let Some(bad) = se.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(MetaError::BadStandardError(bad));
    }
    let v: Vec<f64> = se.iter().map(|s| s * s).collect();
    let tau2 = match options.method {
        _ if single => 0.0,
        Method::Fixed => 0.0,
        Method::DerSimonianLaird => dersimonian_laird(y, &v),
        Method::Reml => reml(y, &v)?,
        Method::PauleMandel => paule_mandel(y, &v),
    };
    let w: Vec<f64> = v.iter().map(|vi| 1.0 / (vi + tau2)).collect();
    let total: f64 = w.iter().sum();
    let estimate = weighted_mean(y, &w);
    let kf = k as f64;
    let (std_error, df) = if options.knapp_hartung && !single {
        let s2 = w
            .iter()
            .zip(y)
            .map(|(wi, yi)| wi * (yi - estimate).powi(2))
            .sum::<f64>()
            / (kf - 1.0);
        ((s2 / total).sqrt(), Some(kf - 1.0))
    } else {
        ((1.0 / total).sqrt(), None)
    };
    let statistic = estimate / std_error;
    let alpha = 1.0 - options.level;
    let (p_value, critical) = match df {
        Some(df) => {
            let t = StudentsT::new(0.0, 1.0, df).expect("positive degrees of freedom");
            (
                2.0 * t.cdf(-statistic.abs()),
                t.inverse_cdf(1.0 - alpha / 2.0),
            )
        }
        None => {
            let z = Normal::standard();
            (
                2.0 * z.cdf(-statistic.abs()),
                z.inverse_cdf(1.0 - alpha / 2.0),
            )
        }
    };
    let spread = (std_error.powi(2) + tau2).sqrt();
    let (q, q_p_value) = if single { (0.0, 1.0) } else { cochran_q(y, &v) };
    let (i2, h2) = if single {
        (0.0, 1.0)
    } else if options.method == Method::Fixed {
        let excess = if q > 0.0 { (q - (kf - 1.0)) / q } else { 0.0 };
        (
            100.0 * excess.max(0.0),
            if k > 1 { q / (kf - 1.0) } else { f64::NAN },
        )
    } else {
        let typical = typical_variance(&v);
        (100.0 * tau2 / (tau2 + typical), (tau2 + typical) / typical)
    };
    Ok(Pooled {
        studies: k,
        estimate,
        std_error,
        statistic,
        df,
        p_value,
        conf_low: estimate - critical * std_error,
        conf_high: estimate + critical * std_error,
        prediction_low: estimate - critical * spread,
        prediction_high: estimate + critical * spread,
        tau2,
        i2,
        h2,
        q,
        q_p_value,
        weights: w.iter().map(|wi| 100.0 * wi / total).collect(),
    })
}

fn weighted_mean(y: &[f64], w: &[f64]) -> f64 {
    y.iter().zip(w).map(|(yi, wi)| yi * wi).sum::<f64>() / w.iter().sum::<f64>()
}

/// Cochran's Q about the fixed-effect mean, and its χ²(k − 1) p-value.
fn cochran_q(y: &[f64], v: &[f64]) -> (f64, f64) {
    let w: Vec<f64> = v.iter().map(|vi| 1.0 / vi).collect();
    let mean = weighted_mean(y, &w);
    let q: f64 = w
        .iter()
        .zip(y)
        .map(|(wi, yi)| wi * (yi - mean).powi(2))
        .sum();
    let df = y.len() as f64 - 1.0;
    let p = if df > 0.0 {
        1.0 - ChiSquared::new(df).expect("positive df").cdf(q)
    } else {
        f64::NAN
    };
    (q, p)
}

/// The "typical" within-study variance of Higgins and Thompson, as metafor's I²:
/// (k − 1) Σw / ((Σw)² − Σw²), w = 1/v.
fn typical_variance(v: &[f64]) -> f64 {
    let w: Vec<f64> = v.iter().map(|vi| 1.0 / vi).collect();
    let sum: f64 = w.iter().sum();
    let squares: f64 = w.iter().map(|wi| wi * wi).sum();
    (v.len() as f64 - 1.0) * sum / (sum * sum - squares)
}

/// DerSimonian and Laird's moment estimator, truncated at 0.
fn dersimonian_laird(y: &[f64], v: &[f64]) -> f64 {
    let w: Vec<f64> = v.iter().map(|vi| 1.0 / vi).collect();
    let sum: f64 = w.iter().sum();
    let squares: f64 = w.iter().map(|wi| wi * wi).sum();
    let (q, _) = cochran_q(y, v);
    ((q - (y.len() as f64 - 1.0)) / (sum - squares / sum)).max(0.0)
}

/// REML by Fisher scoring as metafor: τ² += (y'PPy − tr P) / tr(PP), halving a step that
/// would make τ² negative (so that from 0 a negative step leaves it at 0).
fn reml(y: &[f64], v: &[f64]) -> Result<f64, MetaError> {
    // metafor's start: Hedges' estimator, (Σ(y − ȳ)² − (k − 1)/k·Σv)/(k − 1), at least 0.
    // The restricted likelihood can have more than one maximum; starting where metafor
    // starts finds the one metafor finds.
    let k = y.len() as f64;
    let mean = y.iter().sum::<f64>() / k;
    let rss: f64 = y.iter().map(|yi| (yi - mean).powi(2)).sum();
    let mut tau2 = ((rss - (k - 1.0) / k * v.iter().sum::<f64>()) / (k - 1.0)).max(0.0);
    for _ in 0..MAX_ITERATIONS {
        let w: Vec<f64> = v.iter().map(|vi| 1.0 / (vi + tau2)).collect();
        let total: f64 = w.iter().sum();
        let mean = weighted_mean(y, &w);
        // P = W − w wᵀ/Σw; Py = w∘(y − mean); tr P = Σw − Σw²/Σw;
        // tr(PP) = Σw² − 2Σw³/Σw + (Σw²/Σw)².
        let py: Vec<f64> = w.iter().zip(y).map(|(wi, yi)| wi * (yi - mean)).collect();
        let ypppy: f64 = py.iter().map(|p| p * p).sum();
        let w2: f64 = w.iter().map(|wi| wi * wi).sum();
        let w3: f64 = w.iter().map(|wi| wi * wi * wi).sum();
        let trace_p = total - w2 / total;
        let trace_pp = w2 - 2.0 * w3 / total + (w2 / total).powi(2);
        let mut step = (ypppy - trace_p) / trace_pp;
        debug_assert!(step.is_finite());
        while tau2 + step < 0.0 {
            step /= 2.0;
        }
        tau2 += step;
        if step.abs() < THRESHOLD {
            return Ok(tau2);
        }
    }
    Err(MetaError::NotConverged)
}

/// Paule and Mandel's estimator: the τ² at which the generalised Q equals k − 1 (0 when
/// it is below k − 1 already at τ² = 0), found by bisection to machine precision.
fn paule_mandel(y: &[f64], v: &[f64]) -> f64 {
    let k = y.len() as f64;
    let excess = |tau2: f64| {
        let w: Vec<f64> = v.iter().map(|vi| 1.0 / (vi + tau2)).collect();
        let mean = weighted_mean(y, &w);
        w.iter()
            .zip(y)
            .map(|(wi, yi)| wi * (yi - mean).powi(2))
            .sum::<f64>()
            - (k - 1.0)
    };
    if excess(0.0) <= 0.0 {
        return 0.0;
    }
    // The generalised Q falls as τ² grows: widen until it is below k − 1, then halve.
    let (mut low, mut high) = (0.0, 1.0_f64.max(variance(y)));
    let mut steps = 0;
    while excess(high) > 0.0 {
        high *= 2.0;
        steps += 1;
    }
    while high - low > f64::EPSILON * high.max(1e-300) && steps < 2000 {
        let middle = 0.5 * (low + high);
        if middle <= low || middle >= high {
            break;
        }
        if excess(middle) > 0.0 {
            low = middle;
        } else {
            high = middle;
        }
        steps += 1;
    }
    0.5 * (low + high)
}

fn variance(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)
}

/// The meta-analysis again without each study in turn (metafor's `leave1out`).
pub fn leave_one_out(y: &[f64], se: &[f64], options: &Options) -> Vec<Result<Pooled, MetaError>> {
    (0..y.len())
        .map(|left_out| {
            let kept = |v: &[f64]| -> Vec<f64> {
                v.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != left_out)
                    .map(|(_, x)| *x)
                    .collect()
            };
            pool(&kept(y), &kept(se), options)
        })
        .collect()
}

/// Subgroups pooled separately, each with its own τ², and the test of their difference:
/// Q between the subgroups' estimates weighted by their inverse variances, χ²(G − 1)
/// (a fixed-effect meta-regression on the subgroup estimates, as metafor's advice for
/// comparing separately fitted models, and RevMan's test).
pub struct Subgroups {
    pub pooled: Vec<Result<Pooled, MetaError>>,
    pub q_between: f64,
    pub q_df: usize,
    pub q_p_value: f64,
}

pub fn subgroups(
    y: &[f64],
    se: &[f64],
    groups: &[usize],
    count: usize,
    options: &Options,
) -> Subgroups {
    let pooled: Vec<Result<Pooled, MetaError>> = (0..count)
        .map(|g| {
            let pick = |v: &[f64]| -> Vec<f64> {
                v.iter()
                    .zip(groups)
                    .filter(|(_, gi)| **gi == g)
                    .map(|(x, _)| *x)
                    .collect()
            };
            pool(&pick(y), &pick(se), options)
        })
        .collect();
    let (estimates, variances): (Vec<f64>, Vec<f64>) = pooled
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|p| (p.estimate, p.std_error.powi(2)))
        .unzip();
    let (q_between, q_p_value) = if estimates.len() > 1 {
        cochran_q(&estimates, &variances)
    } else {
        (f64::NAN, f64::NAN)
    };
    Subgroups {
        q_df: estimates.len().saturating_sub(1),
        pooled,
        q_between,
        q_p_value,
    }
}

/// Egger's regression test for funnel-plot asymmetry, the classic form (metafor's
/// `regtest(..., model = "lm")`): a weighted regression of the estimates on their standard
/// errors with weights 1/se², its residual variance estimated; the slope's t(k − 2) test,
/// and the intercept: the estimate where the standard error would be 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Egger {
    pub slope: f64,
    pub slope_se: f64,
    pub statistic: f64,
    pub df: f64,
    pub p_value: f64,
    pub limit: f64,
    pub limit_se: f64,
}

pub fn egger(y: &[f64], se: &[f64]) -> Option<Egger> {
    let k = y.len();
    if k < 3 {
        return None;
    }
    // Weighted least squares of y on (1, se) with weights w = 1/se².
    let w: Vec<f64> = se.iter().map(|s| 1.0 / (s * s)).collect();
    let (mut s0, mut s1, mut s2, mut t0, mut t1) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..k {
        s0 += w[i];
        s1 += w[i] * se[i];
        s2 += w[i] * se[i] * se[i];
        t0 += w[i] * y[i];
        t1 += w[i] * se[i] * y[i];
    }
    let det = s0 * s2 - s1 * s1;
    if det.abs() <= 1e-300 || det.is_nan() {
        return None;
    }
    let limit = (s2 * t0 - s1 * t1) / det;
    let slope = (s0 * t1 - s1 * t0) / det;
    let df = k as f64 - 2.0;
    let sigma2 = (0..k)
        .map(|i| w[i] * (y[i] - limit - slope * se[i]).powi(2))
        .sum::<f64>()
        / df;
    let slope_se = (sigma2 * s0 / det).sqrt();
    let limit_se = (sigma2 * s2 / det).sqrt();
    let statistic = slope / slope_se;
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(Egger {
        slope,
        slope_se,
        statistic,
        df,
        p_value: 2.0 * t.cdf(-statistic.abs()),
        limit,
        limit_se,
    })
}
