//! Which file a request path names, and whether it may be served: the
//! mapping of `static-map`, `static-map2` and `check-static`, with
//! `static-index`, `static-skip-ext` and `static-safe`.
//!
//! Safety does not rest on the path's text alone: the parsers already
//! percent-decode the path and remove its dot segments (a `..` above the
//! root is a 400), and here the candidate's real path (every symlink
//! resolved, as uWSGI's `realpath` check does) must still lie under the
//! mapped directory, or under a `static-safe` one. Segments starting
//! with a dot (`.env`, `.git/`) are never served, by name or through a
//! symlink.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A directory (or file) requests are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The URL prefix (`/static`); `/` for `check-static`.
    pub mount: Vec<u8>,
    /// The directory or file, with every symlink resolved.
    pub target: PathBuf,
    /// How the request path becomes a file path under `target`.
    pub join: Join,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// `static-map /static=DIR`: the path after the prefix, under DIR.
    AfterMount,
    /// `static-map2` and `check-static`: the whole path, under DIR.
    WholePath,
    /// `static-map /favicon.ico=FILE`: this one file, for the prefix alone.
    File,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No static file: the request goes to the app (uWSGI's behaviour for
    /// a missing file, a directory without an index, a skipped extension).
    Miss,
    /// The path named a file whose real path leaves its root: not served,
    /// and worth a line in the log (uWSGI logs a "security error").
    Escaped { file: PathBuf, root: PathBuf },
    /// Serve this file (its real path).
    Found(PathBuf),
}

/// The mapping rules, from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locator {
    /// In uWSGI's order: check-static, then static-map, then static-map2.
    pub roots: Vec<Root>,
    /// File names tried, in order, when a path names a directory.
    pub index: Vec<String>,
    /// Suffixes never served statically (the request goes to the app).
    pub skip_ext: Vec<String>,
    /// Real paths under these may be served even from outside a root.
    pub safe: Vec<PathBuf>,
}

impl Locator {
    pub fn locate(&self, path: &[u8]) -> Lookup {
        // uWSGI checks the skipped extensions against PATH_INFO before any
        // lookup, and again against the file found.
        if self.skipped(path) {
            return Lookup::Miss;
        }
        let mut escaped = Lookup::Miss;
        for root in &self.roots {
            match self.in_root(root, path) {
                Lookup::Miss => {}
                found @ Lookup::Found(_) => return found,
                e @ Lookup::Escaped { .. } => escaped = e,
            }
        }
        escaped
    }

    fn skipped(&self, name: &[u8]) -> bool {
        self.skip_ext
            .iter()
            .any(|ext| name.ends_with(ext.as_bytes()))
    }

    fn in_root(&self, root: &Root, path: &[u8]) -> Lookup {
        let Some(rest) = after_mount(&root.mount, path) else {
            return Lookup::Miss;
        };
        let relative = match root.join {
            Join::File if rest.iter().all(|&b| b == b'/') => {
                return self.accept(root, root.target.clone(), root.target.is_file());
            }
            Join::File => return Lookup::Miss,
            Join::AfterMount => rest,
            Join::WholePath => path,
        };
        if has_hidden_segment(relative) || relative.contains(&0) {
            return Lookup::Miss;
        }
        let Ok((real, meta)) = resolve(&root.target, relative) else {
            return Lookup::Miss;
        };
        if !meta.is_dir() {
            return self.accept(root, real, meta.is_file());
        }
        // A directory: its index file, if it has one (no listings, ever).
        for name in &self.index {
            let Ok((index, meta)) = resolve(&real, name.as_bytes()) else {
                continue;
            };
            match self.accept(root, index, meta.is_file()) {
                Lookup::Miss => {}
                other => return other,
            }
        }
        Lookup::Miss
    }

