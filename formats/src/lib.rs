//! `vmon-format`: the `.vmt` capture format. See `SPEC.md`.

pub mod model;

pub use model::*;
