//! The evaluation designs' estimators, each on slices with a plain result: the engine's
//! verbs of the same names turn tables into these inputs and the results into reports.

pub mod aipw;
pub mod balance;
pub mod compare;
pub mod did;
pub mod effect_size;
pub mod inequality;
pub mod ipw;
pub mod its;
pub mod iv;
pub mod matching;
pub mod meta;
pub mod power;
pub mod rate;
pub mod rdd;
pub mod rdd_density;
pub mod synth;
