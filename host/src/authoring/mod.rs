//! Tools for plugin authors, behind `portal plugin ...`:
//!
//! - [`run`]: `portal plugin run`, one call in the real runtime, traced and measured;
//! - [`request`]: its request file;
//! - [`report`]: what it prints (text or JSON);
//! - [`new`]: `portal plugin new`, a plugin crate that builds, checks and tests at once.

pub mod new;
pub mod report;
pub mod request;
pub mod run;
