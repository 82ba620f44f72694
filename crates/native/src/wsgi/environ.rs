//! Building the PEP 3333 environ from a parsed head. This runs once per
//! request with the GIL held, so every key and constant value is a Python
//! object made once per worker ([`EnvironCache`]) and reused.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
pub use rsgi_core::net::ConnInfo;

use rsgi_core::protocol::{HeadKind, RequestHead, Span};

/// Python objects every request uses, made once per worker.
pub struct EnvironCache {
    k: Keys,
    https: Py<PyString>,
    http10: Py<PyString>,
    http11: Py<PyString>,
    methods: Vec<(&'static str, Py<PyString>)>,
    /// (lower-case header name, its HTTP_ key)
    headers: Vec<(&'static str, Py<PyString>)>,
    /// The variables nginx's uwsgi_params (and common headers) send, as
    /// interned keys: a uwsgi request then makes no string, and hashes
    /// none, for the names it carries.
    uwsgi_names: Vec<(&'static str, Py<PyString>)>,
    empty: Py<PyString>,
    /// The wsgi.* keys with their per-worker values (wsgi.input None):
    /// copying a dict (one memcpy of its hash table) and overwriting costs
    /// far less than inserting each key into a new dict that resizes on
    /// the way.
    wsgi_template: Py<PyDict>,
    /// The same plus every key an HTTP request always has (None until set).
    http_template: Py<PyDict>,
    /// The connection's strings repeat on a keep-alive connection (and
    /// behind a single front server), so the last ones are kept.
    remote_addr: Memo<String>,
    remote_port: Memo<u16>,
    server_port: Memo<u16>,
}

/// The Python string made for the last key seen. A Mutex because Python
/// threads share the cache; the GIL already serialises them, so it is
/// never contended.
struct Memo<K>(Mutex<Option<(K, Py<PyString>)>>);

impl<K: PartialEq + Clone> Memo<K> {
    fn new() -> Memo<K> {
        Memo(Mutex::new(None))
    }

    fn get<'py, Q>(
        &self,
        py: Python<'py>,
        key: &Q,
        make: impl FnOnce() -> String,
    ) -> Bound<'py, PyString>
    where
        K: std::borrow::Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = K> + ?Sized,
    {
        let Ok(mut last) = self.0.lock() else {
            return PyString::new(py, &make());
        };
        if let Some((k, s)) = &*last
            && k.borrow() == key
        {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, &make());
        *last = Some((key.to_owned(), s.clone().unbind()));
        s
    }
}

macro_rules! keys {
    ($($field:ident = $name:literal),* $(,)?) => {
        struct Keys { $($field: Py<PyString>),* }
        impl Keys {
            fn new(py: Python<'_>) -> Keys {
                Keys { $($field: PyString::intern(py, $name).unbind()),* }
            }
        }
    };
}

keys! {
    request_method = "REQUEST_METHOD",
    script_name = "SCRIPT_NAME",
    path_info = "PATH_INFO",
    query_string = "QUERY_STRING",
    request_uri = "REQUEST_URI",
    content_type = "CONTENT_TYPE",
    content_length = "CONTENT_LENGTH",
    server_name = "SERVER_NAME",
    server_port = "SERVER_PORT",
    server_protocol = "SERVER_PROTOCOL",
    remote_addr = "REMOTE_ADDR",
    remote_port = "REMOTE_PORT",
    wsgi_version = "wsgi.version",
    wsgi_url_scheme = "wsgi.url_scheme",
    wsgi_input = "wsgi.input",
    wsgi_errors = "wsgi.errors",
    wsgi_multithread = "wsgi.multithread",
    wsgi_multiprocess = "wsgi.multiprocess",
    wsgi_run_once = "wsgi.run_once",
    wsgi_input_terminated = "wsgi.input_terminated",
    wsgi_file_wrapper = "wsgi.file_wrapper",
}

const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The CGI variables nginx's uwsgi_params sends (interning returns the
/// same objects as [`Keys`] for those it shares).
const UWSGI_VARS: [&str; 16] = [
    "REQUEST_METHOD",
    "PATH_INFO",
    "QUERY_STRING",
    "REQUEST_URI",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SCRIPT_NAME",
    "DOCUMENT_ROOT",
    "REQUEST_SCHEME",
    "HTTPS",
    "SERVER_ADDR",
];

/// Headers common enough that their HTTP_ key is worth interning.
const COMMON_HEADERS: [(&str, &str); 21] = [
    ("host", "HTTP_HOST"),
    ("user-agent", "HTTP_USER_AGENT"),
    ("accept", "HTTP_ACCEPT"),
    ("accept-encoding", "HTTP_ACCEPT_ENCODING"),
    ("accept-language", "HTTP_ACCEPT_LANGUAGE"),
    ("connection", "HTTP_CONNECTION"),
    ("cookie", "HTTP_COOKIE"),
    ("referer", "HTTP_REFERER"),
    ("authorization", "HTTP_AUTHORIZATION"),
    ("cache-control", "HTTP_CACHE_CONTROL"),
    ("origin", "HTTP_ORIGIN"),
    ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
    ("x-forwarded-proto", "HTTP_X_FORWARDED_PROTO"),
    ("x-forwarded-host", "HTTP_X_FORWARDED_HOST"),
    ("x-real-ip", "HTTP_X_REAL_IP"),
    ("x-requested-with", "HTTP_X_REQUESTED_WITH"),
    ("if-none-match", "HTTP_IF_NONE_MATCH"),
    ("if-modified-since", "HTTP_IF_MODIFIED_SINCE"),
    (
        "upgrade-insecure-requests",
        "HTTP_UPGRADE_INSECURE_REQUESTS",
    ),
    ("pragma", "HTTP_PRAGMA"),
    ("expect", "HTTP_EXPECT"),
];

impl EnvironCache {
    pub fn new(
        py: Python<'_>,
        multithread: bool,
        multiprocess: bool,
        errors: Py<PyAny>,
        file_wrapper: Py<PyAny>,
    ) -> PyResult<EnvironCache> {
        let intern = |s: &str| PyString::intern(py, s).unbind();
        let version = PyTuple::new(py, [1, 0])?.unbind();
        let k = Keys::new(py);
        let none = py.None();
        let empty = intern("");
        let wsgi = PyDict::new(py);
        wsgi.set_item(&k.wsgi_version, &version)?;
        wsgi.set_item(&k.wsgi_url_scheme, intern("http"))?;
        wsgi.set_item(&k.wsgi_input, &none)?;
        wsgi.set_item(&k.wsgi_errors, &errors)?;
        wsgi.set_item(&k.wsgi_multithread, multithread)?;
        wsgi.set_item(&k.wsgi_multiprocess, multiprocess)?;
        wsgi.set_item(&k.wsgi_run_once, false)?;
        wsgi.set_item(&k.wsgi_input_terminated, true)?;
        wsgi.set_item(&k.wsgi_file_wrapper, &file_wrapper)?;
        let http = wsgi.copy()?;
        for key in [
            &k.request_method,
            &k.path_info,
            &k.query_string,
            &k.request_uri,
            &k.server_protocol,
            &k.remote_addr,
            &k.remote_port,
            &k.server_name,
            &k.server_port,
        ] {
            http.set_item(key, &none)?;
        }
        // Only a mountpoint changes SCRIPT_NAME.
        http.set_item(&k.script_name, &empty)?;
        make_room(&http)?;
        let headers: Vec<(&'static str, Py<PyString>)> = COMMON_HEADERS
            .iter()
            .map(|(h, k)| (*h, intern(k)))
            .collect();
        let uwsgi_names = UWSGI_VARS
            .iter()
            .chain(COMMON_HEADERS.iter().map(|(_, key)| key))
            .map(|name| (*name, intern(name)))
            .collect();
        Ok(EnvironCache {
            k,
            https: intern("https"),
            http10: intern("HTTP/1.0"),
            http11: intern("HTTP/1.1"),
            methods: METHODS.iter().map(|m| (*m, intern(m))).collect(),
            headers,
            uwsgi_names,
            empty,
            wsgi_template: wsgi.unbind(),
            http_template: http.unbind(),
            remote_addr: Memo::new(),
            remote_port: Memo::new(),
            server_port: Memo::new(),
        })
    }
}

/// Grow `template`'s hash table ahead of the request headers every copy
/// gets. CPython sizes a dict's table by the keys inserted so far, and a
/// copy of a dict with no deleted keys to spare is one memcpy of that
/// table: the 19 keys of the HTTP template fill a 32-slot table (21
/// keys), so the third header of every request resized its copy (about 4%
/// of a hello-world request). Inserting keys up to the 22nd makes CPython
/// grow the template to 64 slots (42 keys); deleting them again leaves
/// few enough unused entries that copies stay a memcpy (CPython copies
/// that way while at least 2/3 of the entries are in use).
fn make_room(template: &Bound<'_, PyDict>) -> PyResult<()> {
    const ONE_PAST_32_SLOTS: usize = 22;
    let py = template.py();
    let spare: Vec<_> = (template.len()..ONE_PAST_32_SLOTS)
        .map(|i| PyString::new(py, &format!("rsgi room {i}")))
        .collect();
    for key in &spare {
        template.set_item(key, py.None())?;
    }
    for key in &spare {
        template.del_item(key)?;
    }
    Ok(())
}

/// Text of header bytes as PEP 3333 wants it: bytes mapped 1:1 to code
/// points (latin-1), so no byte the client sent is lost or rejected.
///
/// CPython's own latin-1 decoder does exactly that in one pass; going
/// through a Rust `&str` cost a UTF-8 check here and a UTF-8 decode there
/// (about 60 instructions a string, seven strings a request).
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    let len = pyo3::ffi::Py_ssize_t::try_from(bytes.len()).unwrap_or(pyo3::ffi::Py_ssize_t::MAX);
    // SAFETY: the pointer and length describe `bytes` (a slice is never
    // longer than isize::MAX bytes) and the thread is attached. The result
    // is a new reference to a str (null only when memory runs out, which
    // `from_owned_ptr` turns into a panic, as `PyString::new` does).
    unsafe {
        let decoded =
            pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr().cast(), len, std::ptr::null());
        Bound::from_owned_ptr(py, decoded).cast_into_unchecked()
    }
}

/// What the environ builder needs besides the head.
pub struct RequestInfo<'a> {
    pub conn: &'a ConnInfo,
    /// The mountpoint that matched ("" for the root app).
    pub script_name: &'a str,
    /// The body length once buffered, reported as CONTENT_LENGTH: rsgi
    /// reads every body whole before the app runs (as nginx does before
    /// it passes a chunked request on), so its length is always known.
    pub body_len: u64,
    pub input: Py<PyAny>,
}

