//! `mio-chat serve`: not written yet.

use super::{Failure, Outcome};

/// Runs `mio-chat serve` with its arguments (after the subcommand).
pub fn main(_args: &[String]) -> Outcome {
    Err(Failure::Runtime("serve is not implemented yet".to_string()))
}