    /// A real path, if it is a regular file (`is_file`, as its metadata
    /// said) this root may serve.
    fn accept(&self, root: &Root, real: PathBuf, is_file: bool) -> Lookup {
        let inside = real.starts_with(&root.target);
        if !inside && !self.safe.iter().any(|s| real.starts_with(s)) {
            return Lookup::Escaped {
                file: real,
                root: root.target.clone(),
            };
        }
        // A symlink inside the root may still name a dotfile.
        let shown = real.strip_prefix(&root.target).unwrap_or(&real);
        if inside && has_hidden_segment(shown.as_os_str().as_bytes()) {
            return Lookup::Miss;
        }
        if !is_file || self.skipped(real.as_os_str().as_bytes()) {
            return Lookup::Miss;
        }
        Lookup::Found(real)
    }
}

/// The real path of `relative` under `base` (a real path), with its
/// metadata. What `realpath` does with a `readlink` per component from
/// `/`, done with one `lstat` per component under `base`: while none is
/// a symlink the joined path already is the real one, and the last
/// `lstat` is the file's metadata. A symlink (or a `.`/`..`, which
/// normalized request paths never hold) hands the path to
/// `canonicalize`.
fn resolve(base: &Path, relative: &[u8]) -> std::io::Result<(PathBuf, Metadata)> {
    let mut path = base.to_path_buf();
    let mut meta = None;
    for segment in relative.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        if segment == b"." || segment == b".." {
            return resolve_slowly(base, relative);
        }
        path.push(OsStr::from_bytes(segment));
        let m = std::fs::symlink_metadata(&path)?;
        if m.file_type().is_symlink() {
            return resolve_slowly(base, relative);
        }
        meta = Some(m);
    }
    match meta {
        Some(m) => Ok((path, m)),
        None => Ok((path, std::fs::metadata(base)?)),
    }
}

/// [`resolve`] through `realpath`.
fn resolve_slowly(base: &Path, relative: &[u8]) -> std::io::Result<(PathBuf, Metadata)> {
    // Leading slashes would make `join` replace the base.
    let start = relative
        .iter()
        .position(|&b| b != b'/')
        .unwrap_or(relative.len());
    let real = std::fs::canonicalize(base.join(OsStr::from_bytes(&relative[start..])))?;
    let meta = std::fs::metadata(&real)?;
    Ok((real, meta))
}

/// What follows `mount` in `path`, if `path` is under it: the prefix
/// must end on a segment boundary (`/static` serves `/static/a`, not
/// `/staticfoo`; uWSGI compares plain prefixes).
fn after_mount<'p>(mount: &[u8], path: &'p [u8]) -> Option<&'p [u8]> {
    let rest = path.strip_prefix(mount)?;
    (mount.ends_with(b"/") || rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
}

/// Whether a segment of the path starts with a dot (`.env`, `.git`, and
/// `.`/`..`, which normalized paths no longer hold).
fn has_hidden_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|seg| seg.starts_with(b"."))
}