impl RequestInfo<'_> {
    /// PATH_INFO: the request path without the mountpoint.
    fn path_info<'h>(&self, head: &'h RequestHead) -> &'h [u8] {
        let path = head.path();
        path.strip_prefix(self.script_name.as_bytes())
            .unwrap_or(path)
    }
}

impl EnvironCache {
    /// Build the environ for one request.
    pub fn build<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        info: RequestInfo<'_>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let k = &self.k;
        let mut https = false;
        let env = match &head.kind {
            HeadKind::Http { .. } => self.http_template.bind(py).copy()?,
            HeadKind::Uwsgi { .. } => self.wsgi_template.bind(py).copy()?,
        };
        match &head.kind {
            HeadKind::Http {
                method,
                target,
                query,
                authority,
                minor_version,
                headers,
            } => {
                let method = head.bytes_at(method);
                env.set_item(&k.request_method, self.method(py, method))?;
                if !info.script_name.is_empty() {
                    env.set_item(&k.script_name, info.script_name)?;
                }
                env.set_item(&k.path_info, latin1(py, info.path_info(head)))?;
                env.set_item(&k.query_string, latin1(py, head.bytes_at(query)))?;
                env.set_item(&k.request_uri, latin1(py, head.bytes_at(target)))?;
                let proto = if *minor_version == 0 {
                    &self.http10
                } else {
                    &self.http11
                };
                env.set_item(&k.server_protocol, proto)?;
                let conn = info.conn;
                let addr = self
                    .remote_addr
                    .get(py, conn.remote_addr.as_str(), || conn.remote_addr.clone());
                env.set_item(&k.remote_addr, addr)?;
                let port = self
                    .remote_port
                    .get(py, &conn.remote_port, || conn.remote_port.to_string());
                env.set_item(&k.remote_port, port)?;
                // RFC 9112 3.2.2: with an absolute-form target the server
                // "MUST ignore the received Host header field" and use the
                // target's authority instead.
                let authority = authority.as_ref().map(|a| head.bytes_at(a));
                let mut server_name = authority;
                for (i, (name, value)) in headers.iter().enumerate() {
                    let name = head.bytes_at(name);
                    let value = head.bytes_at(value);
                    let field = Field {
                        head,
                        so_far: &headers[..=i],
                        name,
                    };
                    if name.eq_ignore_ascii_case(b"host") {
                        // The parser lets one Host through, never two.
                        match authority {
                            Some(host) => self.set_header(py, &env, field, host)?,
                            None => {
                                server_name = Some(value);
                                self.set_header(py, &env, field, value)?;
                            }
                        }
                    } else if !name.eq_ignore_ascii_case(b"transfer-encoding") {
                        // The app reads the body decoded, whole, with its
                        // length in CONTENT_LENGTH: a Transfer-Encoding
                        // key would make a framework (Bottle) decode the
                        // chunks a second time.
                        self.set_header(py, &env, field, value)?;
                    }
                }
                self.set_server(py, &env, server_name, info.conn)?;
            }
            HeadKind::Uwsgi { vars, .. } => {
                for (name, value) in vars {
                    let name = head.bytes_at(name);
                    let value = head.bytes_at(value);
                    match name {
                        // Set below from the normalized path.
                        b"PATH_INFO" => continue,
                        // nginx buffers a chunked body and sends it with
                        // CONTENT_LENGTH, yet passes the client's
                        // Transfer-Encoding on (nginx 1.22): the app would
                        // decode the body a second time (see the HTTP case).
                        b"HTTP_TRANSFER_ENCODING" => continue,
                        b"HTTPS" => {
                            https = value.eq_ignore_ascii_case(b"on") || value == b"1";
                        }
                        b"UWSGI_SCHEME" | b"wsgi.url_scheme" => {
                            https = value.eq_ignore_ascii_case(b"https");
                            continue;
                        }
                        // The server's own keys, already in the template.
                        _ if name.starts_with(b"wsgi.") => continue,
                        _ => {}
                    }
                    let value = if value.is_empty() {
                        self.empty.bind(py).clone()
                    } else {
                        latin1(py, value)
                    };
                    env.set_item(self.uwsgi_name(py, name), value)?;
                }
                if !info.script_name.is_empty() {
                    // A mountpoint matched PATH_INFO: it moves to SCRIPT_NAME.
                    env.set_item(&k.script_name, info.script_name)?;
                } else if !env.contains(&k.script_name)? {
                    env.set_item(&k.script_name, &self.empty)?;
                }
                env.set_item(&k.path_info, latin1(py, info.path_info(head)))?;
                if !env.contains(&k.query_string)? {
                    env.set_item(&k.query_string, &self.empty)?;
                }
                if !env.contains(&k.remote_addr)? {
                    env.set_item(&k.remote_addr, info.conn.remote_addr.as_str())?;
                }
                if !env.contains(&k.server_protocol)? {
                    env.set_item(&k.server_protocol, &self.http11)?;
                }
                if !env.contains(&k.server_name)? {
                    self.set_server(py, &env, None, info.conn)?;
                }
            }
        }
        if info.body_len > 0 || env.contains(&k.content_length)? {
            env.set_item(&k.content_length, info.body_len.to_string())?;
        }
        if https {
            env.set_item(&k.wsgi_url_scheme, &self.https)?;
        }
        env.set_item(&k.wsgi_input, info.input)?;
        Ok(env)
    }

    fn method<'py>(&self, py: Python<'py>, method: &[u8]) -> Bound<'py, PyString> {
        for (name, obj) in &self.methods {
            if name.as_bytes() == method {
                return obj.bind(py).clone();
            }
        }
        latin1(py, method)
    }

    fn set_server(
        &self,
        py: Python<'_>,
        env: &Bound<'_, PyDict>,
        host: Option<&[u8]>,
        conn: &ConnInfo,
    ) -> PyResult<()> {
        // PEP 3333 rebuilds URLs from HTTP_HOST first; SERVER_NAME and
        // SERVER_PORT follow the Host header too, so they agree with it.
        let (name, port) = match host.map(split_host_port) {
            Some((name, Some(port))) => (latin1(py, name), latin1(py, port)),
            Some((name, None)) => (latin1(py, name), self.server_port(py, conn)),
            None => (
                PyString::new(py, &conn.server_name),
                self.server_port(py, conn),
            ),
        };
        env.set_item(&self.k.server_name, name)?;
        env.set_item(&self.k.server_port, port)
    }

    fn server_port<'py>(&self, py: Python<'py>, conn: &ConnInfo) -> Bound<'py, PyString> {
        self.server_port
            .get(py, &conn.server_port, || conn.server_port.to_string())
    }

    /// The key for a uwsgi variable: the interned one when it is a known
    /// name (compared by length first, so most misses cost one compare).
    fn uwsgi_name<'py>(&self, py: Python<'py>, name: &[u8]) -> Bound<'py, PyString> {
        self.uwsgi_names
            .iter()
            .find(|(text, _)| text.len() == name.len() && text.as_bytes() == name)
            .map(|(_, key)| key.bind(py).clone())
            .unwrap_or_else(|| latin1(py, name))
    }

    fn set_header(
        &self,
        py: Python<'_>,
        env: &Bound<'_, PyDict>,
        field: Field<'_>,
        value: &[u8],
    ) -> PyResult<()> {
        let name = field.name;
        // A header name with `_` would collide with the `-` spelling once
        // both become `_`: a client could spoof X-Forwarded-For as
        // X_Forwarded_For. nginx and gunicorn drop them; so do we.
        if name.contains(&b'_') {
            return Ok(());
        }
        let key: Bound<'_, PyString> = if name.eq_ignore_ascii_case(b"content-type") {
            self.k.content_type.bind(py).clone()
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // Reported from the buffered body instead (see `build`).
            return env.set_item(&self.k.content_length, latin1(py, value));
        } else if let Some((_, key)) = self
            .headers
            .iter()
            .find(|(h, _)| h.as_bytes().eq_ignore_ascii_case(name))
        {
            key.bind(py).clone()
        } else {
            let mut k = Vec::with_capacity(5 + name.len());
            k.extend_from_slice(b"HTTP_");
            k.extend(name.iter().map(|&b| match b {
                b'-' => b'_',
                b => b.to_ascii_uppercase(),
            }));
            latin1(py, &k)
        };
        // No lookup first: a header's key is in the dict only if the
        // field came before, which the dict's size tells after the insert.
        let before = env.len();
        env.set_item(&key, latin1(py, value))?;
        if env.len() > before {
            return Ok(());
        }
        env.set_item(key, latin1(py, &field.joined()))
    }
}

