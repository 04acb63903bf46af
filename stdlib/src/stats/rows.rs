//! The model matrix as a fit reads it: rows in blocks, each column demeaned within the
//! absorbed groups, handed out in chunks to every core. Nothing of size rows × columns
//! is stored (a factor's dummies are its codes; a single absorbed grouping is one
//! mean per group and column), so a fit's memory grows with the rows, not the columns.
//!
//! Chunks are fixed in size and their partial sums are added in chunk order, so the
//! result does not depend on the number of cores.

use std::ops::Range;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, Par};
use rayon::prelude::*;

use crate::formula::design::{Grouping, MatrixColumn};

/// Rows per chunk of work given to a core.
pub const CHUNK: usize = 1 << 16;
/// Rows per block within a chunk: a block of the design (rows × columns) stays in cache
/// while faer's matrix product works on it.
const BLOCK: usize = 2048;

/// `job` on each chunk of `0..n`, in parallel; the answers in chunk order.
pub fn over_chunks<T: Send>(n: usize, job: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| job(c * CHUNK..((c + 1) * CHUNK).min(n)))
        .collect()
}

/// `job` on each chunk of `out` with the rows it covers, in parallel.
pub fn fill_chunks(out: &mut [f64], job: impl Fn(Range<usize>, &mut [f64]) + Sync) {
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, part)| job(c * CHUNK..c * CHUNK + part.len(), part));
}

/// A sum over rows, in parallel, added in chunk order.
pub fn sum_rows(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    over_chunks(n, |range| range.map(&term).sum::<f64>())
        .into_iter()
        .sum()
}

/// How the columns are demeaned within the absorbed groups, for given weights.
pub enum Demeaning {
    /// No absorbed groups.
    None,
    /// One absorbed grouping: each group's weighted mean of each column, group by
    /// group (`columns` numbers per group). Exact in one step.
    OneWay { means: Vec<f64> },
    /// Several groupings: the demeaned columns, by alternating projections.
    Columns(Vec<Vec<f64>>),
}

/// The columns of a fit, demeaned.
pub struct Rows<'a> {
    pub columns: Vec<&'a MatrixColumn>,
    pub groups: &'a [Grouping],
    pub demeaning: Demeaning,
}

impl<'a> Rows<'a> {
    /// Demeans `columns` within `groups` under weights `w`.
    pub fn new(columns: Vec<&'a MatrixColumn>, groups: &'a [Grouping], w: &[f64]) -> Self {
        let demeaning = match groups {
            [] => Demeaning::None,
            [one] => Demeaning::OneWay {
                means: group_means(&columns, one, w),
            },
            _ => Demeaning::Columns(
                columns
                    .iter()
                    .map(|c| {
                        let mut x = vec![0.0; c.len()];
                        c.fill(0, &mut x);
                        demean(&x, w, groups)
                    })
                    .collect(),
            ),
        };
        Rows {
            columns,
            groups,
            demeaning,
        }
    }

    pub fn width(&self) -> usize {
        self.columns.len()
    }

