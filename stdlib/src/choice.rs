//! Enums whose values are words the user writes (`family = logit`): the vocabulary of
//! the verbs' options, declared where the values live (a model's family, a design's
//! display) and read by the option checker. Imports nothing of the engine.

/// An enum whose values are the words of an option, in the same order.
pub trait Choice: Copy + 'static {
    const WORDS: &'static [&'static str];
    const VALUES: &'static [Self];
    /// The word the user writes for this value.
    fn word(self) -> &'static str;
}

/// Declares an enum as the words of an option, `choice! { pub enum Show { Summary =
/// "summary", GroupTime = "group_time" } }`, or makes an enum declared elsewhere one,
/// `choice! { impl Estimator { Classical = "classical", ... } }`.
#[macro_export]
macro_rules! choice {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }
        $crate::choice! { impl $name { $($variant = $word),+ } }
    };
    (impl $name:ty { $($variant:ident = $word:literal),+ $(,)? }) => {
        impl $crate::choice::Choice for $name {
            const WORDS: &'static [&'static str] = &[$($word),+];
            const VALUES: &'static [Self] = &[$(<$name>::$variant),+];
            fn word(self) -> &'static str {
                match self {
                    $(<$name>::$variant => $word),+
                }
            }
        }
    };
}
