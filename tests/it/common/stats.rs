//! Reading a stats server (`--stats`, `--emperor-stats`) as uwsgitop does.

use std::io::Read;

use serde_json::Value;

use super::http::{Endpoint, READ_TIMEOUT};
use super::wait::{PATIENCE, wait_until};

/// The JSON document a stats server answers a bare connection with (it
/// writes the document and closes).
pub fn stats_from(to: impl Into<Endpoint>) -> Value {
    let mut s = to.into().connect();
    s.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let mut data = Vec::new();
    s.read_to_end(&mut data).expect("read the document");
    serde_json::from_slice(&data)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&data)))
}

/// The sum of a worker counter over all workers.
pub fn workers_sum(doc: &Value, key: &str) -> u64 {
    doc["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w[key].as_u64().unwrap_or_else(|| panic!("{key}: {w}")))
        .sum()
}

/// The document once the workers have counted `requests` requests. A
/// worker counts a request once its response is written, so a client
/// holding the answer may read the stats a moment before they move.
pub fn stats_after(to: impl Into<Endpoint>, requests: u64) -> Value {
    let to = to.into();
    let mut doc = Value::Null;
    wait_until(&format!("{requests} requests counted"), PATIENCE, || {
        doc = stats_from(&to);
        workers_sum(&doc, "requests") >= requests
    });
    doc
}