    pub fn len(&self) -> usize {
        self.columns.first().map_or_else(
            || self.groups.first().map_or(0, |g| g.ids.len()),
            |c| c.len(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `start..start + len` into the first `len` rows of `block`.
    pub fn fill(&self, start: usize, len: usize, mut block: MatMut<f64>) {
        let p = self.width();
        for c in 0..p {
            let out = column_slice(block.as_mut(), c, len);
            match &self.demeaning {
                Demeaning::Columns(x) => out.copy_from_slice(&x[c][start..start + len]),
                Demeaning::None => self.columns[c].fill(start, out),
                Demeaning::OneWay { means } => {
                    self.columns[c].fill(start, out);
                    let ids = &self.groups[0].ids[start..start + len];
                    for (o, &g) in out.iter_mut().zip(ids) {
                        *o -= means[g as usize * p + c];
                    }
                }
            }
        }
    }

    /// Each row's `x̃ · beta`.
    pub fn times(&self, beta: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        let b = Mat::<f64>::from_fn(beta.len(), 1, |i, _| beta[i]);
        fill_chunks(&mut out, |range, part| {
            let mut block = Mat::<f64>::zeros(BLOCK, self.width());
            let mut result = Mat::<f64>::zeros(BLOCK, 1);
            for start in range.clone().step_by(BLOCK) {
                let len = BLOCK.min(range.end - start);
                self.fill(start, len, block.as_mut());
                let mut target = result.as_mut().subrows_mut(0, len);
                matmul(
                    target.as_mut(),
                    Accum::Replace,
                    block.as_ref().subrows(0, len),
                    b.as_ref(),
                    1.0,
                    Par::Seq,
                );
                let from = start - range.start;
                for r in 0..len {
                    part[from + r] = target[(r, 0)];
                }
            }
        });
        out
    }

    /// `Σ f(row, x̃_row)` over blocks: `visit` gets each block's first row, its length
    /// and the block, and returns a partial answer; the partials are added in order.
    pub fn fold_blocks<T: Send>(
        &self,
        zero: impl Fn() -> T + Sync,
        visit: impl Fn(&mut T, usize, usize, MatMut<f64>) + Sync,
        add: impl Fn(&mut T, T),
    ) -> T {
        let partials = over_chunks(self.len(), |range| {
            let mut block = Mat::<f64>::zeros(BLOCK, self.width());
            let mut acc = zero();
            for start in range.clone().step_by(BLOCK) {
                let len = BLOCK.min(range.end - start);
                self.fill(start, len, block.as_mut());
                visit(&mut acc, start, len, block.as_mut().subrows_mut(0, len));
            }
            acc
        });
        let mut total = zero();
        for partial in partials {
            add(&mut total, partial);
        }
        total
    }

    /// `visit` on every block in order, on this thread (for sums too large to keep one
    /// per chunk).
    pub fn each_block(&self, mut visit: impl FnMut(usize, usize, MatMut<f64>)) {
        let mut block = Mat::<f64>::zeros(BLOCK, self.width());
        for start in (0..self.len()).step_by(BLOCK) {
            let len = BLOCK.min(self.len() - start);
            self.fill(start, len, block.as_mut());
            visit(start, len, block.as_mut().subrows_mut(0, len));
        }
    }

    /// `X̃'WX̃` and `X̃'Wz` (weights are never negative): each block's columns scaled by
    /// √w, then one matrix product `AᵀA`, which faer vectorises.
    pub fn cross_products(&self, w: &[f64], z: &[f64]) -> (Mat<f64>, Vec<f64>) {
        let p = self.width();
        let (xtwx, xtwz) = self.fold_blocks(
            || (Mat::<f64>::zeros(p, p), Mat::<f64>::zeros(p, 1)),
            |(xtwx, xtwz), start, len, mut block| {
                let roots: Vec<f64> = w[start..start + len].iter().map(|v| v.sqrt()).collect();
                let target = Mat::<f64>::from_fn(len, 1, |r, _| z[start + r] * roots[r]);
                for c in 0..p {
                    for (x, root) in column_slice(block.as_mut(), c, len).iter_mut().zip(&roots) {
                        *x *= root;
                    }
                }
                let scaled = block.as_ref();
                matmul(
                    xtwx.as_mut(),
                    Accum::Add,
                    scaled.transpose(),
                    scaled.as_ref(),
                    1.0,
                    Par::Seq,
                );
                matmul(
                    xtwz.as_mut(),
                    Accum::Add,
                    scaled.transpose(),
                    target.as_ref(),
                    1.0,
                    Par::Seq,
                );
            },
            |(a, b), (c, d)| {
                *a += c;
                *b += d;
            },
        );
        (xtwx, (0..p).map(|i| xtwz[(i, 0)]).collect())
    }

    /// `z` demeaned as the columns are.
    pub fn demean_vector(&self, z: &[f64], w: &[f64]) -> Vec<f64> {
        match &self.demeaning {
            Demeaning::None => z.to_vec(),
            Demeaning::OneWay { .. } => {
                let group = &self.groups[0];
                let means = group_means_of(z, group, w);
                let mut out = z.to_vec();
                fill_chunks(&mut out, |range, part| {
                    for (o, &g) in part.iter_mut().zip(&group.ids[range]) {
                        *o -= means[g as usize];
                    }
                });
                out
            }
            Demeaning::Columns(_) => demean(z, w, self.groups),
        }
    }
}

pub fn column_slice(block: MatMut<'_, f64>, c: usize, len: usize) -> &mut [f64] {
    block
        .col_mut(c)
        .try_as_col_major_mut()
        .expect("a column of a block is contiguous")
        .as_slice_mut()
        .split_at_mut(len)
        .0
}

/// Each group's weighted mean of each column (group by group); 0 for a group of no
/// weight.
fn group_means(columns: &[&MatrixColumn], group: &Grouping, w: &[f64]) -> Vec<f64> {
    let p = columns.len();
    let levels = group.levels;
    let n = group.ids.len();
    let partials = over_chunks(n, |range| {
        let mut sums = vec![0.0; levels * (p + 1)];
        let mut values = vec![0.0; BLOCK];
        for start in range.clone().step_by(BLOCK) {
            let len = BLOCK.min(range.end - start);
            let ids = &group.ids[start..start + len];
            let weights = &w[start..start + len];
            for (c, column) in columns.iter().enumerate() {
                column.fill(start, &mut values[..len]);
                for r in 0..len {
                    sums[ids[r] as usize * (p + 1) + c] += weights[r] * values[r];
                }
            }
            for r in 0..len {
                sums[ids[r] as usize * (p + 1) + p] += weights[r];
            }
        }
        sums
    });
    let mut sums = vec![0.0; levels * (p + 1)];
    for partial in partials {
        for (s, v) in sums.iter_mut().zip(partial) {
            *s += v;
        }
    }
    let mut means = vec![0.0; levels * p];
    for g in 0..levels {
        let total = sums[g * (p + 1) + p];
        if total > 0.0 {
            for c in 0..p {
                means[g * p + c] = sums[g * (p + 1) + c] / total;
            }
        }
    }
    means
}

fn group_means_of(x: &[f64], group: &Grouping, w: &[f64]) -> Vec<f64> {
    let column = [x];
    let partials = over_chunks(x.len(), |range| {
        let mut sums = vec![0.0; group.levels * 2];
        for i in range {
            let g = group.ids[i] as usize;
            sums[2 * g] += w[i] * column[0][i];
            sums[2 * g + 1] += w[i];
        }
        sums
    });
    let mut sums = vec![0.0; group.levels * 2];
    for partial in partials {
        for (s, v) in sums.iter_mut().zip(partial) {
            *s += v;
        }
    }
    (0..group.levels)
        .map(|g| {
            if sums[2 * g + 1] > 0.0 {
                sums[2 * g] / sums[2 * g + 1]
            } else {
                0.0
            }
        })
        .collect()
}

/// Subtracts weighted group means, one grouping after another until nothing moves
/// (exact in one pass for a single grouping).
pub fn demean(x: &[f64], w: &[f64], groups: &[Grouping]) -> Vec<f64> {
    let mut out = x.to_vec();
    if groups.is_empty() {
        return out;
    }
    let scale = 1.0 + x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for _ in 0..10_000 {
        let mut largest_change: f64 = 0.0;
        for group in groups {
            let means = group_means_of(&out, group, w);
            largest_change = means.iter().fold(largest_change, |m, v| m.max(v.abs()));
            fill_chunks(&mut out, |range, part| {
                for (o, &g) in part.iter_mut().zip(&group.ids[range]) {
                    *o -= means[g as usize];
                }
            });
        }
        if groups.len() == 1 || largest_change < 1e-13 * scale {
            break;
        }
    }
    out
}
