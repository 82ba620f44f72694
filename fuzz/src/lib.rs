//! The checks behind rsgi's fuzz targets, one module per target, each a
//! plain `check(data: &[u8])`: `fuzz_targets/<name>.rs` hands libFuzzer's
//! input to it, and `tests/it/fuzz_corpus.rs` replays every committed corpus
//! file through the same function on stable Rust, without libFuzzer.
//!
//! A check panics when an invariant breaks. Input the code under test
//! refuses is not a failure: refusing is its job; what must hold is that
//! refusal is an error value, never a panic, and that what is accepted
//! obeys the rules each module states.

pub mod chunked;
pub mod config;
pub mod http_head;
pub mod logformat;
pub mod response;
pub mod target_path;
pub mod uwsgi_packet;
