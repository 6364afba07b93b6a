pub mod bundle;
pub mod plan;
