//! The options as uWSGI exports them to apps (`uwsgi.opt`): every key
//! read, as written, in order, custom keys included (core/config.c
//! `add_exported_option`), and the dict view its Python plugin builds
//! from them (plugins/python/python_plugin.c): a key written once maps to
//! its value, a key written again to the list of its values.

use std::collections::HashSet;

use super::error::Origin;
use super::options;
use super::source::Entry;

/// One option as uWSGI exports it: the key as written, and its value, or
/// `None` for a switch given bare on the command line (uWSGI passes no
/// argument for it, and apps see `True`).
pub type Exported = (String, Option<String>);

/// The entries as exported, leaving out `set-placeholder` variables
/// (uWSGI keeps those out too: they are placeholders, not options).
pub fn exported(entries: &[Entry], variables: &HashSet<String>) -> Vec<Exported> {
    entries
        .iter()
        .filter(|e| !variables.contains(&e.key))
        .map(|e| {
            let bare_switch = e.origin == Origin::CommandLine
                && options::find(&e.key).is_some_and(|o| o.bare == Some(e.value.as_str()));
            (e.key.clone(), (!bare_switch).then(|| e.value.clone()))
        })
        .collect()
}

/// A `uwsgi.opt` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptValue<'a> {
    One(Option<&'a str>),
    /// A key written more than once: every value, in order.
    Many(Vec<Option<&'a str>>),
}

/// The `uwsgi.opt` dict, keys in the order first written.
pub fn opt_view(exported: &[Exported]) -> Vec<(&str, OptValue<'_>)> {
    let mut view: Vec<(&str, OptValue<'_>)> = Vec::new();
    for (key, value) in exported {
        let value = value.as_deref();
        match view.iter_mut().find(|(k, _)| *k == key) {
            None => view.push((key, OptValue::One(value))),
            Some((_, slot)) => match slot {
                OptValue::One(first) => *slot = OptValue::Many(vec![*first, value]),
                OptValue::Many(all) => all.push(value),
            },
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn entry(key: &str, value: &str, origin: Origin) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            origin,
        }
    }

    #[test]
    fn bare_switches_on_the_command_line_are_true_and_file_values_are_kept() {
        let file = Origin::File {
            path: PathBuf::from("app.ini"),
            line: 1,
        };
        let entries = [
            entry("master", "true", Origin::CommandLine),
            entry("master", "true", file.clone()),
            entry("workers", "4", Origin::CommandLine),
            entry("my-setting", "on", file.clone()),
            entry("hidden", "x", file),
        ];
        let variables = HashSet::from(["hidden".to_string()]);
        assert_eq!(
            exported(&entries, &variables),
            vec![
                ("master".to_string(), None),
                ("master".to_string(), Some("true".to_string())),
                ("workers".to_string(), Some("4".to_string())),
                ("my-setting".to_string(), Some("on".to_string())),
            ]
        );
    }

    /// Exported options, and the `uwsgi.opt` they make.
    type Case<'a> = (&'a [Exported], Vec<(&'a str, OptValue<'a>)>);

    #[test]
    fn repeated_keys_become_lists_in_first_seen_order() {
        let e = |k: &str, v: Option<&str>| (k.to_string(), v.map(String::from));
        let table: &[Case<'_>] = &[
            (&[], vec![]),
            (
                &[e("socket", Some(":3031"))],
                vec![("socket", OptValue::One(Some(":3031")))],
            ),
            (
                &[
                    e("socket", Some(":1")),
                    e("master", None),
                    e("socket", Some(":2")),
                    e("socket", Some(":3")),
                ],
                vec![
                    (
                        "socket",
                        OptValue::Many(vec![Some(":1"), Some(":2"), Some(":3")]),
                    ),
                    ("master", OptValue::One(None)),
                ],
            ),
            (
                &[e("env", None), e("env", Some("A=1"))],
                vec![("env", OptValue::Many(vec![None, Some("A=1")]))],
            ),
        ];
        for (input, want) in table {
            assert_eq!(&opt_view(input), want, "{input:?}");
        }
    }
}
