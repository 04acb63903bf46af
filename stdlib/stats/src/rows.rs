//! The model matrix as a fit reads it: rows in blocks, each column demeaned within the
//! absorbed groups, handed out in chunks to every core. Nothing of size rows × columns
//! is stored (a factor's dummies are its codes; a single absorbed grouping is one
//! mean per group and column), so a fit's memory grows with the rows, not the columns.
//!
//! Chunks are fixed in size and their partial sums are added in chunk order, so the
//! result does not depend on the number of cores.

use std::ops::Range;
use std::sync::Arc;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, Par};
use rayon::prelude::*;

use crate::absorbed::NO_ROWS;
use crate::matrix::{Code, Codes, Grouping, MatrixColumn, linear_predictor};
use crate::with_codes;

/// Rows per chunk of work given to a core.
pub const CHUNK: usize = 1 << 16;
/// Rows per block within a chunk: a block of the design (rows × columns) stays in cache
/// while faer's matrix product works on it.
pub const BLOCK: usize = 2048;

/// `job` on each chunk of `0..n`, in parallel; the answers in chunk order.
pub fn over_chunks<T: Send>(n: usize, job: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| job(c * CHUNK..((c + 1) * CHUNK).min(n)))
        .collect()
}

/// The sum of `term(i)` over `0..n`, on every core, added in chunk order.
pub fn sum_over(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    over_chunks(n, |range| range.map(&term).sum::<f64>())
        .into_iter()
        .sum()
}

/// `job` on each chunk of `out` with the rows it covers, in parallel.
pub fn fill_chunks(out: &mut [f64], job: impl Fn(Range<usize>, &mut [f64]) + Sync) {
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, part)| job(c * CHUNK..c * CHUNK + part.len(), part));
}

/// How the columns are demeaned within the absorbed groups, for given weights.
pub enum Demeaning {
    /// No absorbed groups.
    None,
    /// One absorbed grouping: each group's weighted mean of each column, group by
    /// group (`columns` numbers per group). Exact in one step.
    OneWay {
        means: Vec<f64>,
        weights: Vec<f64>,
        /// The working response's group means, when given with the weights.
        z_means: Option<Vec<f64>>,
    },
    /// Several groupings: the demeaned columns, by conjugate gradients ([`demean_checked`]).
    Columns(Vec<Vec<f64>>),
}

/// The columns of a fit, demeaned.
pub struct Rows<'a> {
    pub columns: Vec<&'a MatrixColumn>,
    /// The absorbed groupings (codes shared, not copied).
    pub groups: Vec<Grouping>,
    pub demeaning: Demeaning,
    /// Whether several absorbed groupings' demeaning reached its tolerance for every
    /// column ([`demean_checked`]); true for none or one.
    pub within_tolerance: bool,
    cells: Option<Arc<Cells>>,
}

impl<'a> Rows<'a> {
    /// Demeans `columns` within `groups` under weights `w`.
    pub fn new(columns: Vec<&'a MatrixColumn>, groups: &[Grouping], w: &[f64]) -> Self {
        Self::with_cells(columns, groups, w, None, None)
    }

    /// As [`Rows::new`], with the columns' cells (from [`Cells::new`] on the same columns)
    /// for cross-products by cell, and the working response `z` whose group means
    /// [`Rows::cross_products`] and [`Rows::predictor`] will need (found in the same pass).
    pub fn with_cells(
        columns: Vec<&'a MatrixColumn>,
        groups: &[Grouping],
        w: &[f64],
        z: Option<&[f64]>,
        cells: Option<Arc<Cells>>,
    ) -> Self {
        let mut within_tolerance = true;
        let demeaning = match groups {
            [] => Demeaning::None,
            [one] => {
                let (means, weights, z_means) = group_means(&columns, one, w, z);
                Demeaning::OneWay {
                    means,
                    weights,
                    z_means,
                }
            }
            _ => Demeaning::Columns(
                columns
                    .iter()
                    .map(|c| {
                        let mut x = vec![0.0; c.len()];
                        c.fill(0, &mut x);
                        let (values, converged) = demean_checked(&x, w, groups);
                        within_tolerance &= converged;
                        values
                    })
                    .collect(),
            ),
        };
        Rows {
            columns,
            groups: groups.to_vec(),
            demeaning,
            within_tolerance,
            cells,
        }
    }

