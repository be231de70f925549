//! Random bytes in random chunkings: the decoder must never panic, and the outcome (events and
//! error) must not depend on where the chunks were split.

use colloquy_sse::{SseDecoder, SseError, SseEvent};

/// Knuth's MMIX LCG; deterministic so any failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
}

/// Bytes that matter to the parser are over-represented so random input hits real edge cases.
const TOKENS: &[&[u8]] = &[
    b":",
    b" ",
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"id:",
    b"retry:",
    b"123",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xF0\x9F\x98",
    "\u{e9}\u{1F600}".as_bytes(),
    b"[DONE]",
    b"{\"a\":1}",
];

/// Line openings, weighted towards `data` so that events are dispatched.
const FIELDS: &[&[u8]] = &[
    b"data: ", b"data: ", b"data:", b"data", b"event: ", b"id: ", b"retry: ", b":",
];

const LINE_ENDS: &[&[u8]] = &[b"\n", b"\r", b"\r\n"];

/// Lines of random tokens and bytes, often blank so events get dispatched, with mixed line
/// endings and a random cut at the end.
fn random_input(rng: &mut Lcg) -> Vec<u8> {
    let mut input = Vec::new();
    for _ in 0..rng.below(20) {
        if rng.below(3) != 0 {
            if rng.below(4) != 0 {
                input.extend_from_slice(FIELDS[rng.below(FIELDS.len())]);
            }
            for _ in 0..rng.below(4) {
                if rng.below(5) == 0 {
                    input.push(rng.next() as u8);
                } else {
                    input.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
                }
            }
        }
        input.extend_from_slice(LINE_ENDS[rng.below(LINE_ENDS.len())]);
    }
    if rng.below(4) == 0 {
        input.truncate(rng.below(input.len() + 1));
    }
    input
}

fn decode(limit: usize, chunks: &[&[u8]]) -> (Vec<SseEvent>, Result<(), SseError>) {
    let mut decoder = SseDecoder::with_max_event_bytes(limit);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(err) = decoder.feed(chunk, &mut out) {
            return (out, Err(err));
        }
    }
    let end = decoder.finish();
    (out, end)
}

fn random_chunks<'a>(rng: &mut Lcg, input: &'a [u8]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rng.below(rest.len() + 1));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

#[test]
fn random_garbage_never_panics_and_ignores_chunking() {
    let mut rng = Lcg(0x5EED_C011_0000);
    let (mut events, mut too_large, mut truncated) = (0, 0, 0);
    for case in 0..20_000 {
        let input = random_input(&mut rng);
        let limit = if rng.below(4) == 0 {
            4 + rng.below(32)
        } else {
            usize::MAX
        };
        let whole = decode(limit, &[&input]);
        for _ in 0..4 {
            let chunks = random_chunks(&mut rng, &input);
            assert_eq!(
                decode(limit, &chunks),
                whole,
                "case {case}: input {input:?} chunks {chunks:?} limit {limit}"
            );
        }
        assert!(whole.0.iter().all(|e| e.data.len() <= limit));
        events += whole.0.len();
        match whole.1 {
            Err(SseError::EventTooLarge { .. }) => too_large += 1,
            Err(SseError::Truncated { .. }) => truncated += 1,
            _ => {}
        }
    }
    // Guards against a generator that stopped reaching the interesting paths.
    assert!(events > 10_000, "{events} events");
    assert!(too_large > 500, "{too_large} oversized");
    assert!(truncated > 1000, "{truncated} truncated");
}
