//! The model's columns read as polars streams its batches: in each batch, rows with a
//! value missing are counted and dropped, and what stays is kept as numbers or as level
//! codes. The table itself is never held whole: at 41 million rows it would be two
//! gigabytes beside the design made from it.

use polars::prelude::*;
use spel_grammar::{Diagnostic, Span};

/// What a column the model reads is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The outcome: numbers or true/false.
    Outcome,
    /// A variable of the formula: numbers, unless it is a factor or its values are not.
    Variable { factor: bool },
    /// Numbers: offsets, frequencies, trials.
    Numbers,
    /// Weights: a missing one is an error, not a row to drop quietly.
    Weights,
    /// Levels: absorbed effects and clusters.
    Levels,
}

impl Role {
    /// Whether the column's values become levels, so that texts are best read as
    /// categoricals.
    pub fn levels(self) -> bool {
        matches!(self, Role::Variable { .. } | Role::Levels)
    }
}

/// A column's values for the rows kept so far.
pub enum Kept {
    Numbers(Vec<f64>),
    Levels(Levels),
}

/// A column's level codes, and the value each code stands for, in order of first
/// appearance over the batches.
#[derive(Default)]
pub struct Levels {
    pub codes: Vec<u32>,
    pub labels: Vec<String>,
    /// The values are numbers (their levels are ordered as numbers).
    pub numeric: bool,
    by_label: PlHashMap<String, u32>,
    /// A categorical column's code by category number (`u32::MAX`: not seen yet); the
    /// batches share one set of categories, so no text is made after a level's first row.
    by_category: Vec<u32>,
}

/// The model's columns, batch by batch ([`crate::work::Work::fold`]).
pub struct Read {
    /// Each column's label, as messages name it, and role, in the order of the batches'
    /// columns.
    columns: Vec<(String, Role)>,
    kept: Vec<Option<Kept>>,
    /// Rows dropped for a missing value, by column.
    missing: Vec<usize>,
    /// Rows read (they meet the condition).
    pub rows_read: usize,
    /// The positions of the rows kept among those read, once a row has been dropped.
    pub rows: Option<Vec<usize>>,
    /// Rows the table has: room reserved for every column at once, so that none grows
    /// by copying (pages never written take no memory).
    capacity: usize,
    outcome_span: Span,
    span: Span,
}

impl Read {
    pub fn new(
        columns: Vec<(String, Role)>,
        capacity: usize,
        outcome_span: Span,
        span: Span,
    ) -> Self {
        let width = columns.len();
        Read {
            columns,
            kept: (0..width).map(|_| None).collect(),
            missing: vec![0; width],
            rows_read: 0,
            rows: None,
            capacity,
            outcome_span,
            span,
        }
    }

    /// Keeps a batch's complete rows.
    pub fn add(&mut self, batch: DataFrame) -> Result<(), Diagnostic> {
        let height = batch.height();
        let (batch, present) = self.drop_missing(batch)?;
        match present {
            Some(present) => {
                let start = self.rows_read;
                let rows = self.rows.get_or_insert_with(|| (0..start).collect());
                rows.extend(
                    present
                        .iter()
                        .enumerate()
                        .filter(|(_, kept)| kept.unwrap_or(false))
                        .map(|(r, _)| start + r),
                );
            }
            None => {
                if let Some(rows) = &mut self.rows {
                    rows.extend(self.rows_read..self.rows_read + height);
                }
            }
        }
        self.rows_read += height;
        // Column after column on this thread: polars decodes the next batches on the
        // others meanwhile (coding the columns in parallel took a quarter longer).
        let (capacity, outcome_span, span) = (self.capacity, self.outcome_span, self.span);
        self.kept
            .iter_mut()
            .zip(self.columns.iter())
            .zip(batch.into_columns())
            .try_for_each(|((kept, (label, role)), column)| {
                keep(kept, column, *role, label, capacity, (outcome_span, span))
            })
    }

