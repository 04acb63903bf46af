//! The model matrix column by column, and groupings of rows: what every estimator of
//! this crate reads.

use std::sync::Arc;

/// Each row's group (of an absorbed effect or of clusters), numbered `0..levels`.
#[derive(Clone, Debug)]
pub struct Grouping {
    /// Shared when one column both is absorbed and clusters the rows.
    pub ids: GroupIds,
    pub levels: usize,
}

/// Each row's group. A `Vec` behind the `Arc` (not a slice) so that ids found in a `Vec`
/// are shared without being copied.
pub type GroupIds = Arc<Vec<u32>>;

/// A factor's level code in each row, shared by its dummies.
pub type Codes = Arc<LevelCodes>;

/// Level codes in the fewest bytes the levels allow: a byte for up to 255 levels, two
/// for up to 65,535. At 41 million rows each byte is 39 MiB a factor, and every pass of
/// a fit reads them. The type's largest value marks a value outside the levels (in new
/// data), which no dummy takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LevelCodes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

/// Runs `$body` with `$codes` (a [`LevelCodes`]) bound as `$slice` to its vector of codes
/// of whichever width, so that a loop over them is compiled once for each width. In the
/// body, [`Code::code`] reads a code.
#[macro_export]
macro_rules! with_codes {
    ($codes:expr, $slice:ident => $body:expr) => {
        match $codes {
            $crate::matrix::LevelCodes::U8($slice) => $body,
            $crate::matrix::LevelCodes::U16($slice) => $body,
            $crate::matrix::LevelCodes::U32($slice) => $body,
        }
    };
}

/// A level code of any width.
pub trait Code: Copy {
    fn code(self) -> u32;
}

impl Code for u8 {
    #[inline]
    fn code(self) -> u32 {
        u32::from(self)
    }
}

impl Code for u16 {
    #[inline]
    fn code(self) -> u32 {
        u32::from(self)
    }
}

impl Code for u32 {
    #[inline]
    fn code(self) -> u32 {
        self
    }
}

impl LevelCodes {
    /// `codes` of `levels` levels (`u32::MAX` outside them) in the fewest bytes.
    pub fn new(codes: Vec<u32>, levels: usize) -> Self {
        fn narrow<T: TryFrom<u32> + Copy>(codes: &[u32], outside: T) -> Vec<T> {
            codes
                .iter()
                .map(|&c| T::try_from(c).unwrap_or(outside))
                .collect()
        }
        if levels <= usize::from(u8::MAX) {
            LevelCodes::U8(narrow(&codes, u8::MAX))
        } else if levels <= usize::from(u16::MAX) {
            LevelCodes::U16(narrow(&codes, u16::MAX))
        } else {
            LevelCodes::U32(codes)
        }
    }

