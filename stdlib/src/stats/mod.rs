//! Estimation: generalised linear models by IRLS with absorbed fixed effects
//! ([`glm`]), and their variance estimators ([`vcov`]).

pub mod glm;
pub mod linalg;
pub mod vcov;