    /// Each column's rows dropped for a missing value, counted; `None` when none were.
    fn drop_missing(
        &mut self,
        batch: DataFrame,
    ) -> Result<(DataFrame, Option<BooleanChunked>), Diagnostic> {
        let span = self.span;
        let mut keep: Option<BooleanChunked> = None;
        for (k, column) in batch.columns().iter().enumerate() {
            let series = column.as_materialized_series();
            let mut absent = series.is_null();
            if series.dtype().is_float()
                && let Ok(nan) = series.is_nan()
            {
                absent = &absent
                    | &nan
                        .fill_null_with_values(false)
                        .map_err(|e| polars_at(e, span))?;
            }
            let count = absent.sum().unwrap_or(0) as usize;
            if count == 0 {
                continue;
            }
            self.missing[k] += count;
            let present = !&absent;
            keep = Some(match keep {
                Some(k) => &k & &present,
                None => present,
            });
        }
        match keep {
            Some(k) => {
                let batch = batch.filter(&k).map_err(|e| polars_at(e, span))?;
                Ok((batch, Some(k)))
            }
            None => Ok((batch, None)),
        }
    }

    /// Rows dropped for a missing value, by the column's label, of the columns with a
    /// role in `roles`.
    pub fn missing(&self, roles: impl Fn(Role) -> bool) -> Vec<(String, usize)> {
        self.columns
            .iter()
            .zip(&self.missing)
            .filter(|((_, role), count)| roles(*role) && **count > 0)
            .map(|((label, _), count)| (label.clone(), *count))
            .collect()
    }

    /// Column `k`'s values (numbers with no rows when no batch came).
    pub fn take(&mut self, k: usize) -> Kept {
        self.kept[k].take().unwrap_or(Kept::Numbers(Vec::new()))
    }

    /// Column `k`'s values as numbers.
    pub fn take_numbers(&mut self, k: usize) -> Vec<f64> {
        match self.take(k) {
            Kept::Numbers(x) => x,
            Kept::Levels(levels) => levels.codes.iter().map(|&c| f64::from(c)).collect(),
        }
    }
}

/// Appends a batch's column to what is kept of it: its role and values say whether as
/// numbers or as levels.
fn keep(
    kept: &mut Option<Kept>,
    column: Column,
    role: Role,
    label: &str,
    capacity: usize,
    (outcome_span, span): (Span, Span),
) -> Result<(), Diagnostic> {
    let dtype = column.dtype().clone();
    if role == Role::Outcome && !(dtype.is_primitive_numeric() || dtype == DataType::Boolean) {
        return Err(outcome_not_numbers(label, &dtype, outcome_span));
    }
    let kept = kept.get_or_insert_with(|| {
        let numbers = match role {
            Role::Variable { factor } => !factor && dtype.is_primitive_numeric(),
            Role::Levels => false,
            Role::Outcome | Role::Numbers | Role::Weights => true,
        };
        if numbers {
            Kept::Numbers(Vec::with_capacity(capacity))
        } else {
            Kept::Levels(Levels {
                codes: Vec::with_capacity(capacity),
                numeric: dtype.is_primitive_numeric(),
                ..Levels::default()
            })
        }
    });
    match kept {
        Kept::Numbers(x) => append_numbers(x, column, span),
        Kept::Levels(levels) => levels.add(column.as_materialized_series(), span),
    }
}

/// Only numbers and true/false are an outcome: a cast would make text missing, or read
/// text that looks like numbers as numbers without a word.
fn outcome_not_numbers(label: &str, dtype: &DataType, span: Span) -> Diagnostic {
    Diagnostic::new(
        "spel::model::outcome",
        format!(
            "the outcome `{label}` is a {} column, but a model needs numbers or true/false",
            crate::value::dtype_name(dtype)
        ),
    )
    .at(span)
    .with_help(format!(
        "make a 0/1 column first, as `derive good = if_else({label} == \"Yes\", 1, 0)`"
    ))
    .with_note("text that holds numbers is not read as numbers: check the file for a value that is not one")
}

impl Levels {
    fn add(&mut self, series: &Series, span: Span) -> Result<(), Diagnostic> {
        if self.add_categories(series) {
            return Ok(());
        }
        let (codes, labels) = codes(series, span)?;
        let global: Vec<u32> = labels.into_iter().map(|l| self.code_of(l)).collect();
        self.codes.extend(codes.iter().map(|&c| global[c as usize]));
        Ok(())
    }

    /// The code of the level `label`, a new one if it is not yet known.
    fn code_of(&mut self, label: String) -> u32 {
        if let Some(&code) = self.by_label.get(&label) {
            return code;
        }
        let code = self.labels.len() as u32;
        self.by_label.insert(label.clone(), code);
        self.labels.push(label);
        code
    }

