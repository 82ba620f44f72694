//! `syslog:` loggers: each line one datagram to /dev/log, in the format
//! glibc's `syslog(3)` sends (RFC 3164: `<PRI>Mmm dd hh:mm:ss IDENT: MSG`),
//! as uWSGI's syslog plugin does with `openlog(ident, 0, facility)` and
//! `syslog(LOG_INFO, ...)`. The socket is non-blocking: a syslog daemon
//! that is down or behind costs a dropped, counted line, never a wait.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Where glibc's syslog(3) sends; uWSGI has no option to change it.
const DEV_LOG: &str = "/dev/log";
/// LOG_INFO, the severity uWSGI's plugin logs every line with.
const INFO: u8 = 6;

/// A syslog facility (its code, as `<syslog.h>` numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    /// The names uWSGI's syslog plugin knows (those glibc defines); an
    /// empty name is its default, `daemon`.
    pub fn parse(name: &str) -> Option<Facility> {
        let code = match name {
            "kern" => 0,
            "user" => 1,
            "mail" => 2,
            "" | "daemon" => 3,
            "auth" | "security" => 4,
            "syslog" => 5,
            "lpr" => 6,
            "news" => 7,
            "uucp" => 8,
            "cron" => 9,
            "authpriv" => 10,
            "ftp" => 11,
            "local0" => 16,
            "local1" => 17,
            "local2" => 18,
            "local3" => 19,
            "local4" => 20,
            "local5" => 21,
            "local6" => 22,
            "local7" => 23,
            _ => return None,
        };
        Some(Facility(code))
    }
}

/// One datagram: `<PRI>TIMESTAMP IDENT: MESSAGE`, the timestamp glibc's
/// `%h %e %T` in local time. glibc sends the message as given; one
/// trailing newline is dropped here, as rsyslog and journald drop it on
/// receipt anyway, so the line reads the same wherever it lands.
pub fn datagram(facility: Facility, ident: &str, local: &Tm, message: &[u8]) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(local.month as usize).unwrap_or(&"Jan");
    let head = format!(
        "<{}>{month} {:>2} {:02}:{:02}:{:02} {ident}: ",
        u16::from(facility.0) * 8 + u16::from(INFO),
        local.day,
        local.hour,
        local.minute,
        local.second,
    );
    let message = message.strip_suffix(b"\n").unwrap_or(message);
    let mut out = Vec::with_capacity(head.len() + message.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(message);
    out
}

/// The broken-down local time a syslog line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    /// 0 = January.
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Tm {
    fn now() -> Tm {
        // SAFETY: time(2) with a null pointer; localtime_r writes into a
        // zeroed local struct and reads the local `t`.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t = unsafe { libc::time(std::ptr::null_mut()) };
        if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return Tm {
                month: 0,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
            };
        }
        let field = |v: libc::c_int| u8::try_from(v).unwrap_or(0);
        Tm {
            month: field(tm.tm_mon),
            day: field(tm.tm_mday),
            hour: field(tm.tm_hour),
            minute: field(tm.tm_min),
            second: field(tm.tm_sec),
        }
    }
}

/// A `syslog:` logger in this process.
pub struct Syslog {
    socket: UnixDatagram,
    /// /dev/log (another socket only in this module's tests).
    path: &'static str,
    ident: String,
    facility: Facility,
    /// Lines not sent since the last one that was.
    lost: AtomicU64,
}

impl Syslog {
    pub fn new(ident: &str, facility: Facility) -> std::io::Result<Syslog> {
        Syslog::to(DEV_LOG, ident, facility)
    }

    fn to(path: &'static str, ident: &str, facility: Facility) -> std::io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Syslog {
            socket,
            path,
            ident: ident.to_string(),
            facility,
            lost: AtomicU64::new(0),
        })
    }

    /// Send one line; a line syslog does not take (no daemon listening,
    /// its queue full) is counted, and the next one that goes through is
    /// preceded by a line saying how many were lost.
    pub fn send(&self, line: &[u8]) {
        let tm = Tm::now();
        let lost = self.lost.swap(0, Relaxed);
        if lost > 0 {
            let notice = format!(
                "{lost} log line{} lost: syslog did not take them",
                if lost == 1 { "" } else { "s" }
            );
            if !self.send_one(&datagram(
                self.facility,
                &self.ident,
                &tm,
                notice.as_bytes(),
            )) {
                self.lost.fetch_add(lost + 1, Relaxed);
                return;
            }
        }
        if !self.send_one(&datagram(self.facility, &self.ident, &tm, line)) {
            self.lost.fetch_add(1, Relaxed);
        }
    }

    fn send_one(&self, datagram: &[u8]) -> bool {
        // Sent to the path each time, so a restarted syslog daemon (a
        // new socket at the same path) gets the next line.
        self.socket.send_to(datagram, self.path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_what_glibc_syslog_sends() {
        let tm = Tm {
            month: 10,
            day: 7,
            hour: 8,
            minute: 5,
            second: 3,
        };
        for (facility, ident, message, sent) in [
            // syslog(LOG_INFO) after openlog("uwsgi", 0, LOG_DAEMON):
            // <30>, a space-padded day, no pid (uWSGI passes no LOG_PID).
            (
                "",
                "uwsgi",
                &b"hello\n"[..],
                &b"<30>Nov  7 08:05:03 uwsgi: hello"[..],
            ),
            (
                "local3",
                "myapp",
                b"a\nb",
                b"<158>Nov  7 08:05:03 myapp: a\nb",
            ),
            ("kern", "k", b"", b"<6>Nov  7 08:05:03 k: "),
        ] {
            let facility = Facility::parse(facility).expect("facility");
            assert_eq!(
                String::from_utf8_lossy(&datagram(facility, ident, &tm, message)),
                String::from_utf8_lossy(sent)
            );
        }
        let tm = Tm {
            month: 0,
            day: 31,
            hour: 23,
            minute: 59,
            second: 59,
        };
        let d = datagram(Facility::parse("user").expect("user"), "x", &tm, b"m");
        assert_eq!(d, b"<14>Jan 31 23:59:59 x: m");
    }

    #[test]
    fn each_line_is_one_datagram_and_lost_ones_are_reported() {
        let dir = std::env::temp_dir().join(format!("rsgi-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path: &'static str = Box::leak(
            dir.join("log")
                .to_string_lossy()
                .into_owned()
                .into_boxed_str(),
        );
        let _ = std::fs::remove_file(path);
        let log =
            Syslog::to(path, "myapp", Facility::parse("local0").expect("local0")).expect("socket");
        // Nobody listens yet: dropped and counted, never an error.
        log.send(b"lost\n");
        assert_eq!(log.lost.load(Relaxed), 1);
        let daemon = UnixDatagram::bind(path).expect("bind");
        log.send(b"hello\n");
        let mut buf = [0u8; 512];
        let mut next = || {
            let n = daemon.recv(&mut buf).expect("recv");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let (notice, line) = (next(), next());
        assert!(notice.starts_with("<134>"), "{notice}");
        assert!(
            notice.ends_with(" myapp: 1 log line lost: syslog did not take them"),
            "{notice}"
        );
        assert!(
            line.starts_with("<134>") && line.ends_with(" myapp: hello"),
            "{line}"
        );
        assert_eq!(log.lost.load(Relaxed), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_facility_uwsgi_names_is_known() {
        for name in [
            "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "security",
            "syslog", "user", "uucp", "local0", "local7",
        ] {
            assert!(Facility::parse(name).is_some(), "{name}");
        }
        assert_eq!(Facility::parse("local8"), None);
    }
}
