//! Typed option values and their parsers. Each parser returns a sentence
//! saying what was expected and what was found.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::net::Address;

type Parsed<T> = Result<T, String>;

pub fn address(raw: &str) -> Parsed<Address> {
    let raw = raw.trim();
    let bad = |why: &str| {
        format!(
            "expected an address like 127.0.0.1:9090, :9090, [::1]:9090, /run/app.sock or =3; got {raw:?} ({why})"
        )
    };
    if raw.is_empty() {
        return Err(bad("empty"));
    }
    if let Some(fd) = raw.strip_prefix('=') {
        return fd
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Address::Fd)
            .ok_or_else(|| bad("not a file descriptor number"));
    }
    if raw.starts_with('/') || raw.starts_with('.') || raw.starts_with('@') || !raw.contains(':') {
        return Ok(Address::Unix(PathBuf::from(raw)));
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| bad("an IPv6 address needs [brackets]:port"))?;
        (h.to_string(), p)
    } else {
        let (h, p) = raw.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if h.contains(':') {
            return Err(bad("an IPv6 address needs [brackets]:port"));
        }
        (
            if h.is_empty() {
                "0.0.0.0".to_string()
            } else {
                h.to_string()
            },
            p,
        )
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    Ok(Address::Tcp { host, port })
}

/// uWSGI's rule for switches (`uwsgi_opt_true`): false, off, no and 0 are
/// false; anything else, a bare key included, is true. So
/// `enable-threads = 4` is on, as it is in uWSGI.
pub fn boolean(raw: &str) -> Parsed<bool> {
    let t = raw.trim();
    Ok(!(t.eq_ignore_ascii_case("false")
        || t.eq_ignore_ascii_case("off")
        || t.eq_ignore_ascii_case("no")
        || t == "0"))
}

/// A note for a switch value that is neither a usual spelling nor a
/// number: uWSGI takes it as true, which is seldom what a typo meant.
pub fn boolean_note(raw: &str) -> Option<String> {
    let t = raw.trim();
    let usual = [
        "", "true", "yes", "on", "false", "no", "off", "enable", "enabled",
    ];
    if usual.iter().any(|u| t.eq_ignore_ascii_case(u)) || t.parse::<i64>().is_ok() {
        return None;
    }
    Some(format!(
        "{t:?} is taken as true, as uWSGI does (only false, off, no and 0 are false)"
    ))
}

/// uWSGI's number parsers (atoi, strtoul) stop at the first character that
/// is not a digit, so `processes = 4   # one per core` means 4. Values of
/// numbers and switches lose such a trailing comment here; text values
/// (paths, commands, formats) keep it, as in uWSGI.
pub fn strip_comment(raw: &str) -> &str {
    match raw.find(" #").or_else(|| raw.find("\t#")) {
        Some(i) => raw[..i].trim_end(),
        None => raw,
    }
}

fn number<T: std::str::FromStr>(raw: &str) -> Parsed<T> {
    raw.trim()
        .parse::<T>()
        .map_err(|_| format!("expected a number, got {:?}", raw.trim()))
}

pub fn count(raw: &str) -> Parsed<usize> {
    number(raw)
}

pub fn int(raw: &str) -> Parsed<u64> {
    number(raw)
}

pub fn int32(raw: &str) -> Parsed<u32> {
    number(raw)
}

/// At least one (processes, threads).
pub fn positive(raw: &str) -> Parsed<usize> {
    match number::<usize>(raw)? {
        0 => Err("must be at least 1, got 0".to_string()),
        n => Ok(n),
    }
}

/// `4096`, `64k`, `1M`, `2G` (binary units, as uWSGI).
pub fn size(raw: &str) -> Parsed<u64> {
    let t = raw.trim();
    let bad = || format!("expected a size like 4096, 64k or 1M, got {t:?}");
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

pub fn size_usize(raw: &str) -> Parsed<usize> {
    size(raw).and_then(|n| usize::try_from(n).map_err(|_| format!("{n} is too large")))
}

/// Seconds.
pub fn seconds(raw: &str) -> Parsed<Duration> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("expected a number of seconds, got {:?}", raw.trim()))
}

pub fn path(raw: &str) -> Parsed<PathBuf> {
    let t = raw.trim();
    if t.is_empty() {
        Err("expected a path, got nothing".into())
    } else {
        Ok(PathBuf::from(t))
    }
}