    /// A categorical column's codes by category number, with no hashing; false for
    /// other columns and columns with missing values.
    fn add_categories(&mut self, series: &Series) -> bool {
        let DataType::Categorical(_, mapping) = series.dtype() else {
            return false;
        };
        let Ok(values) = series.cat32() else {
            return false;
        };
        if values.null_count() > 0 {
            return false;
        }
        for array in values.physical().downcast_iter() {
            for &category in array.values().iter() {
                let at = category as usize;
                if at >= self.by_category.len() {
                    self.by_category
                        .resize(at.max(mapping.num_cats_upper_bound()) + 1, u32::MAX);
                }
                if self.by_category[at] == u32::MAX {
                    let label = mapping.cat_to_str(category).unwrap_or_default().to_string();
                    self.by_category[at] = self.code_of(label);
                }
                self.codes.push(self.by_category[at]);
            }
        }
        true
    }
}

/// Appends a column's values as numbers (missing ones NaN).
fn append_numbers(out: &mut Vec<f64>, column: Column, span: Span) -> Result<(), Diagnostic> {
    let series = column.take_materialized_series();
    let series = if series.dtype() == &DataType::Float64 {
        series
    } else {
        series
            .cast(&DataType::Float64)
            .map_err(|e| polars_at(e, span))?
    };
    let values = series.f64().map_err(|e| polars_at(e, span))?;
    if values.null_count() > 0 {
        out.extend(values.iter().map(|v| v.unwrap_or(f64::NAN)));
        return Ok(());
    }
    for chunk in values.downcast_iter() {
        out.extend_from_slice(chunk.values().as_slice());
    }
    Ok(())
}

fn polars_at(e: PolarsError, span: Span) -> Diagnostic {
    crate::errors::polars_error(e).at(span)
}

/// Each row's value as a code, and the value each code stands for, in order of first
/// appearance: numbers as R prints them (`2`, not `2.0`), true/false as `TRUE`/`FALSE`.
/// One hash look-up per row (none when a row repeats the row before), no text made.
fn codes(series: &Series, span: Span) -> Result<(Vec<u32>, Vec<String>), Diagnostic> {
    fn encode<K: std::hash::Hash + Eq + Copy>(
        values: impl Iterator<Item = K>,
        rows: usize,
    ) -> (Vec<u32>, Vec<K>) {
        let mut index: PlHashMap<K, u32> = PlHashMap::default();
        let mut distinct = Vec::new();
        let mut codes = Vec::with_capacity(rows);
        let mut last: Option<(K, u32)> = None;
        for value in values {
            let code = match last {
                Some((previous, code)) if previous == value => code,
                _ => {
                    let code = *index.entry(value).or_insert_with(|| {
                        distinct.push(value);
                        distinct.len() as u32 - 1
                    });
                    last = Some((value, code));
                    code
                }
            };
            codes.push(code);
        }
        (codes, distinct)
    }
    let rows = series.len();
    if let Some((codes, distinct)) = integer_codes(series) {
        let labels = distinct
            .iter()
            .map(|&v| crate::format::number(v as f64))
            .collect();
        return Ok(merge_equal_labels(codes, labels));
    }
    let (codes, labels): (Vec<u32>, Vec<String>) = if series.dtype().is_primitive_numeric() {
        // -0.0 and 0.0 are one level; so are numbers R prints alike.
        let mut values = Vec::with_capacity(rows);
        append_numbers(&mut values, series.clone().into_column(), span)?;
        let (codes, distinct) = encode(values.iter().map(|v| (v + 0.0).to_bits()), rows);
        let labels: Vec<String> = distinct
            .iter()
            .map(|&bits| crate::format::number(f64::from_bits(bits)))
            .collect();
        merge_equal_labels(codes, labels)
    } else if series.dtype() == &DataType::Boolean {
        let values = series.bool().map_err(|e| polars_at(e, span))?;
        let (codes, distinct) = encode(values.iter().map(|v| v.unwrap_or(false)), rows);
        let labels = distinct
            .iter()
            .map(|&b| if b { "TRUE" } else { "FALSE" }.to_string())
            .collect();
        (codes, labels)
    } else {
        let cast = series
            .cast(&DataType::String)
            .map_err(|e| polars_at(e, span))?;
        let values = cast.str().map_err(|e| polars_at(e, span))?;
        let short = values
            .downcast_iter()
            .all(|array| array.views().iter().all(|view| view.length <= 12));
        if short && values.null_count() == 0 {
            // A text of up to 12 bytes is held whole in its 16-byte view: hashing the
            // view as a number is several times quicker than hashing the text.
            let (codes, distinct) = encode_views(values, rows);
            let labels = distinct
                .iter()
                .map(|view| {
                    let bytes = view.to_le_bytes();
                    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    String::from_utf8_lossy(&bytes[4..4 + length as usize]).into_owned()
                })
                .collect();
            merge_equal_labels(codes, labels)
        } else {
            let (codes, distinct) = encode(values.iter().map(|v| v.unwrap_or("")), rows);
            (codes, distinct.iter().map(|s| s.to_string()).collect())
        }
    };
    Ok((codes, labels))
}

