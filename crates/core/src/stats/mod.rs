//! The shared memfd region of per-worker counters: workers write their
//! slot, the master reads every slot to build the stats document.
pub mod region;
