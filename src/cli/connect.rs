//! `mio-chat connect`: not written yet.

use super::{Failure, Outcome};

/// Runs `mio-chat connect` with its arguments (after the subcommand).
pub fn main(_args: &[String]) -> Outcome {
    Err(Failure::Runtime("connect is not implemented yet".to_string()))
}
