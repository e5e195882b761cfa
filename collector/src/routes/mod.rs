//! One module per endpoint family.

pub mod event;
pub(crate) mod script;