    /// Rows demeaned within one grouping by values already found: each group's means
    /// (from a [`GroupTable`] at the same weights), or what the absorbed effects fit in
    /// each combination of several groupings' levels ([`crate::combinations`]; then the
    /// working response's are given too, as its one-way means would be wrong).
    pub fn one_way(
        columns: Vec<&'a MatrixColumn>,
        group: &Grouping,
        means: Vec<f64>,
        weights: Vec<f64>,
        z_means: Option<Vec<f64>>,
        cells: Option<Arc<Cells>>,
    ) -> Self {
        Rows {
            columns,
            groups: vec![group.clone()],
            demeaning: Demeaning::OneWay {
                means,
                weights,
                z_means,
            },
            within_tolerance: true,
            cells,
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
                Demeaning::OneWay { means, .. } => {
                    self.columns[c].fill(start, out);
                    let ids = &self.groups[0].ids[start..start + len];
                    for (o, &g) in out.iter_mut().zip(ids) {
                        *o -= means[g as usize * p + c];
                    }
                }
            }
        }
    }

    /// Each row's `z − z̃ + x̃ · beta`: the linear predictor less the offset, the
    /// absorbed effects being what demeaning took from the working response `z`.
    pub fn predictor(&self, beta: &[f64], z: &[f64], w: &[f64]) -> Vec<f64> {
        match &self.demeaning {
            Demeaning::None => {
                let mut out = vec![0.0; self.len()];
                fill_chunks(&mut out, |range, part| {
                    linear_predictor(&self.columns, beta, range.start, part)
                });
                out
            }
            Demeaning::OneWay { means, .. } => {
                // x̃ · beta = x · beta − x̄_g · beta, and z − z̃ = z̄_g.
                let group = &self.groups[0];
                let shift = group_shifts(beta, means, &self.z_means(z, w));
                let mut out = vec![0.0; self.len()];
                fill_chunks(&mut out, |range, part| {
                    linear_predictor(&self.columns, beta, range.start, part);
                    for (o, &g) in part.iter_mut().zip(&group.ids[range]) {
                        *o += shift[g as usize];
                    }
                });
                out
            }
            Demeaning::Columns(_) => {
                let z_tilde = self.demean_vector(z, w);
                let mut out = self.dense_times(beta);
                for i in 0..out.len() {
                    out[i] += z[i] - z_tilde[i];
                }
                out
            }
        }
    }

    /// Each row's `x̃ · beta`, from blocks of the design.
    fn dense_times(&self, beta: &[f64]) -> Vec<f64> {
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

    /// `X̃'WX̃` and `X̃'Wz̃` (weights are never negative), `z̃` being `z` demeaned as
    /// the columns are. By cells when the columns have them: the design's sums within
    /// each cell, then for one absorbed grouping `X̃'WX̃ = X'WX − Σ_g W_g x̄_g x̄_g'`. That
    /// difference loses digits when a column hardly varies within the groups, so when
    /// the demeaned sum of squares is below 1e-6 of the raw one, the rows are read
    /// demeaned instead.
    pub fn cross_products(&self, w: &[f64], z: &[f64]) -> (Mat<f64>, Vec<f64>) {
        if let Some(cells) = &self.cells {
            let (mut xtwx, mut xtwz) = cells.cross_products(&self.columns, w, z);
            match &self.demeaning {
                Demeaning::None => return (xtwx, xtwz),
                Demeaning::OneWay { means, weights, .. } => {
                    let z_means = self.z_means(z, w);
                    if absorb_one_way(&mut xtwx, &mut xtwz, means, weights, &z_means) {
                        return (xtwx, xtwz);
                    }
                }
                Demeaning::Columns(_) => {}
            }
        }
        let z_tilde = self.demean_vector(z, w);
        self.dense_cross_products(w, &z_tilde)
    }

    /// `X̃'WX̃` and `X̃'Wz` from blocks of the design: each block's columns scaled by
    /// √w, then one matrix product `AᵀA`, which faer vectorises.
    fn dense_cross_products(&self, w: &[f64], z: &[f64]) -> (Mat<f64>, Vec<f64>) {
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

    /// The group means of the working response: kept from construction, or found now.
    fn z_means(&self, z: &[f64], w: &[f64]) -> std::borrow::Cow<'_, [f64]> {
        match &self.demeaning {
            Demeaning::OneWay {
                z_means: Some(means),
                ..
            } => std::borrow::Cow::Borrowed(means.as_slice()),
            _ => std::borrow::Cow::Owned(group_means_of(z, &self.groups[0], w)),
        }
    }

    /// Whether [`Rows::group_score_sums`] sums the scores by `grouping` from a table.
    pub fn scores_by_table(&self, grouping: &Grouping) -> bool {
        let width = GroupTable::new(&self.columns).width;
        match &self.demeaning {
            Demeaning::None => scores_by_table(None, grouping, width),
            Demeaning::OneWay { .. } => scores_by_table(Some(&self.groups[0]), grouping, width),
            Demeaning::Columns(_) => false,
        }
    }

    /// Each group's sum of `score_i · x̃_i` (group by group, `p` numbers each) by tables
    /// rather than rows of the design, when [`Rows::scores_by_table`] (then
    /// `Σ_{i∈g} s_i x̃_i = Σ_{i∈g} s_i x_i − x̄_g Σ_{i∈g} s_i`); `None` otherwise.
    /// The scores are `w_i · r_i` (working weight times working residual), made a
    /// block at a time, as [`GroupTable::add_scores`] adds them.
    pub fn group_score_sums(&self, grouping: &Grouping, w: &[f64], r: &[f64]) -> Option<Vec<f64>> {
        if !self.scores_by_table(grouping) {
            return None;
        }
        let table = GroupTable::new(&self.columns);
        let size = grouping.levels * table.width;
        let partials = over_chunks(w.len(), |range| {
            let mut sums = vec![0.0; size];
            for start in range.clone().step_by(BLOCK) {
                let rows = start..BLOCK.min(range.end - start) + start;
                table.add_scores(&mut sums, grouping, start, &w[rows.clone()], &r[rows]);
            }
            sums
        });
        Some(self.finish_group_scores(grouping, &add_partials(partials, size)))
    }

    /// [`Rows::group_score_sums`] from the table's sums.
    /// Each group's sum of the scores `w_i r_i x̃_i` (`p` numbers a group): by tables
    /// when [`Rows::scores_by_table`], else from the demeaned rows a block at a time — one
    /// partial sum per chunk when that is small, otherwise one pass on this thread.
    pub fn score_sums(&self, grouping: &Grouping, w: &[f64], r: &[f64]) -> Vec<f64> {
        if let Some(sums) = self.group_score_sums(grouping, w, r) {
            return sums;
        }
        let p = self.width();
        let size = grouping.levels * p;
        let add_block = |sums: &mut Vec<f64>, start: usize, len: usize, mut block: MatMut<f64>| {
            let ids = &grouping.ids[start..start + len];
            for c in 0..p {
                let column = column_slice(block.as_mut(), c, len);
                for (i, (value, &g)) in column.iter().zip(ids).enumerate() {
                    sums[g as usize * p + c] += value * w[start + i] * r[start + i];
                }
            }
        };
        if size <= 1 << 16 {
            self.fold_blocks(
                || vec![0.0; size],
                add_block,
                |a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                },
            )
        } else {
            let mut sums = vec![0.0; size];
            self.each_block(|start, len, block| add_block(&mut sums, start, len, block));
            sums
        }
    }

    pub fn finish_group_scores(&self, grouping: &Grouping, sums: &[f64]) -> Vec<f64> {
        let (mut out, width) = self.table_column_sums(grouping.levels, sums);
        let p = self.width();
        if let Demeaning::OneWay { means, .. } = &self.demeaning {
            for g in 0..grouping.levels {
                let weight = sums[g * width];
                for c in 0..p {
                    out[g * p + c] -= means[g * p + c] * weight;
                }
            }
        }
        out
    }

    /// Each cluster's sum of the scores `w_i r_i x̃_i` (`p` numbers a cluster) when
    /// every absorbed group lies within one cluster (`outer`, from
    /// [`crate::absorbed::outer_levels`]): `Σ_{i∈c} s_i x_i − Σ_{g⊂c} x̄_g Σ_{i∈g} s_i`,
    /// from the clusters' table `sums` and each group's sum of scores.
    pub fn nested_scores(
        &self,
        clusters: &Grouping,
        sums: &[f64],
        group_scores: &[f64],
        outer: &[u32],
    ) -> Vec<f64> {
        let Demeaning::OneWay { means, .. } = &self.demeaning else {
            unreachable!("scores within clusters are for one absorbed grouping");
        };
        let p = self.width();
        let (mut out, _) = self.table_column_sums(clusters.levels, sums);
        for (g, &c) in outer.iter().enumerate() {
            if c != NO_ROWS {
                for j in 0..p {
                    out[c as usize * p + j] -= means[g * p + j] * group_scores[g];
                }
            }
        }
        out
    }

    /// Each of `levels` groups' sums of the columns (`p` numbers a group) from a
    /// [`GroupTable`]'s `sums`, and the table's width.
    fn table_column_sums(&self, levels: usize, sums: &[f64]) -> (Vec<f64>, usize) {
        let table = GroupTable::new(&self.columns);
        let p = self.width();
        let mut out = vec![0.0; levels * p];
        for g in 0..levels {
            let row = &sums[g * table.width..(g + 1) * table.width];
            for (c, column) in self.columns.iter().enumerate() {
                out[g * p + c] = table.column_sum(row, c, column);
            }
        }
        (out, table.width)
    }

    /// `z` demeaned as the columns are.
    pub fn demean_vector(&self, z: &[f64], w: &[f64]) -> Vec<f64> {
        match &self.demeaning {
            Demeaning::None => z.to_vec(),
            Demeaning::OneWay { .. } => {
                let mut out = z.to_vec();
                subtract_group_means(&mut out, &self.groups[0], &self.z_means(z, w));
                out
            }
            Demeaning::Columns(_) => demean(z, w, &self.groups),
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

/// Where a column's sums within the groups of a grouping live in a table of `width`
/// numbers per group: the group's weight first, then the working response's sum, then
/// one number per level of each factor (a look-up per row, not a pass per level) and
/// one per numeric column.
pub struct GroupTable<'a> {
    pub width: usize,
    factors: Vec<(&'a Codes, usize)>,
    numerics: Vec<(&'a [f64], usize)>,
    place: Vec<Option<usize>>,
}

impl<'a> GroupTable<'a> {
    pub fn new(columns: &[&'a MatrixColumn]) -> Self {
        let mut factors: Vec<(&Codes, usize)> = Vec::new();
        let mut numerics = Vec::new();
        let mut width = 2;
        let mut place = Vec::with_capacity(columns.len());
        for column in columns {
            match column {
                MatrixColumn::Indicator {
                    codes,
                    level,
                    levels,
                } => {
                    let offset = match factors.iter().find(|(c, _)| Arc::ptr_eq(c, codes)) {
                        Some((_, offset)) => *offset,
                        None => {
                            factors.push((codes, width));
                            width += *levels as usize;
                            width - *levels as usize
                        }
                    };
                    place.push(Some(offset + *level as usize));
                }
                MatrixColumn::Constant { .. } => place.push(None),
                MatrixColumn::Values(x) => {
                    numerics.push((x.as_slice(), width));
                    place.push(Some(width));
                    width += 1;
                }
            }
        }
        GroupTable {
            width,
            factors,
            numerics,
            place,
        }
    }

    /// Adds row `i` (in group `g`, weight `w`, working response `z`) to `sums`.
    #[inline]
    pub fn add(&self, sums: &mut [f64], i: usize, g: usize, w: f64, z: f64) {
        let row = &mut sums[g * self.width..(g + 1) * self.width];
        row[0] += w;
        row[1] += w * z;
        for &(codes, offset) in &self.factors {
            row[offset + codes.get(i) as usize] += w;
        }
        for &(x, at) in &self.numerics {
            row[at] += w * x[i];
        }
    }

    /// Adds rows `start..start + w.len()` (in groups `ids`, weights `w`, working
    /// response `z`) to `sums`, one kind of sum at a time: the same additions as
    /// [`GroupTable::add`] row by row, in the same order for every sum.
    pub fn add_block(&self, sums: &mut [f64], ids: &[u32], start: usize, w: &[f64], z: &[f64]) {
        let width = self.width;
        for ((&g, &w), &z) in ids.iter().zip(w).zip(z) {
            let at = g as usize * width;
            sums[at] += w;
            sums[at + 1] += w * z;
        }
        for &(codes, offset) in &self.factors {
            with_codes!(&**codes, codes => {
                for ((&g, &w), &c) in ids.iter().zip(w).zip(&codes[start..]) {
                    sums[g as usize * width + offset + c as usize] += w;
                }
            });
        }
        for &(x, at) in &self.numerics {
            for ((&g, &w), &x) in ids.iter().zip(w).zip(&x[start..]) {
                sums[g as usize * width + at] += w * x;
            }
        }
    }

    /// Adds the scores `w·r` of rows `start..start + w.len()` to `sums` by the groups of
    /// `grouping` (a table of [`Rows::finish_group_scores`]).
    pub fn add_scores(
        &self,
        sums: &mut [f64],
        grouping: &Grouping,
        start: usize,
        w: &[f64],
        r: &[f64],
    ) {
        let scores: Vec<f64> = w.iter().zip(r).map(|(w, r)| w * r).collect();
        let zeros = vec![0.0; w.len()];
        let ids = &grouping.ids[start..start + w.len()];
        self.add_block(sums, ids, start, &scores, &zeros);
    }

    /// Column `c`'s sum in one group's `row` of the table.
    fn column_sum(&self, row: &[f64], c: usize, column: &MatrixColumn) -> f64 {
        match (column, self.place[c]) {
            (MatrixColumn::Constant { value, .. }, _) => row[0] * value,
            (_, Some(at)) => row[at],
            _ => 0.0,
        }
    }

    /// Each group's weighted mean of each column (group by group; 0 for a group of no
    /// weight), each group's weight and its mean working response.
    pub fn finish(
        &self,
        columns: &[&MatrixColumn],
        sums: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let p = columns.len();
        let levels = sums.len() / self.width;
        let mut means = vec![0.0; levels * p];
        let mut weights = vec![0.0; levels];
        let mut z_means = vec![0.0; levels];
        for g in 0..levels {
            let row = &sums[g * self.width..(g + 1) * self.width];
            weights[g] = row[0];
            if row[0] > 0.0 {
                z_means[g] = row[1] / row[0];
                for (c, column) in columns.iter().enumerate() {
                    means[g * p + c] = self.column_sum(row, c, column) / row[0];
                }
            }
        }
        (means, weights, z_means)
    }
}

/// Whether scores can be summed by `grouping` from a [`GroupTable`] of `width` numbers a
/// group: when nothing is absorbed, or the groups are the one absorbed grouping, and the
/// table is not too large.
pub fn scores_by_table(absorbed: Option<&Grouping>, grouping: &Grouping, width: usize) -> bool {
    absorbed.is_none_or(|g| g.ids == grouping.ids) && grouping.levels * width <= 1 << 20
}

/// Adds sums of each chunk's table in chunk order.
pub fn add_partials(partials: Vec<Vec<f64>>, size: usize) -> Vec<f64> {
    let mut sums = vec![0.0; size];
    for partial in partials {
        for (s, v) in sums.iter_mut().zip(partial) {
            *s += v;
        }
    }
    sums
}

/// Each group's weighted mean of each column, each group's weight, and the working
/// response's group means when `z` is given.
fn group_means(
    columns: &[&MatrixColumn],
    group: &Grouping,
    w: &[f64],
    z: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>, Option<Vec<f64>>) {
    let table = GroupTable::new(columns);
    let size = group.levels * table.width;
    let partials = over_chunks(group.ids.len(), |range| {
        let mut sums = vec![0.0; size];
        for i in range {
            table.add(
                &mut sums,
                i,
                group.ids[i] as usize,
                w[i],
                z.map_or(0.0, |z| z[i]),
            );
        }
        sums
    });
    let (means, weights, z_means) = table.finish(columns, &add_partials(partials, size));
    (means, weights, z.map(|_| z_means))
}

/// `X̃'WX̃ = X'WX − Σ_g W_g x̄_g x̄_g'` and `X̃'Wz̃ = X'Wz − Σ_g W_g x̄_g z̄_g` for one
/// absorbed grouping, in place. False when a column hardly varies within the groups
/// (its demeaned sum of squares below 1e-6 of the raw one), where the difference has
/// lost too many digits and the rows must be read demeaned instead.
pub fn absorb_one_way(
    xtwx: &mut Mat<f64>,
    xtwz: &mut [f64],
    means: &[f64],
    weights: &[f64],
    z_means: &[f64],
) -> bool {
    let p = xtwz.len();
    let raw: Vec<f64> = (0..p).map(|j| xtwx[(j, j)]).collect();
    for g in 0..weights.len() {
        let m = &means[g * p..(g + 1) * p];
        for a in 0..p {
            let scaled = weights[g] * m[a];
            xtwz[a] -= scaled * z_means[g];
            for b in 0..p {
                xtwx[(a, b)] -= scaled * m[b];
            }
        }
    }
    (0..p).all(|j| xtwx[(j, j)] > 1e-6 * raw[j])
}

/// Rows grouped by the levels of every factor among the columns (each combination a
/// cell). A fit's cross-products then need, per cell, only the weighted sums of
/// products of the numeric columns and the working response: a few additions per row
/// instead of a row of the design. Worth it when the cells are few.
pub struct Cells {
    ids: Vec<u16>,
    count: usize,
    /// How each column reads a cell: its value in every cell, or a numeric column.
    reads: Vec<CellRead>,
    /// The numeric columns, by position among the columns.
    numerics: Vec<usize>,
}

enum CellRead {
    Cell(Vec<f64>),
    Numeric(usize),
}

/// At most this many cells (fewer than 65,536: a cell's number is two bytes), and this
/// many sums over all cells (one set per chunk).
const MAX_CELLS: usize = 1 << 14;
const MAX_CELL_SUMS: usize = 1 << 17;

impl Cells {
    /// The cells of `columns`, or `None` when they would be too many to pay.
    pub fn new(columns: &[&MatrixColumn]) -> Option<Arc<Cells>> {
        let n = columns.first()?.len();
        let mut factors: Vec<(&Codes, usize)> = Vec::new();
        let mut numerics = Vec::new();
        for (j, column) in columns.iter().enumerate() {
            match column {
                MatrixColumn::Indicator { codes, levels, .. } => {
                    if !factors.iter().any(|(c, _)| Arc::ptr_eq(c, codes)) {
                        factors.push((codes, *levels as usize));
                    }
                }
                MatrixColumn::Values(_) => numerics.push(j),
                MatrixColumn::Constant { .. } => {}
            }
        }
        let mut count: usize = 1;
        for (_, levels) in &factors {
            count = count.checked_mul(*levels)?;
        }
        let q = numerics.len() + 2;
        if count > MAX_CELLS || count * q * (q + 1) / 2 > MAX_CELL_SUMS || count > n / 4 {
            return None;
        }
        if factors
            .par_iter()
            .any(|(codes, levels)| with_codes!(&***codes, codes => codes.par_iter().any(|&c| c as usize >= *levels)))
        {
            return None;
        }
        // Two bytes a row: the cells number fewer than 65,536 (MAX_CELLS).
        let mut ids = vec![0u16; n];
        ids.par_chunks_mut(CHUNK).enumerate().for_each(|(k, ids)| {
            let start = k * CHUNK;
            let mut stride = 1;
            for (codes, levels) in &factors {
                with_codes!(&***codes, codes => {
                    for (id, &c) in ids.iter_mut().zip(&codes[start..]) {
                        *id += (c.code() * stride) as u16;
                    }
                });
                stride *= *levels as u32;
            }
        });
        let digit = |codes: &Codes, cell: usize| -> u32 {
            let mut stride = 1;
            for (c, levels) in &factors {
                if Arc::ptr_eq(c, codes) {
                    return ((cell / stride) % levels) as u32;
                }
                stride *= levels;
            }
            0
        };
        let reads = columns
            .iter()
            .map(|column| match column {
                MatrixColumn::Indicator { codes, level, .. } => CellRead::Cell(
                    (0..count)
                        .map(|cell| f64::from(u8::from(digit(codes, cell) == *level)))
                        .collect(),
                ),
                MatrixColumn::Constant { value, .. } => CellRead::Cell(vec![*value; count]),
                MatrixColumn::Values(_) => CellRead::Numeric(0),
            })
            .collect::<Vec<_>>();
        let mut k = 0;
        let reads = reads
            .into_iter()
            .map(|r| match r {
                CellRead::Numeric(_) => {
                    k += 1;
                    CellRead::Numeric(k - 1)
                }
                cell => cell,
            })
            .collect();
        Some(Arc::new(Cells {
            ids,
            count,
            reads,
            numerics,
        }))
    }

    /// Numbers per cell: the sums of `w·u_a·u_b` for `a ≤ b`, `u = (1, numerics…, z)`.
    pub fn pairs(&self) -> usize {
        let q = self.numerics.len() + 2;
        q * (q + 1) / 2
    }

    pub fn size(&self) -> usize {
        self.count * self.pairs()
    }

    /// The numeric columns' values, in the order of `u`.
    pub fn numeric_values<'c>(&self, columns: &[&'c MatrixColumn]) -> Vec<&'c [f64]> {
        self.numerics
            .iter()
            .map(|&j| match columns[j] {
                MatrixColumn::Values(x) => x.as_slice(),
                _ => &[],
            })
            .collect()
    }

    /// Adds row `i` (weight `w`, working response `z`) to `sums`; `u` is scratch of
    /// length numerics + 2.
    #[inline]
    pub fn add(
        &self,
        sums: &mut [f64],
        numeric: &[&[f64]],
        u: &mut [f64],
        i: usize,
        w: f64,
        z: f64,
    ) {
        let q = u.len();
        u[0] = 1.0;
        for (k, x) in numeric.iter().enumerate() {
            u[k + 1] = x[i];
        }
        u[q - 1] = z;
        let pairs = q * (q + 1) / 2;
        add_products(&mut sums[self.ids[i] as usize * pairs..][..pairs], u, w);
    }

    /// As [`Cells::add`] for rows `start..start + w.len()`, with the size of `u` known
    /// to the compiler for the usual one or two numeric columns.
    pub fn add_block(
        &self,
        sums: &mut [f64],
        numeric: &[&[f64]],
        start: usize,
        w: &[f64],
        z: &[f64],
    ) {
        match numeric.len() {
            0 => self.add_block_of::<2>(sums, numeric, start, w, z),
            1 => self.add_block_of::<3>(sums, numeric, start, w, z),
            2 => self.add_block_of::<4>(sums, numeric, start, w, z),
            _ => {
                let mut u = vec![0.0; numeric.len() + 2];
                for (r, (&w, &z)) in w.iter().zip(z).enumerate() {
                    self.add(sums, numeric, &mut u, start + r, w, z);
                }
            }
        }
    }

    fn add_block_of<const Q: usize>(
        &self,
        sums: &mut [f64],
        numeric: &[&[f64]],
        start: usize,
        w: &[f64],
        z: &[f64],
    ) {
        let pairs = Q * (Q + 1) / 2;
        let ids = &self.ids[start..start + w.len()];
        for (r, ((&id, &w), &z)) in ids.iter().zip(w).zip(z).enumerate() {
            let mut u = [1.0; Q];
            for k in 0..Q - 2 {
                u[k + 1] = numeric[k][start + r];
            }
            u[Q - 1] = z;
            add_products(&mut sums[id as usize * pairs..][..pairs], &u, w);
        }
    }

    /// The linear predictor's part from the factors and constants, cell by cell, and
    /// the coefficients of the numeric columns in the order of `u`: then a row's
    /// `x·beta` is one look-up and a product per numeric column.
    pub fn predictor(&self, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut by_cell = vec![0.0; self.count];
        let mut numeric = vec![0.0; self.numerics.len()];
        for (read, &b) in self.reads.iter().zip(beta) {
            match read {
                CellRead::Cell(values) => {
                    for (e, v) in by_cell.iter_mut().zip(values) {
                        *e += b * v;
                    }
                }
                CellRead::Numeric(k) => numeric[*k] = b,
            }
        }
        (by_cell, numeric)
    }

    /// `x·beta` for rows `start..start + out.len()` from [`Cells::predictor`]'s parts.
    pub fn predict_rows(
        &self,
        by_cell: &[f64],
        numeric: &[&[f64]],
        numeric_beta: &[f64],
        start: usize,
        out: &mut [f64],
    ) {
        let ids = &self.ids[start..start + out.len()];
        for (o, &id) in out.iter_mut().zip(ids) {
            *o = by_cell[id as usize];
        }
        for (x, &b) in numeric.iter().zip(numeric_beta) {
            for (o, &x) in out.iter_mut().zip(&x[start..]) {
                *o += b * x;
            }
        }
    }

    /// `X'WX` and `X'Wz` from each cell's sums of `w·u_a·u_b`, `u = (1, numerics…, z)`.
    fn cross_products(
        &self,
        columns: &[&MatrixColumn],
        w: &[f64],
        z: &[f64],
    ) -> (Mat<f64>, Vec<f64>) {
        let numeric = self.numeric_values(columns);
        let size = self.size();
        let partials = over_chunks(self.ids.len(), |range| {
            let mut sums = vec![0.0; size];
            let mut u = vec![0.0; self.numerics.len() + 2];
            for i in range {
                self.add(&mut sums, &numeric, &mut u, i, w[i], z[i]);
            }
            sums
        });
        self.assemble(columns.len(), &add_partials(partials, size))
    }

    /// `X'WX` and `X'Wz` for the `p` columns from the cells' sums.
    pub fn assemble(&self, p: usize, sums: &[f64]) -> (Mat<f64>, Vec<f64>) {
        let q = self.numerics.len() + 2;
        let pairs = self.pairs();
        let pair = |a: usize, b: usize| {
            let (a, b) = (a.min(b), a.max(b));
            a * q - a * (a + 1) / 2 + b
        };
        // Column j in cell c: a weight (its value in the cell) on one moment of u.
        let read = |j: usize, c: usize| -> (f64, usize) {
            match &self.reads[j] {
                CellRead::Cell(values) => (values[c], 0),
                CellRead::Numeric(k) => (1.0, k + 1),
            }
        };
        let mut xtwx = Mat::<f64>::zeros(p, p);
        let mut xtwz = vec![0.0; p];
        for c in 0..self.count {
            let cell = &sums[c * pairs..(c + 1) * pairs];
            if cell[0] == 0.0 {
                continue;
            }
            for a in 0..p {
                let (va, ua) = read(a, c);
                if va == 0.0 {
                    continue;
                }
                xtwz[a] += va * cell[pair(ua, q - 1)];
                for b in a..p {
                    let (vb, ub) = read(b, c);
                    xtwx[(a, b)] += va * vb * cell[pair(ua, ub)];
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                xtwx[(a, b)] = xtwx[(b, a)];
            }
        }
        (xtwx, xtwz)
    }
}

/// Adds `w·u_a·u_b` for `a ≤ b` to a cell's sums, in the order [`Cells::assemble`]
/// reads them.
#[inline(always)]
fn add_products(cell: &mut [f64], u: &[f64], w: f64) {
    let mut at = 0;
    for a in 0..u.len() {
        let wa = w * u[a];
        for b in a..u.len() {
            cell[at] += wa * u[b];
            at += 1;
        }
    }
}

/// Each group's weighted mean of `x` (0 for a group of no weight).
fn group_means_of(x: &[f64], group: &Grouping, w: &[f64]) -> Vec<f64> {
    let size = group.levels * 2;
    let partials = over_chunks(x.len(), |range| {
        let mut sums = vec![0.0; size];
        for i in range {
            let g = group.ids[i] as usize;
            sums[2 * g] += w[i] * x[i];
            sums[2 * g + 1] += w[i];
        }
        sums
    });
    let sums = add_partials(partials, size);
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

/// Subtracts from each row its group's value in `means`.
fn subtract_group_means(out: &mut [f64], group: &Grouping, means: &[f64]) {
    fill_chunks(out, |range, part| {
        for (o, &g) in part.iter_mut().zip(&group.ids[range]) {
            *o -= means[g as usize];
        }
    });
}

/// Each absorbed group's shift of the linear predictor at `beta`: `z̄_g − x̄_g · beta`,
/// what demeaning took from the working response less what it took from the columns.
pub fn group_shifts(beta: &[f64], means: &[f64], z_means: &[f64]) -> Vec<f64> {
    let p = beta.len();
    (0..z_means.len())
        .map(|g| z_means[g] - (0..p).map(|c| means[g * p + c] * beta[c]).sum::<f64>())
        .collect()
}

/// `x`'s weighted residual on the absorbed groups' dummies: for one grouping, its
/// group means subtracted.
pub fn demean(x: &[f64], w: &[f64], groups: &[Grouping]) -> Vec<f64> {
    demean_checked(x, w, groups).0
}

/// Conjugate-gradient steps before [`demean_checked`] gives up.
pub const DEMEANING_STEPS: usize = 10_000;
/// Demeaning has converged when no group's weighted mean residual exceeds this
/// fraction of the largest value.
pub const DEMEANING_TOLERANCE: f64 = 1e-13;

/// [`demean`], and whether it met [`DEMEANING_TOLERANCE`] within [`DEMEANING_STEPS`]
/// (one grouping is exact in one step).
pub fn demean_checked(x: &[f64], w: &[f64], groups: &[Grouping]) -> (Vec<f64>, bool) {
    demean_within(x, w, groups, DEMEANING_STEPS)
}

/// Several groupings' weighted residual by conjugate gradients (as reghdfe solves
/// it): the group effects `α` solve `D'WDα = D'Wx`, `D` the rows' group dummies,
/// preconditioned by each group's weight. Where plain alternating projections creep
/// along weakly linked groups (a chain of practices sharing staff needs a sweep per
/// link), conjugate gradients need about the square root as many steps. The residual
/// `x − Dα` is recomputed from the effects, and its group means checked, before it is
/// returned; the solve restarts from there when rounding has left them short.
fn demean_within(x: &[f64], w: &[f64], groups: &[Grouping], max_steps: usize) -> (Vec<f64>, bool) {
    if groups.len() < 2 {
        let mut out = x.to_vec();
        if let [group] = groups {
            subtract_group_means(&mut out, group, &group_means_of(x, group, w));
        }
        return (out, true);
    }
    let effects = Effects::new(groups, w);
    let tolerance = DEMEANING_TOLERANCE * (1.0 + x.iter().fold(0.0_f64, |m, v| m.max(v.abs())));
    let mut alpha = vec![0.0; effects.len()];
    let mut residual = x.to_vec();
    let mut steps = 0;
    let mut previous = f64::INFINITY;
    loop {
        let gradient = effects.weighted_sums(&residual);
        let largest = effects.largest_mean(&gradient);
        if largest < tolerance {
            return (residual, true);
        }
        // A restart that does not halve the largest mean residual has met rounding.
        if steps >= max_steps || largest > previous / 2.0 {
            return (residual, false);
        }
        previous = largest;
        steps += effects.conjugate_gradients(&mut alpha, gradient, tolerance, max_steps - steps);
        let fitted = effects.on_rows(&alpha);
        residual = x.iter().zip(&fitted).map(|(a, b)| a - b).collect();
    }
}

/// A conjugate-gradient direction whose curvature `d'D'WDd` is below this fraction of
/// its preconditioned size `d'diag(D'W1)d` lies in the null space of `D'WD` (the
/// preconditioned operator's other eigenvalues are far above it: about 6e-5 on a chain
/// of 400 rows linked one by one).
const NULL_CURVATURE: f64 = 1e-11;

/// The absorbed groups' effects laid end to end, one grouping after another.
struct Effects<'a> {
    groups: &'a [Grouping],
    w: &'a [f64],
    /// Where each grouping's effects start.
    starts: Vec<usize>,
    /// Each group's total weight: the diagonal of `D'WD`, and the preconditioner.
    weights: Vec<f64>,
}

impl<'a> Effects<'a> {
    fn new(groups: &'a [Grouping], w: &'a [f64]) -> Self {
        let starts = groups
            .iter()
            .scan(0, |at, g| {
                let start = *at;
                *at += g.levels;
                Some(start)
            })
            .collect();
        let mut effects = Effects {
            groups,
            w,
            starts,
            weights: Vec::new(),
        };
        effects.weights = effects.weighted_sums(&vec![1.0; w.len()]);
        effects
    }

    fn len(&self) -> usize {
        self.groups.iter().map(|g| g.levels).sum()
    }

    /// `D'W v`: each group's weighted sum of `v`.
    fn weighted_sums(&self, v: &[f64]) -> Vec<f64> {
        let mut sums = Vec::with_capacity(self.len());
        for group in self.groups {
            let partials = over_chunks(v.len(), |range| {
                let mut part = vec![0.0; group.levels];
                for i in range {
                    part[group.ids[i] as usize] += self.w[i] * v[i];
                }
                part
            });
            sums.extend(add_partials(partials, group.levels));
        }
        sums
    }

    /// `Dα`: each row's sum of its groups' effects.
    fn on_rows(&self, alpha: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.w.len()];
        fill_chunks(&mut out, |range, part| {
            for (g, group) in self.groups.iter().enumerate() {
                let effects = &alpha[self.starts[g]..];
                for (o, &id) in part.iter_mut().zip(&group.ids[range.clone()]) {
                    *o += effects[id as usize];
                }
            }
        });
        out
    }

    /// Each group's weighted mean from its weighted sum (0 for a group of no weight).
    fn means(&self, sums: &[f64]) -> Vec<f64> {
        sums.iter()
            .zip(&self.weights)
            .map(|(s, w)| if *w > 0.0 { s / w } else { 0.0 })
            .collect()
    }

    fn largest_mean(&self, sums: &[f64]) -> f64 {
        self.means(sums).iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    /// Preconditioned conjugate gradients on `D'WDα = D'Wx` from `alpha`, whose
    /// gradient (`D'W` of the residual) is given, until the groups' mean residuals
    /// fall well below `tolerance` or `max_steps` are taken; the steps taken.
    fn conjugate_gradients(
        &self,
        alpha: &mut [f64],
        mut gradient: Vec<f64>,
        tolerance: f64,
        max_steps: usize,
    ) -> usize {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut preconditioned = self.means(&gradient);
        let mut direction = preconditioned.clone();
        let mut along = dot(&gradient, &preconditioned);
        for step in 1..=max_steps {
            if crate::cancel::requested() {
                return max_steps; // unfinished; the fit stops at its next pass
            }
            let image = self.weighted_sums(&self.on_rows(&direction));
            let curvature = dot(&direction, &image);
            // Past the attainable accuracy the direction is rounding noise, mostly in
            // the null space of D'WD (the constant shared by crossed groupings, or a
            // grouping nested in another): a step along it would be huge and throw
            // alpha far out along that null space.
            let size: f64 = direction
                .iter()
                .zip(&self.weights)
                .map(|(d, w)| d * d * w)
                .sum();
            if curvature.is_nan() || curvature <= NULL_CURVATURE * size {
                return step;
            }
            let length = along / curvature;
            for k in 0..alpha.len() {
                alpha[k] += length * direction[k];
                gradient[k] -= length * image[k];
            }
            preconditioned = self.means(&gradient);
            if preconditioned.iter().all(|m| m.abs() < tolerance / 10.0) {
                return step;
            }
            let next = dot(&gradient, &preconditioned);
            let keep = next / along;
            along = next;
            for k in 0..direction.len() {
                direction[k] = preconditioned[k] + keep * direction[k];
            }
        }
        max_steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouping(ids: Vec<u32>) -> Grouping {
        let levels = ids.iter().max().map_or(0, |m| *m as usize + 1);
        Grouping {
            ids: Arc::new(ids),
            levels,
        }
    }

    /// Two groupings linked in a chain (row k in groups k/2 and (k+1)/2): plain
    /// alternating projections mix along the chain one link a sweep, the slowest case.
    fn chain(rows: usize) -> (Vec<f64>, Vec<f64>, Vec<Grouping>) {
        let a = grouping((0..rows as u32).map(|k| k / 2).collect());
        let b = grouping((0..rows as u32).map(|k| k.div_ceil(2)).collect());
        let x = (0..rows)
            .map(|k| ((k * 7919) % 101) as f64 - 50.0 + k as f64)
            .collect();
        let w = (0..rows).map(|k| 1.0 + (k % 3) as f64).collect();
        (x, w, vec![a, b])
    }

    fn largest_group_mean(values: &[f64], w: &[f64], groups: &[Grouping]) -> f64 {
        groups
            .iter()
            .flat_map(|g| group_means_of(values, g, w))
            .fold(0.0, |m, v| m.max(v.abs()))
    }

    #[test]
    fn accelerated_projections_reach_the_exact_residual_on_a_chain() {
        let (x, w, groups) = chain(400);
        // Plain alternating projections need over 100,000 sweeps here.
        let (values, converged) = demean_within(&x, &w, &groups, 1_000);
        assert!(converged);
        // The residual is orthogonal to every group (its weighted means vanish) ...
        assert!(largest_group_mean(&values, &w, &groups) < 1e-9);
        // ... and x less it is a sum of group effects (so demeaning it leaves nothing).
        let effects: Vec<f64> = x.iter().zip(&values).map(|(a, b)| a - b).collect();
        let refit = demean_checked(&effects, &w, &groups).0;
        assert!(
            refit.iter().all(|v| v.abs() < 1e-8),
            "x − residual is not in the span"
        );
    }

    #[test]
    fn unfinished_projections_say_so() {
        let (x, w, groups) = chain(400);
        let (values, converged) = demean_within(&x, &w, &groups, 4);
        assert!(!converged);
        assert!(largest_group_mean(&values, &w, &groups) > 1e-6);
        // One grouping is exact in one sweep, whatever the limit.
        assert!(demean_within(&x, &w, &groups[..1], 1).1);
    }
}
