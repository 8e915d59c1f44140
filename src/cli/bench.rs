//! `mio-chat bench`: not written yet.

use super::{Failure, Outcome};

/// Runs `mio-chat bench` with its arguments (after the subcommand).
pub fn main(_args: &[String]) -> Outcome {
    Err(Failure::Runtime("bench is not implemented yet".to_string()))
}