    pub fn len(&self) -> usize {
        with_codes!(self, codes => codes.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s code; `u32::MAX` for a value outside the levels.
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        match self {
            LevelCodes::U8(c) if c[i] == u8::MAX => u32::MAX,
            LevelCodes::U16(c) if c[i] == u16::MAX => u32::MAX,
            _ => with_codes!(self, codes => codes[i].code()),
        }
    }

    /// The codes of the rows where `keep` is true.
    pub fn kept(&self, keep: &[bool]) -> Self {
        match self {
            LevelCodes::U8(c) => LevelCodes::U8(kept_rows(c, keep)),
            LevelCodes::U16(c) => LevelCodes::U16(kept_rows(c, keep)),
            LevelCodes::U32(c) => LevelCodes::U32(kept_rows(c, keep)),
        }
    }
}

/// One column of the model matrix. A factor's dummies are kept as the factor's level
/// codes, shared among its columns: on millions of rows a dummy stored as numbers
/// costs eight bytes a row and is read in full by every pass of a fit.
#[derive(Clone, Debug)]
pub enum MatrixColumn {
    /// Shared, so that a fit that adds columns (dummies of small absorbed groupings)
    /// takes the design's columns without copying them.
    Values(Arc<Vec<f64>>),
    /// 1 where the row's level code is `level`, else 0; `levels` codes in all
    /// (`u32::MAX` marks a value outside them, which no dummy takes).
    Indicator {
        codes: Codes,
        level: u32,
        levels: u32,
    },
    /// The same number in every row (the intercept).
    Constant { value: f64, rows: usize },
}

impl MatrixColumn {
    pub fn values(x: Vec<f64>) -> Self {
        MatrixColumn::Values(Arc::new(x))
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            MatrixColumn::Values(x) => x.len(),
            MatrixColumn::Indicator { codes, .. } => codes.len(),
            MatrixColumn::Constant { rows, .. } => *rows,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn get(&self, row: usize) -> f64 {
        match self {
            MatrixColumn::Values(x) => x[row],
            MatrixColumn::Indicator { codes, level, .. } => {
                f64::from(u8::from(codes.get(row) == *level))
            }
            MatrixColumn::Constant { value, .. } => *value,
        }
    }

    /// Writes rows `start..start + out.len()` into `out`.
    pub fn fill(&self, start: usize, out: &mut [f64]) {
        let end = start + out.len();
        match self {
            MatrixColumn::Values(x) => out.copy_from_slice(&x[start..end]),
            MatrixColumn::Indicator { codes, level, .. } => {
                // A mask rather than a branch: codes come in no order, and a branch per
                // row mispredicts half the time.
                let one = 1.0_f64.to_bits();
                with_codes!(&**codes, codes => {
                    for (o, &c) in out.iter_mut().zip(&codes[start..end]) {
                        *o = f64::from_bits(u64::from(c.code() == *level).wrapping_neg() & one);
                    }
                })
            }
            MatrixColumn::Constant { value, .. } => out.fill(*value),
        }
    }

    /// Whether every value is 0 or 1.
    pub fn is_dummy(&self) -> bool {
        match self {
            MatrixColumn::Values(x) => x.iter().all(|&v| v == 0.0 || v == 1.0),
            MatrixColumn::Indicator { .. } => true,
            MatrixColumn::Constant { value, .. } => *value == 0.0 || *value == 1.0,
        }
    }
}

/// The values of the rows where `keep` is true.
pub fn kept_rows<T: Clone>(values: &[T], keep: &[bool]) -> Vec<T> {
    values
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(v, _)| v.clone())
        .collect()
}

/// `x · beta` for rows `start..start + out.len()`, column by column; a factor's
/// dummies are added by one look-up per row rather than one pass per level.
pub fn linear_predictor(columns: &[&MatrixColumn], beta: &[f64], start: usize, out: &mut [f64]) {
    out.fill(0.0);
    let end = start + out.len();
    let mut factors: Vec<(&Codes, Vec<f64>)> = Vec::new();
    for (column, &b) in columns.iter().zip(beta) {
        match column {
            MatrixColumn::Values(x) => {
                for (o, v) in out.iter_mut().zip(&x[start..end]) {
                    *o += b * v;
                }
            }
            MatrixColumn::Constant { value, .. } => {
                for o in out.iter_mut() {
                    *o += b * value;
                }
            }
            MatrixColumn::Indicator {
                codes,
                level,
                levels,
            } => {
                let position = match factors.iter().position(|(c, _)| Arc::ptr_eq(c, codes)) {
                    Some(position) => position,
                    None => {
                        factors.push((codes, vec![0.0; *levels as usize]));
                        factors.len() - 1
                    }
                };
                factors[position].1[*level as usize] += b;
            }
        }
    }
    for (codes, by_level) in factors {
        with_codes!(&**codes, codes => {
            for (o, &c) in out.iter_mut().zip(&codes[start..end]) {
                if let Some(v) = by_level.get(c as usize) {
                    *o += v;
                }
            }
        })
    }
}
