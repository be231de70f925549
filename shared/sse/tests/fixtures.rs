//! Every recorded provider stream must decode identically however the network splits it and
//! whichever line ending it uses.

use std::fs;
use std::path::{Path, PathBuf};

use colloquy_sse::{SseDecoder, SseError, SseEvent};

type Outcome = (Vec<SseEvent>, Result<(), SseError>);

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/providers")
}

fn collect_sse(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_sse(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "sse") {
            found.push(path);
        }
    }
}

fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = Vec::new();
    collect_sse(&fixtures_root(), &mut paths);
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no .sse fixtures under {:?}",
        fixtures_root()
    );
    paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut out).unwrap();
    }
    let end = decoder.finish();
    (out, end)
}

/// Whole, split in two at every offset, and byte by byte must all agree.
fn assert_split_invariant(name: &str, input: &[u8], whole: &Outcome) {
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        let split = decode_chunks([a, b]);
        assert!(&split == whole, "{name}: split at byte {at} differs");
    }
    assert_eq!(
        &decode_chunks(input.chunks(1)),
        whole,
        "{name}: byte by byte"
    );
}

/// A deliberately naive whole-body parser, as an independent oracle.
fn reference_parse(text: &str) -> Vec<(Option<String>, String)> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut events = Vec::new();
    let (mut event, mut data): (Option<String>, Vec<&str>) = (None, Vec::new());
    for line in text.split('\n') {
        if line.is_empty() {
            if !data.is_empty() {
                events.push((event.take(), data.join("\n")));
            }
            event = None;
            data.clear();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        } else if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.strip_prefix(' ').unwrap_or(value).to_owned());
        }
    }
    events
}

fn name_of(path: &Path) -> String {
    path.strip_prefix(fixtures_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn fixtures_decode_identically_at_every_split() {
    for (path, bytes) in fixtures() {
        let name = name_of(&path);
        let whole = decode_chunks([bytes.as_slice()]);
        let (events, end) = &whole;
        let text = std::str::from_utf8(&bytes).unwrap();
        // A recording of a stream cut mid-event legitimately ends Truncated.
        if text.ends_with("\n\n") {
            assert_eq!(end, &Ok(()), "{name}: body ends on a blank line");
        }
        assert!(!events.is_empty(), "{name}: no events");
        for event in events {
            if event.data != "[DONE]" {
                let parsed = serde_json::from_str::<serde_json::Value>(&event.data);
                assert!(parsed.is_ok(), "{name}: data is not JSON: {:?}", event.data);
            }
        }

        let got: Vec<(Option<String>, String)> = events
            .iter()
            .map(|e| (e.event.clone(), e.data.clone()))
            .collect();
        assert_eq!(got, reference_parse(text), "{name}: differs from reference");

        assert_split_invariant(&name, &bytes, &whole);
    }
}

#[test]
fn fixtures_decode_identically_with_crlf_and_cr_line_endings() {
    for (path, bytes) in fixtures() {
        let name = name_of(&path);
        let whole = decode_chunks([bytes.as_slice()]);
        let mut crlf = Vec::with_capacity(bytes.len() * 2);
        for &b in &bytes {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        let cr: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        for (ending, input) in [("CRLF", crlf), ("CR", cr)] {
            let name = format!("{name} ({ending})");
            assert_eq!(decode_chunks([input.as_slice()]), whole, "{name}: whole");
            assert_split_invariant(&name, &input, &whole);
        }
    }
}
