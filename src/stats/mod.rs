//! Worker counters shared with the master ([`region`]).

pub mod region;
