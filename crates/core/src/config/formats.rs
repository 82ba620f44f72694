//! The file formats (ini, TOML, YAML, JSON), each read into
//! `(key, value, line)` triples of the wanted section. Repeated keys (ini,
//! YAML, JSON) and arrays become one triple per value, which is how lists
//! accumulate.

use std::path::Path;

use super::error::ConfigError;

type Pairs = Vec<(String, String, usize)>;

/// Sections read when none is named.
const DEFAULT_SECTIONS: [&str; 2] = ["uwsgi", "rsgi"];

fn wanted(section: Option<&str>) -> Vec<&str> {
    section.map_or_else(|| DEFAULT_SECTIONS.to_vec(), |s| vec![s])
}

fn no_section(path: &Path, section: Option<&str>, found: Vec<String>) -> ConfigError {
    let found = if found.is_empty() {
        "none".to_string()
    } else {
        found.join(", ")
    };
    ConfigError::NoSection {
        path: path.to_path_buf(),
        section: section.unwrap_or("uwsgi").to_string(),
        found,
    }
}

/// uWSGI-style ini: `[section]`, `key = value`, `;` and `#` comments, a bare
/// `key` with an empty value (as uWSGI's ini reader gives it: a switch is
/// then on). Values are taken as written (no unescaping).
pub fn ini(text: &str, path: &Path, section: Option<&str>) -> Result<Pairs, ConfigError> {
    let wanted = wanted(section);
    let mut current: Option<String> = None;
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: n + 1,
                reason: format!("a section header must end with ']': {line}"),
            })?;
            seen.push(name.trim().to_string());
            current = Some(name.trim().to_string());
            continue;
        }
        if !current.as_deref().is_some_and(|c| wanted.contains(&c)) {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        if key.is_empty() {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: n + 1,
                reason: "a key is missing before '='".into(),
            });
        }
        out.push((key.to_string(), value.to_string(), n + 1));
    }
    if !seen.iter().any(|s| wanted.contains(&s.as_str())) {
        return Err(no_section(path, section, seen));
    }
    Ok(out)
}

/// The line where `key` is set for the `nth` time (0: first), for messages.
fn line_of(text: &str, key: &str, seps: &[char], nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start().trim_start_matches('-').trim_start();
            let l = l
                .strip_prefix('"')
                .and_then(|r| r.strip_prefix(key))
                .and_then(|r| r.strip_prefix('"'))
                .or_else(|| l.strip_prefix(key));
            l.is_some_and(|r| r.trim_start().starts_with(seps))
        })
        .nth(nth)
        .map_or(0, |(i, _)| i + 1)
}

pub fn toml(text: &str, path: &Path, section: Option<&str>) -> Result<Pairs, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].lines().count().max(1)
            }),
            reason: e.message().to_string(),
        })?;
    let sections = wanted(section);
    let mut tables: Vec<&toml::Table> = sections
        .iter()
        .filter_map(|s| table.get(*s).and_then(toml::Value::as_table))
        .collect();
    if tables.is_empty() {
        if section.is_some() {
            return Err(no_section(path, section, table.keys().cloned().collect()));
        }
        tables.push(&table);
    }
    let mut out = Vec::new();
    for t in tables {
        for (key, value) in t {
            if value.is_table() && DEFAULT_SECTIONS.contains(&key.as_str()) {
                continue;
            }
            let line = line_of(text, key, &['='], 0);
            let values = match value {
                toml::Value::Array(items) => {
                    items.iter().map(toml_scalar).collect::<Option<Vec<_>>>()
                }
                v => toml_scalar(v).map(|s| vec![s]),
            };
            let values = values.ok_or_else(|| ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                reason: format!("{key}: expected a string, number, boolean or array of them"),
            })?;
            out.extend(values.into_iter().map(|v| (key.clone(), v, line)));
        }
    }
    Ok(out)
}

fn toml_scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A YAML or JSON document as uWSGI reads it: mappings keep every key in
/// order, repeated keys included (uWSGI's libyaml reader adds each one as
/// an option, and Galaxy's sample config repeats `static-map`).
#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Scalar(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

impl<'de> serde::Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> serde::de::Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a scalar, a sequence or a mapping")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Scalar(v.to_string()))
    }
    /// A key with no value (`master:`) is a bare key: true.
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar("true".into()))
    }
    fn visit_none<E>(self) -> Result<Tree, E> {
        Ok(Tree::Scalar("true".into()))
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Tree>()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Tree>()? {
            let key = match key {
                Tree::Scalar(k) => k,
                _ => return Err(serde::de::Error::custom("a key must be a plain value")),
            };
            entries.push((key, map.next_value::<Tree>()?));
        }
        Ok(Tree::Map(entries))
    }
}

pub fn yaml(text: &str, path: &Path, section: Option<&str>) -> Result<Pairs, ConfigError> {
    let doc: Tree = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.location().map_or(0, |l| l.line()),
        reason: e.to_string(),
    })?;
    tree_pairs(doc, text, path, section)
}

/// uWSGI's JSON configs: `{"uwsgi": {"key": value, "key2": [list]}}`.
pub fn json(text: &str, path: &Path, section: Option<&str>) -> Result<Pairs, ConfigError> {
    let doc: Tree = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        reason: e.to_string(),
    })?;
    tree_pairs(doc, text, path, section)
}