/// `http-keepalive`, as uWSGI's HTTP router reads it: 0 or false turn
/// keep-alive off, 1, true or a bare key turn it on with the default
/// timeout (15 s), a larger number is the timeout in seconds.
pub fn keepalive(raw: &str) -> Parsed<Duration> {
    let t = raw.trim();
    const DEFAULT: Duration = Duration::from_secs(15);
    if t.is_empty() || t == "1" {
        return Ok(DEFAULT);
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    match t.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(DEFAULT),
        "false" | "no" | "off" => Ok(Duration::ZERO),
        _ => Err(format!(
            "expected a number of seconds, or true/false, got {t:?}"
        )),
    }
}

/// `post-buffering`: a size, or a switch. rsgi always reads a body before
/// calling the app, so `post-buffering = true` (as KoboToolbox writes it)
/// keeps the default threshold, as does false.
pub fn post_buffering(raw: &str) -> Parsed<u64> {
    let t = raw.trim();
    if ["true", "yes", "on", "false", "no", "off"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Ok(0);
    }
    size(t)
}

/// `protocol` / `socket-protocol`: what `--socket` speaks.
pub fn protocol(raw: &str) -> Parsed<String> {
    let t = raw.trim().to_ascii_lowercase();
    match t.as_str() {
        "uwsgi" | "http" => Ok(t),
        _ => Err(format!(
            "rsgi speaks uwsgi and http on --socket, not {t:?} (fastcgi, scgi and the others are not supported)"
        )),
    }
}

pub fn string(raw: &str) -> Parsed<String> {
    Ok(raw.trim().to_string())
}

/// Octal permissions (`664`, `0660`); empty means 666, as a bare
/// `chmod-socket` does in uWSGI.
pub fn mode(raw: &str) -> Parsed<u32> {
    let t = raw.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("true") {
        return Ok(0o666);
    }
    u32::from_str_radix(t, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("expected octal permissions like 660, got {t:?}"))
}

/// A mountpoint: `/prefix=app`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub prefix: String,
    pub app: String,
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.prefix, self.app)
    }
}

pub fn mount(raw: &str) -> Parsed<Mount> {
    let t = raw.trim();
    match t.split_once('=') {
        Some((prefix, app)) if prefix.starts_with('/') && !app.trim().is_empty() => Ok(Mount {
            prefix: prefix.trim().to_string(),
            app: app.trim().to_string(),
        }),
        _ => Err(format!(
            "expected /PREFIX=APP (an app file or module), got {t:?}"
        )),
    }
}

/// `static-map /URL=DIR` (and `static-map2`): a URL prefix and the
/// directory (or file) it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticMap {
    pub mount: String,
    pub dir: PathBuf,
}

impl fmt::Display for StaticMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.mount, self.dir.display())
    }
}

pub fn static_map(raw: &str) -> Parsed<StaticMap> {
    let t = raw.trim();
    match t.split_once('=') {
        Some((mount, dir)) if mount.trim().starts_with('/') && !dir.trim().is_empty() => {
            Ok(StaticMap {
                mount: mount.trim().to_string(),
                dir: PathBuf::from(dir.trim()),
            })
        }
        _ => Err(format!("expected /URL=DIR, got {t:?}")),
    }
}

/// A `static-expires*` rule: what it matches (a content type, or a
/// regex) and the seconds it adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    pub pattern: String,
    pub seconds: u64,
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.pattern, self.seconds)
    }
}

/// `static-expires-type TYPE=SECONDS`, as uWSGI writes it.
pub fn expiry_by_type(raw: &str) -> Parsed<Expiry> {
    let t = raw.trim();
    match t.split_once('=') {
        Some((mime, secs)) if !mime.trim().is_empty() => Ok(Expiry {
            pattern: mime.trim().to_string(),
            seconds: int(secs).map_err(|e| format!("{e} (in TYPE=SECONDS)"))?,
        }),
        _ => Err(format!("expected TYPE=SECONDS, got {t:?}")),
    }
}

/// `static-expires-uri REGEX SECONDS` and its kin: uWSGI splits at the
/// first space.
pub fn expiry_by_regex(raw: &str) -> Parsed<Expiry> {
    let t = raw.trim();
    let Some((pattern, secs)) = t.split_once(' ') else {
        return Err(format!("expected REGEX SECONDS, got {t:?}"));
    };
    regex(pattern)?;
    Ok(Expiry {
        pattern: pattern.to_string(),
        seconds: int(secs).map_err(|e| format!("{e} (in REGEX SECONDS)"))?,
    })
}

/// A regular expression (Rust's `regex` syntax, close to the PCRE uWSGI
/// uses for these options, without look-around or backreferences).
pub fn regex(raw: &str) -> Parsed<String> {
    regex::bytes::Regex::new(raw)
        .map(|_| raw.to_string())
        .map_err(|e| format!("invalid regular expression {raw:?}: {e}"))
}