/// Codes of whole numbers within a span of 65,536 (years, quintiles, small counts) by
/// their offset from the least, with no hashing; in order of first appearance as
/// [`codes`] gives them. `None` for other columns or columns with missing values.
fn integer_codes(series: &Series) -> Option<(Vec<u32>, Vec<i128>)> {
    fn by_offset<T>(values: &ChunkedArray<T>) -> Option<(Vec<u32>, Vec<i128>)>
    where
        T: PolarsIntegerType,
        T::Native: Into<i128>,
    {
        if values.null_count() > 0 {
            return None;
        }
        let (mut least, mut most) = (i128::MAX, i128::MIN);
        for array in values.downcast_iter() {
            for &v in array.values().iter() {
                let v: i128 = v.into();
                least = least.min(v);
                most = most.max(v);
            }
        }
        let span = usize::try_from(most.checked_sub(least)?).ok()?;
        if span >= 1 << 16 {
            return None;
        }
        let mut code_at = vec![u32::MAX; span + 1];
        let mut distinct = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        for array in values.downcast_iter() {
            codes.extend(array.values().iter().map(|&v| {
                let value: i128 = v.into();
                let slot = &mut code_at[(value - least) as usize];
                if *slot == u32::MAX {
                    *slot = distinct.len() as u32;
                    distinct.push(value);
                }
                *slot
            }));
        }
        Some((codes, distinct))
    }
    match series.dtype() {
        DataType::Int8 => by_offset(series.i8().ok()?),
        DataType::Int16 => by_offset(series.i16().ok()?),
        DataType::Int32 => by_offset(series.i32().ok()?),
        DataType::Int64 => by_offset(series.i64().ok()?),
        DataType::UInt8 => by_offset(series.u8().ok()?),
        DataType::UInt16 => by_offset(series.u16().ok()?),
        DataType::UInt32 => by_offset(series.u32().ok()?),
        DataType::UInt64 => by_offset(series.u64().ok()?),
        _ => None,
    }
}

/// [`codes`] of short texts by their 16-byte views, through a small table indexed by
/// a multiplicative hash of the view: with a few hundred distinct texts nearly every
/// row is found there, and only the rest go to the hash map.
fn encode_views(values: &StringChunked, rows: usize) -> (Vec<u32>, Vec<u128>) {
    // No view of a text of at most 12 bytes has all bits set (its length is ≤ 12).
    const EMPTY: u128 = u128::MAX;
    const SLOTS: u32 = 10;
    let slot = |view: u128| {
        let mixed = (view as u64 ^ (view >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - SLOTS)) as usize
    };
    let mut recent = vec![(EMPTY, 0u32); 1 << SLOTS];
    let mut index: PlHashMap<u128, u32> = PlHashMap::default();
    let mut distinct = Vec::new();
    let mut codes = Vec::with_capacity(rows);
    for array in values.downcast_iter() {
        codes.extend(array.views().iter().map(|view| {
            let view = view.as_u128();
            let entry = &mut recent[slot(view)];
            if entry.0 == view {
                return entry.1;
            }
            let code = *index.entry(view).or_insert_with(|| {
                distinct.push(view);
                distinct.len() as u32 - 1
            });
            *entry = (view, code);
            code
        }));
    }
    (codes, distinct)
}

/// Codes whose labels read the same become one.
fn merge_equal_labels(codes: Vec<u32>, labels: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let mut unique: Vec<String> = Vec::new();
    let mut index: PlHashMap<String, u32> = PlHashMap::default();
    let mut remap = Vec::with_capacity(labels.len());
    for label in labels {
        let next = unique.len() as u32;
        let code = *index.entry(label.clone()).or_insert(next);
        if code == next {
            unique.push(label);
        }
        remap.push(code);
    }
    if remap.iter().enumerate().all(|(k, &r)| k as u32 == r) {
        return (codes, unique);
    }
    (
        codes.into_iter().map(|c| remap[c as usize]).collect(),
        unique,
    )
}
