//! Recognises dated snapshot suffixes on model ids so that a resolved snapshot
//! (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`) can be priced by its base name.

/// The model id without its dated snapshot suffix, or `None` when it has none.
///
/// Two suffix styles are recognised, both preceded by `-` and both requiring a plausible
/// month (01–12) and day (01–31) so that other numeric suffixes are left alone:
/// `-YYYY-MM-DD` (OpenAI) and `-YYYYMMDD` (Anthropic, OpenRouter).
pub fn strip_snapshot_suffix(model: &str) -> Option<&str> {
    strip_dashed_date(model).or_else(|| strip_compact_date(model))
}

/// `name-2024-08-06` → `name`.
fn strip_dashed_date(model: &str) -> Option<&str> {
    let (rest, day) = model.rsplit_once('-')?;
    let (rest, month) = rest.rsplit_once('-')?;
    let (base, year) = rest.rsplit_once('-')?;
    is_date(year, month, day)
        .then_some(base)
        .filter(|base| !base.is_empty())
}

/// `name-20241022` → `name`.
fn strip_compact_date(model: &str) -> Option<&str> {
    let (base, date) = model.rsplit_once('-')?;
    // `get` keeps slicing on char boundaries; a non-ASCII suffix simply does not match.
    let (year, month, day) = (date.get(..4)?, date.get(4..6)?, date.get(6..)?);
    (date.len() == 8 && is_date(year, month, day))
        .then_some(base)
        .filter(|base| !base.is_empty())
}

fn is_date(year: &str, month: &str, day: &str) -> bool {
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return false;
    }
    let in_range = |part: &str, max: u8| {
        part.parse::<u8>()
            .is_ok_and(|value| (1..=max).contains(&value))
    };
    in_range(month, 12) && in_range(day, 31)
}

#[cfg(test)]
mod tests {
    use super::strip_snapshot_suffix;

    #[test]
    fn strips_openai_dashed_dates() {
        assert_eq!(strip_snapshot_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(
            strip_snapshot_suffix("gpt-4o-mini-2024-07-18"),
            Some("gpt-4o-mini")
        );
        assert_eq!(strip_snapshot_suffix("gpt-4.1-2025-04-14"), Some("gpt-4.1"));
        assert_eq!(strip_snapshot_suffix("gpt-5-2025-08-07"), Some("gpt-5"));
    }

    #[test]
    fn strips_compact_dates() {
        assert_eq!(
            strip_snapshot_suffix("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(
            strip_snapshot_suffix("claude-sonnet-4-5-20250929"),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            strip_snapshot_suffix("anthropic/claude-4.6-sonnet-20260217"),
            Some("anthropic/claude-4.6-sonnet")
        );
    }

    #[test]
    fn leaves_other_ids_alone() {
        for model in [
            "gpt-4o",
            "claude-sonnet-5",
            "gpt-5.1-chat-latest",
            "o3",
            "claude-3-5-sonnet-2024102",
            "model-20241322",
            "model-2024-13-01",
            "model-2024-01-00",
            "20241022",
            "-20241022",
            "x-2024-1-01",
            "modèle-2024é",
        ] {
            assert_eq!(strip_snapshot_suffix(model), None, "{model}");
        }
    }
}
