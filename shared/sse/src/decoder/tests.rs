use super::*;

fn ev(data: &str) -> SseEvent {
    SseEvent {
        data: data.to_owned(),
        ..SseEvent::default()
    }
}

/// Decodes `input` fed as the given chunks; returns the events and the `finish` result.
fn run_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, Result<(), SseError>) {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut out).unwrap();
    }
    let end = decoder.finish();
    (out, end)
}

/// Decodes `input` whole, split at every offset, and byte by byte; all must agree.
fn run(input: &[u8]) -> (Vec<SseEvent>, Result<(), SseError>) {
    let whole = run_chunks(&[input]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(run_chunks(&[a, b]), whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_chunks(&bytes), whole, "byte by byte");
    whole
}

#[test]
fn multi_line_data_joins_with_newline() {
    let (events, end) = run(b"data: first\ndata: second\ndata:\n\n");
    assert_eq!(events, vec![ev("first\nsecond\n")]);
    assert_eq!(end, Ok(()));
}

#[test]
fn comments_are_ignored() {
    let input = b": OPENROUTER PROCESSING\n\n: ping\ndata: x\n:mid\n\n";
    let (events, end) = run(input);
    assert_eq!(events, vec![ev("x")]);
    assert_eq!(end, Ok(()));
}

#[test]
fn space_after_colon_is_optional_and_stripped_once() {
    let (events, _) = run(b"data:a\n\ndata: b\n\ndata:  c\n\n");
    assert_eq!(events, vec![ev("a"), ev("b"), ev(" c")]);
}

#[test]
fn field_without_colon_has_empty_value() {
    // `data` alone appends an empty line, so the event is dispatched with empty data.
    let (events, _) = run(b"data\n\ndata\ndata\n\nevent\ndata: x\n\n");
    assert_eq!(events, vec![ev(""), ev("\n"), ev("x")]);
}

#[test]
fn event_type_is_reset_even_when_nothing_is_dispatched() {
    let (events, end) = run(b"event: ping\n\ndata: x\n\nevent: delta\ndata: y\n\n");
    let delta = SseEvent {
        event: Some("delta".into()),
        ..ev("y")
    };
    assert_eq!(events, vec![ev("x"), delta]);
    assert_eq!(end, Ok(()));
}

#[test]
fn id_persists_and_is_ignored_when_it_contains_nul() {
    let input = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid\ndata: d\n\n";
    let (events, _) = run(input);
    let ids: Vec<Option<&str>> = events.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, vec![Some("1"), Some("1"), Some("1"), None]);
}

#[test]
fn retry_accepts_digits_only() {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    let input = b"retry: 1500\ndata: a\n\nretry: 12x\ndata: b\n\nretry:\ndata: c\n\n\
                  retry: 99999999999999999999999\ndata: d\n\nretry: 7\n\n";
    decoder.feed(input, &mut out).unwrap();
    let retries: Vec<Option<u64>> = out.iter().map(|e| e.retry).collect();
    assert_eq!(retries, vec![Some(1500), None, None, None]);
    assert_eq!(decoder.reconnection_time(), Some(7));
}

#[test]
fn unknown_fields_are_ignored() {
    let (events, _) = run(b"foo: bar\ndata: x\nDATA: y\n\n");
    assert_eq!(events, vec![ev("x")]);
}

#[test]
fn trailing_event_without_blank_line_is_truncated() {
    let (events, end) = run(b"data: a\n\ndata: [DONE]\n");
    assert_eq!(events, vec![ev("a")]);
    assert_eq!(end, Err(SseError::Truncated { pending_bytes: 12 }));

    let (events, end) = run(b"data: a\n\ndata: [DO");
    assert_eq!(events, vec![ev("a")]);
    assert_eq!(end, Err(SseError::Truncated { pending_bytes: 9 }));
}

#[test]
fn trailing_comment_line_is_not_truncation() {
    assert_eq!(run(b"data: a\n\n: bye\n").1, Ok(()));
    assert_eq!(run(b"").1, Ok(()));
    assert_eq!(run(b"\xEF\xBB\xBF").1, Ok(()));
}

#[test]
fn leading_bom_is_stripped_once() {
    let (events, _) = run(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n");
    // The second BOM is part of a field name, which is then unknown.
    assert_eq!(events, vec![ev("a")]);
}

#[test]
fn multi_byte_characters_survive_any_split() {
    let (events, _) = run("data: héllo – 😀 世界\n\n".as_bytes());
    assert_eq!(events, vec![ev("héllo – 😀 世界")]);
}

#[test]
fn invalid_utf8_becomes_replacement_character() {
    let (events, _) = run(b"data: a\xFFb\xF0\x9F\n\n");
    assert_eq!(events, vec![ev("a\u{FFFD}b\u{FFFD}")]);
}

#[test]
fn all_line_endings_are_accepted() {
    let expected = vec![ev("a\nb"), ev("c")];
    assert_eq!(
        run(b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n").0,
        expected
    );
    assert_eq!(run(b"data: a\rdata: b\r\rdata: c\r\r").0, expected);
    assert_eq!(run(b"data: a\ndata: b\r\n\rdata: c\n\r\n").0, expected);
}

#[test]
fn split_crlf_is_one_line_end_even_across_empty_chunks() {
    let (events, end) = run_chunks(&[b"data: a\r", b"", b"\n", b"data: b\r", b"\n\r", b"\n"]);
    assert_eq!(events, vec![ev("a\nb")]);
    assert_eq!(end, Ok(()));
}

#[test]
fn oversized_line_is_rejected_and_poisons_the_decoder() {
    let mut decoder = SseDecoder::with_max_event_bytes(16);
    let mut out = Vec::new();
    decoder.feed(b"data: ok\n\ndata: 0123", &mut out).unwrap();
    let err = decoder.feed(b"456789abcdef\n\n", &mut out);
    assert_eq!(err, Err(SseError::EventTooLarge { limit: 16 }));
    assert_eq!(out, vec![ev("ok")]);
    assert_eq!(decoder.feed(b"\n", &mut out), err);
    assert_eq!(decoder.finish(), err);
}

#[test]
fn unterminated_flood_is_bounded() {
    let mut decoder = SseDecoder::with_max_event_bytes(1024);
    let mut out = Vec::new();
    let chunk = [b'x'; 100];
    let mut result = Ok(());
    for _ in 0..100 {
        result = decoder.feed(&chunk, &mut out);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(SseError::EventTooLarge { limit: 1024 }));
    assert!(decoder.partial.capacity() <= 2048);
}

#[test]
fn oversized_event_data_is_rejected() {
    let mut decoder = SseDecoder::with_max_event_bytes(16);
    let mut out = Vec::new();
    let err = decoder.feed(b"data: 01234567\ndata: 01234567\n\n", &mut out);
    assert_eq!(err, Err(SseError::EventTooLarge { limit: 16 }));
    assert!(out.is_empty());
}

#[test]
fn done_sentinel_is_an_ordinary_event() {
    let (events, _) = run(b"data: [DONE]\n\n");
    assert_eq!(events, vec![ev("[DONE]")]);
}

#[test]
fn finish_resets_line_state_but_keeps_last_event_id() {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder
        .feed(b"id: 7\ndata: a\n\ndata: cut", &mut out)
        .unwrap();
    assert!(decoder.finish().is_err());
    decoder.feed(b"\xEF\xBB\xBFdata: b\n\n", &mut out).unwrap();
    assert_eq!(decoder.finish(), Ok(()));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].data, "b");
    assert_eq!(out[1].id.as_deref(), Some("7"));
    assert_eq!(decoder.last_event_id(), "7");
}
