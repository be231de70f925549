//! Small JSON text helpers: string escaping, echoing request values, and pretty-printing
//! that keeps key order.
//!
//! Responses are assembled as text so their keys come out in the providers' own order
//! (serde_json's `Value` sorts keys) and so per-chunk work is plain string writing.

use serde_json::Value;

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a quoted JSON string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

/// A request value echoed back as JSON text, or `default` when absent or null.
pub(crate) fn echo(value: Option<&Value>, default: &str) -> String {
    match value {
        None | Some(Value::Null) => default.to_owned(),
        Some(v) => serde_json::to_string(v).unwrap_or_else(|_| default.to_owned()),
    }
}

/// Re-indents compact JSON text by `indent` per level, the way OpenAI pretty-prints bodies;
/// empty objects and arrays stay on one line.
pub(crate) fn pretty(compact: &str, indent: &str) -> String {
    let bytes = compact.as_bytes();
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                // Copy the whole string literal, honouring escapes.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(bytes.len());
                out.push_str(&compact[start..end]);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                if bytes.get(i + 1) == Some(&close) {
                    out.push(char::from(b));
                    out.push(char::from(close));
                    i += 1;
                } else {
                    out.push(char::from(b));
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(char::from(b));
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => {
                // Numbers and literals are ASCII; copy up to the next structural byte.
                let start = i;
                while i + 1 < bytes.len() && !b",:{}[]\" \n\r\t".contains(&bytes[i + 1]) {
                    i += 1;
                }
                out.push_str(&compact[start..=i]);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(quote("héllo"), "\"héllo\"");
    }

    #[test]
    fn pretty_keeps_order_and_parses() {
        let compact = r#"{"z":1,"a":[],"m":{"x":"a,b:{c}","y":[1,2.5,true,null]},"e":{}}"#;
        let p = pretty(compact, "  ");
        assert!(p.starts_with("{\n  \"z\": 1,\n  \"a\": [],\n  \"m\": {\n    \"x\": \"a,b:{c}\""));
        let a: Value = serde_json::from_str(compact).unwrap();
        let b: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn echo_defaults() {
        assert_eq!(echo(None, "null"), "null");
        assert_eq!(echo(Some(&Value::Null), "1.0"), "1.0");
        assert_eq!(
            echo(Some(&serde_json::json!({"a":1})), "null"),
            r#"{"a":1}"#
        );
    }
}
