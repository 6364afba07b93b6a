pub mod bundle;
pub mod plan;
pub mod run;
