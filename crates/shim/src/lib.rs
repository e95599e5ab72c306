//! (placeholder: being written)
pub mod protocol;