/// `KEY=VALUE`.
pub fn env_pair(raw: &str) -> Parsed<(String, String)> {
    match raw.trim().split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {:?}", raw.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let tcp = |h: &str, p| Address::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(address(":9090").unwrap(), tcp("0.0.0.0", 9090));
        assert_eq!(address("127.0.0.1:9090").unwrap(), tcp("127.0.0.1", 9090));
        assert_eq!(address("[::1]:9090").unwrap(), tcp("::1", 9090));
        assert_eq!(address("localhost:80").unwrap(), tcp("localhost", 80));
        assert_eq!(
            address("/run/app.sock").unwrap(),
            Address::Unix("/run/app.sock".into())
        );
        assert_eq!(
            address("app.sock").unwrap(),
            Address::Unix("app.sock".into())
        );
        assert_eq!(address("=3").unwrap(), Address::Fd(3));
        for bad in ["", "1.2.3.4:99999", ":x", "::1:80", "=x", "=-1", "[::1]80"] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
        for s in ["127.0.0.1:9090", "[::1]:9090", "/run/a.sock", "=3"] {
            assert_eq!(address(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn booleans_follow_uwsgi() {
        for t in ["1", "true", "YES", "on", "", "4", "maybe"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["0", "false", "no", "Off", " FALSE "] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert_eq!(boolean_note("4"), None);
        assert_eq!(boolean_note("True"), None);
        assert!(boolean_note("maybe").unwrap().contains("taken as true"));
    }

    #[test]
    fn trailing_comments_after_numbers() {
        let cases = [
            ("4   # one per core", "4"),
            ("true                       # but log 4xx's anyway", "true"),
            ("4\t# tab", "4"),
            ("8", "8"),
            ("a#b", "a#b"),
        ];
        for (raw, want) in cases {
            assert_eq!(strip_comment(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn keepalive_and_post_buffering_forms() {
        let s = Duration::from_secs;
        let cases = [
            ("", Ok(s(15))),
            ("1", Ok(s(15))),
            ("true", Ok(s(15))),
            ("0", Ok(s(0))),
            ("false", Ok(s(0))),
            ("30", Ok(s(30))),
        ];
        for (raw, want) in cases {
            assert_eq!(keepalive(raw), want, "{raw:?}");
        }
        assert!(keepalive("soon").is_err());
        assert_eq!(post_buffering("true"), Ok(0));
        assert_eq!(post_buffering("64k"), Ok(65536));
        assert!(post_buffering("lots").is_err());
        assert_eq!(protocol("HTTP"), Ok("http".into()));
        assert!(protocol("fastcgi").is_err());
    }

    #[test]
    fn sizes_modes_and_numbers() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("64k"), Ok(65536));
        assert_eq!(size("1M"), Ok(1 << 20));
        assert_eq!(size("2g"), Ok(2 << 30));
        assert!(size("1T").is_err() && size("k").is_err() && size("-1").is_err());
        assert!(size("99999999999999999999G").is_err());
        assert_eq!(mode("664"), Ok(0o664));
        assert_eq!(mode("0660"), Ok(0o660));
        assert_eq!(mode(""), Ok(0o666));
        assert!(mode("999").is_err());
        assert_eq!(positive("4"), Ok(4));
        assert!(positive("0").is_err());
        assert_eq!(
            count("four").unwrap_err(),
            "expected a number, got \"four\""
        );
        assert_eq!(seconds("30"), Ok(Duration::from_secs(30)));
    }

    #[test]
    fn mounts_and_env() {
        assert_eq!(
            mount("/a=app.py").unwrap(),
            Mount {
                prefix: "/a".into(),
                app: "app.py".into()
            }
        );
        assert!(mount("a=app.py").is_err() && mount("/a=").is_err() && mount("/a").is_err());
        assert_eq!(env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(env_pair("=x").is_err() && env_pair("novalue").is_err());
    }
}

/// Unix permissions, shown in octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

pub fn mode_value(raw: &str) -> Parsed<Mode> {
    mode(raw).map(Mode)
}

/// How a value is printed back (`--check-config`).
pub trait Show {
    fn show(&self) -> String;
}

macro_rules! show_display {
    ($($t:ty),*) => { $(impl Show for $t { fn show(&self) -> String { self.to_string() } })* };
}
show_display!(
    bool, usize, u64, u32, String, Address, Mount, Mode, StaticMap, Expiry
);

impl Show for Duration {
    fn show(&self) -> String {
        self.as_secs().to_string()
    }
}

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl Show for (String, String) {
    fn show(&self) -> String {
        format!("{}={}", self.0, self.1)
    }
}
