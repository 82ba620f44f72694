//! The three file formats, each read into `(key, value, line)` triples of
//! the wanted section. Repeated keys (ini) and arrays (TOML, YAML) become
//! one triple per value, which is how lists accumulate.

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
/// `key` meaning true. Values are taken as written (no unescaping).
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
            None => (line, "true"),
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

/// The line where `key` is first set at or after `from` (for messages).
fn line_of(text: &str, key: &str, seps: &[char]) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('-').trim_start();
            let l = l
                .strip_prefix('"')
                .and_then(|r| r.strip_prefix(key))
                .and_then(|r| r.strip_prefix('"'))
                .or_else(|| l.strip_prefix(key));
            l.is_some_and(|r| r.trim_start().starts_with(seps))
        })
        .map_or(0, |i| i + 1)
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
            let line = line_of(text, key, &['=']);
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

pub fn yaml(text: &str, path: &Path, section: Option<&str>) -> Result<Pairs, ConfigError> {
    use serde_yaml_ng::Value;
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.location().map_or(0, |l| l.line()),
        reason: e.to_string(),
    })?;
    let Value::Mapping(top) = doc else {
        return Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            reason: "expected a mapping with a uwsgi: or rsgi: key".into(),
        });
    };
    let sections = wanted(section);
    let maps: Vec<&serde_yaml_ng::Mapping> = sections
        .iter()
        .filter_map(|s| top.get(*s).and_then(Value::as_mapping))
        .collect();
    if maps.is_empty() {
        let found = top
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        return Err(no_section(path, section, found));
    }
    let mut out = Vec::new();
    for map in maps {
        for (k, v) in map {
            let key = yaml_scalar(k).unwrap_or_default();
            let line = line_of(text, &key, &[':']);
            let values = match v {
                Value::Sequence(items) => items.iter().map(yaml_scalar).collect::<Option<Vec<_>>>(),
                v => yaml_scalar(v).map(|s| vec![s]),
            };
            let values = values.ok_or_else(|| ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                reason: format!("{key}: expected a string, number, boolean or list of them"),
            })?;
            out.extend(values.into_iter().map(|v| (key.clone(), v, line)));
        }
    }
    Ok(out)
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("true".into()),
        _ => None,
    }
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
                ("master", "true", 8),
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
}