/// The pairs of the wanted section of a YAML or JSON document.
fn tree_pairs(
    doc: Tree,
    text: &str,
    path: &Path,
    section: Option<&str>,
) -> Result<Pairs, ConfigError> {
    let Tree::Map(top) = doc else {
        return Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            reason: "expected a mapping with a uwsgi: or rsgi: key".into(),
        });
    };
    let sections = wanted(section);
    let mut out = Vec::new();
    let mut found = false;
    for (name, body) in &top {
        if !sections.contains(&name.as_str()) {
            continue;
        }
        let Tree::Map(map) = body else { continue };
        found = true;
        // The n-th occurrence of a key is on the n-th line that sets it.
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for (key, value) in map {
            let nth = match seen.iter_mut().find(|(k, _)| *k == key.as_str()) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((key, 0));
                    0
                }
            };
            let line = line_of(text, key, &[':'], nth);
            let values = match value {
                Tree::Seq(items) => items
                    .iter()
                    .map(|i| match i {
                        Tree::Scalar(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>(),
                Tree::Scalar(s) => Some(vec![s.clone()]),
                Tree::Map(_) => None,
            };
            let values = values.ok_or_else(|| ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                reason: format!("{key}: expected a string, number, boolean or list of them"),
            })?;
            out.extend(values.into_iter().map(|v| (key.clone(), v, line)));
        }
    }
    if !found {
        let names = top.iter().map(|(k, _)| k.clone()).collect();
        return Err(no_section(path, section, names));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.cfg")
    }

    #[test]
    fn ini_reads_sections_lists_and_lines() {
        let text = "; comment\n[other]\nx = 1\n[uwsgi]\nprocesses = 4\nenv = A=1\nenv = B=2\nmaster\n[rsgi]\nthreads=2\n";
        let got = ini(text, p(), None).unwrap();
        let keys: Vec<_> = got
            .iter()
            .map(|(k, v, l)| (k.as_str(), v.as_str(), *l))
            .collect();
        assert_eq!(
            keys,
            [
                ("processes", "4", 5),
                ("env", "A=1", 6),
                ("env", "B=2", 7),
                ("master", "", 8),
                ("threads", "2", 10)
            ]
        );
        assert_eq!(
            ini(text, p(), Some("other")).unwrap(),
            [("x".into(), "1".into(), 3)]
        );
        assert!(matches!(
            ini(text, p(), Some("nope")),
            Err(ConfigError::NoSection { .. })
        ));
        assert!(matches!(
            ini("[uwsgi\n", p(), None),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            ini("a = 1\n", p(), None),
            Err(ConfigError::NoSection { .. })
        ));
    }

    #[test]
    fn toml_reads_tables_and_arrays() {
        let text = "[uwsgi]\nprocesses = 4\nmaster = true\ntouch-reload = [\"a\", \"b\"]\n";
        let got = toml(text, p(), None).unwrap();
        assert_eq!(got[0], ("processes".into(), "4".into(), 2));
        assert_eq!(got.len(), 4);
        let top = toml("processes = 2\n", p(), None).unwrap();
        assert_eq!(top, [("processes".into(), "2".into(), 1)]);
        assert!(matches!(
            toml("processes = \n", p(), None),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn yaml_reads_mappings_and_sequences() {
        let text = "uwsgi:\n  processes: 4\n  env:\n    - A=1\n    - B=2\n";
        let got = yaml(text, p(), None).unwrap();
        assert_eq!(got[0], ("processes".into(), "4".into(), 2));
        assert_eq!(got[2].1, "B=2");
        assert!(matches!(
            yaml("other: {}\n", p(), None),
            Err(ConfigError::NoSection { .. })
        ));
        assert!(matches!(
            yaml("uwsgi: [\n", p(), None),
            Err(ConfigError::Syntax { .. })
        ));
    }

    /// Galaxy's sample config repeats keys in its uwsgi: mapping; each one
    /// is a value of a list, with its own line.
    #[test]
    fn yaml_repeated_keys_are_lists_with_their_lines() {
        let text = "# sample\nuwsgi:\n  static-map: /a=x\n  master:\t1 # comment\n\n  static-map: /b=y\n  empty:\nother:\n  static-map: z\n";
        let got = yaml(text, p(), None).unwrap();
        let keys: Vec<_> = got
            .iter()
            .map(|(k, v, l)| (k.as_str(), v.as_str(), *l))
            .collect();
        assert_eq!(
            keys,
            [
                ("static-map", "/a=x", 3),
                ("master", "1", 4),
                ("static-map", "/b=y", 6),
                ("empty", "true", 7)
            ]
        );
        let e = yaml("uwsgi:\n  a: 1\n  b: {c: 2}\n", p(), None).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
    }

    #[test]
    fn json_reads_sections_and_lists() {
        let text = "{\n  \"uwsgi\": {\n    \"processes\": 4,\n    \"env\": [\"A=1\", \"B=2\"],\n    \"master\": true\n  }\n}\n";
        let got = json(text, p(), None).unwrap();
        assert_eq!(got[0], ("processes".into(), "4".into(), 3));
        assert_eq!(got[2], ("env".into(), "B=2".into(), 4));
        assert_eq!(got[3], ("master".into(), "true".into(), 5));
        assert!(matches!(
            json("{\"uwsgi\": [}", p(), None),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }
}
