//! One module per endpoint family.

pub(crate) mod local;
