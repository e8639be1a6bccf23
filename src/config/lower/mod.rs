//! Tree -> plan.