/// A root from the config: the path with its symlinks resolved, or why it
/// cannot be used.
pub fn root(mount: &str, target: &Path, join: Join) -> std::io::Result<Root> {
    let target = std::fs::canonicalize(target)?;
    let join = match join {
        Join::AfterMount if target.is_file() => Join::File,
        other => other,
    };
    Ok(Root {
        mount: mount.as_bytes().to_vec(),
        target,
        join,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A temp tree:
    /// root/static/{a.css, sub/index.html, nodex/x.txt, .env, .git/config,
    ///   skip.py, link-out -> ../secret.txt, link-in -> a.css,
    ///   link-dot -> .env, dir-out -> ../outside,
    ///   linkidx/index.html -> ../../secret.txt}
    /// root/secret.txt, root/outside/o.txt, root/favicon.ico
    fn tree() -> PathBuf {
        let base = std::env::temp_dir().join(format!(
            "rsgi-locate-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        let s = base.join("static");
        for d in ["sub", "nodex", ".git", "linkidx"] {
            std::fs::create_dir_all(s.join(d)).unwrap();
        }
        std::fs::create_dir_all(base.join("outside")).unwrap();
        for f in [
            "a.css",
            "sub/index.html",
            "nodex/x.txt",
            ".env",
            ".git/config",
            "skip.py",
        ] {
            std::fs::write(s.join(f), f).unwrap();
        }
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        std::fs::write(base.join("outside/o.txt"), "o").unwrap();
        std::fs::write(base.join("favicon.ico"), "ico").unwrap();
        symlink("../secret.txt", s.join("link-out")).unwrap();
        symlink("a.css", s.join("link-in")).unwrap();
        symlink(".env", s.join("link-dot")).unwrap();
        symlink("../outside", s.join("dir-out")).unwrap();
        symlink("../../secret.txt", s.join("linkidx/index.html")).unwrap();
        base
    }

    #[test]
    fn maps_paths_to_files_and_refuses_escapes() {
        let base = tree();
        let base = std::fs::canonicalize(base).unwrap();
        let s = base.join("static");
        let locator = Locator {
            roots: vec![
                root("/static", &s, Join::AfterMount).unwrap(),
                root("/favicon.ico", &base.join("favicon.ico"), Join::File).unwrap(),
                root("/static2", &base, Join::WholePath).unwrap(),
            ],
            index: vec!["index.html".into()],
            skip_ext: vec![".py".into()],
            safe: vec![],
        };
        let found = |p: &Path| Lookup::Found(p.to_path_buf());
        let escaped = |f: &Path| Lookup::Escaped {
            file: f.to_path_buf(),
            root: s.clone(),
        };
        let cases: Vec<(&str, Lookup)> = vec![
            ("/static/a.css", found(&s.join("a.css"))),
            ("/static//a.css", found(&s.join("a.css"))),
            ("/static/sub", found(&s.join("sub/index.html"))),
            ("/static/sub/", found(&s.join("sub/index.html"))),
            ("/static/", Lookup::Miss),
            ("/static", Lookup::Miss),
            ("/static/nodex", Lookup::Miss),
            ("/static/missing.css", Lookup::Miss),
            ("/staticx/a.css", Lookup::Miss),
            ("/other/a.css", Lookup::Miss),
            ("/static/.env", Lookup::Miss),
            ("/static/.git/config", Lookup::Miss),
            ("/static/link-dot", Lookup::Miss),
            ("/static/skip.py", Lookup::Miss),
            ("/static/link-in", found(&s.join("a.css"))),
            ("/static/link-out", escaped(&base.join("secret.txt"))),
            (
                "/static/dir-out/o.txt",
                escaped(&base.join("outside/o.txt")),
            ),
            ("/static/a.css\0", Lookup::Miss),
            ("/favicon.ico", found(&base.join("favicon.ico"))),
            ("/favicon.ico/x", Lookup::Miss),
            // static-map2 appends the whole path: DIR/static2/… exists not.
            ("/static2/a.css", Lookup::Miss),
        ];
        for (path, want) in cases {
            assert_eq!(locator.locate(path.as_bytes()), want, "{path}");
        }
        // static-safe lets a root's symlink reach a directory outside it.
        let safe = Locator {
            safe: vec![base.join("outside")],
            ..locator.clone()
        };
        assert_eq!(
            safe.locate(b"/static/dir-out/o.txt"),
            found(&base.join("outside/o.txt"))
        );
        assert_eq!(
            safe.locate(b"/static/link-out"),
            escaped(&base.join("secret.txt"))
        );
        // static-map2: the whole path under DIR.
        let whole = Locator {
            roots: vec![root("/static", &base, Join::WholePath).unwrap()],
            ..Locator::default()
        };
        assert_eq!(whole.locate(b"/static/a.css"), found(&s.join("a.css")));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn mount_boundaries() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("/static", "/static/a", Some("/a")),
            ("/static", "/static", Some("")),
            ("/static", "/staticx", None),
            ("/static/", "/static/a", Some("a")),
            ("/static/", "/static", None),
            ("/", "/a/b", Some("a/b")),
        ];
        for (mount, path, want) in cases {
            let got = after_mount(mount.as_bytes(), path.as_bytes());
            assert_eq!(got, want.map(str::as_bytes), "{mount} {path}");
        }
    }
}