/// A request header being added to the environ, with the fields before it.
#[derive(Clone, Copy)]
struct Field<'a> {
    head: &'a RequestHead,
    /// The head's fields up to and including this one.
    so_far: &'a [(Span, Span)],
    name: &'a [u8],
}

impl Field<'_> {
    /// Every value this field name had so far, joined. RFC 9110 5.3:
    /// repeated fields combine into one, comma-separated; but Cookie's own
    /// separator is "; " (RFC 6265 5.4, RFC 9113 8.2.3), as gunicorn and
    /// uWSGI join it.
    fn joined(&self) -> Vec<u8> {
        let sep: &[u8] = if self.name.eq_ignore_ascii_case(b"cookie") {
            b"; "
        } else {
            b","
        };
        let mut out = Vec::new();
        let same = self
            .so_far
            .iter()
            .filter(|(name, _)| self.head.bytes_at(name).eq_ignore_ascii_case(self.name));
        for (i, (_, value)) in same.enumerate() {
            if i > 0 {
                out.extend_from_slice(sep);
            }
            out.extend_from_slice(self.head.bytes_at(value));
        }
        out
    }
}

/// `example.com:8080` → (`example.com`, Some(`8080`)); `[::1]:80` keeps brackets.
fn split_host_port(host: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if host.first() == Some(&b'[') {
        host.iter()
            .position(|&b| b == b']')
            .and_then(|end| (host.get(end + 1) == Some(&b':')).then_some(end + 1))
    } else {
        host.iter().rposition(|&b| b == b':')
    };
    match colon {
        Some(c) => (&host[..c], Some(&host[c + 1..])),
        None => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_host_and_port() {
        assert_eq!(split_host_port(b"a.b:80"), (&b"a.b"[..], Some(&b"80"[..])));
        assert_eq!(split_host_port(b"a.b"), (&b"a.b"[..], None));
        assert_eq!(
            split_host_port(b"[::1]:9"),
            (&b"[::1]"[..], Some(&b"9"[..]))
        );
        assert_eq!(split_host_port(b"[::1]"), (&b"[::1]"[..], None));
    }
}
