//! One module per endpoint family.

pub(crate) mod event;
pub(crate) mod script;
