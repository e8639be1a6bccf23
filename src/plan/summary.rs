//! The short human summary `edge check` prints.

use super::Plan;

/// Lines describing what the plan will run.
pub fn summary(_plan: &Plan) -> String {
    String::new()
}
