//! `logformat::Template`, the `--log-format` parser, and the request log
//! line it renders. Input: the option's value (taken as UTF-8, invalid
//! sequences replaced).
//!
//! Invariants: no panic; each `%(` outside a variable's parentheses
//! starts one of the template's variables (`%(name)`, a request's
//! `%(var.NAME)`, whose NAME may hold anything but `)`, or, for any other
//! name, the app's logvar, empty when unset); text outside
//! the variables comes out as written; the JSON form is one object
//! holding exactly the template's variables.

use rsgi_core::logformat::{Record, Template, var_name};

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let template = match Template::parse(&text) {
        Ok(t) => t,
        Err(reason) => {
            assert!(!reason.is_empty());
            assert!(text.contains("%("), "refused without a %(: {reason}");
            return;
        }
    };
    let vars: Vec<_> = template.vars().collect();
    let request_vars: Vec<_> = template.request_vars().collect();
    let logvars = template.logvars().count();

    let mut line = String::new();
    template.render(&record(), &mut line);
    // Walk the text and the line together: the text between variables
    // comes out as written, each variable as it renders alone.
    let mut rest: &str = &line;
    let mut source: &str = &text;
    let mut pieces = 0;
    while let Some(start) = source.find("%(") {
        pieces += 1;
        let end = start + source[start..].find(')').expect("closed") + 1;
        let name = &source[start + 2..end - 1];
        let literal = &source[..start];
        assert!(rest.starts_with(literal), "{literal:?} is not in {line:?}");
        rest = &rest[literal.len()..];
        let value_len = match name {
            // Now, in seconds: it may tick between two renderings, but
            // keeps its number of digits.
            "epoch" => {
                let len = rendered("epoch").len();
                assert!(
                    rest.get(..len)
                        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
                );
                len
            }
            // A request variable the record has no value for.
            n if n.starts_with("var.") => 1,
            n => {
                let alone = rendered(n);
                assert!(
                    rest.starts_with(&alone),
                    "%({n}) is not {alone:?} in {line:?}"
                );
                alone.len()
            }
        };
        rest = &rest[value_len..];
        source = &source[end..];
    }
    assert_eq!(rest, source, "the text after the last variable");
    assert_eq!(pieces, vars.len() + request_vars.len() + logvars);

    let json: serde_json::Value =
        serde_json::from_str(&record().to_json(Some(&template))).expect("JSON");
    let object = json.as_object().expect("an object");
    assert!(vars.iter().all(|v| object.contains_key(var_name(*v))));
    assert!(
        object
            .keys()
            .all(|k| vars.iter().any(|v| var_name(*v) == k))
    );
}

fn rendered(name: &str) -> String {
    let mut out = String::new();
    Template::parse(&format!("%({name})"))
        .expect("a known variable")
        .render(&record(), &mut out);
    out
}

/// A request with every field set to something hostile to a log line.
fn record() -> Record<'static> {
    Record {
        method: "GET",
        uri: "/a%(b)?c=\"d\"\n",
        proto: "HTTP/1.1",
        status: 200,
        rsize: 1 << 40,
        hsize: 180,
        micros: 1_500,
        start_us: 1_764_000_000_000_000,
        addr: "::1",
        referer: "%(uri)",
        uagent: "curl/8 \u{1b}[31m",
        pid: 7,
        wid: 1,
        vars: 12,
        pktsize: 300,
        headers: 3,
        ..Record::default()
    }
}
