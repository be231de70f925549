//! The passes of a request run in several, as the `turns.usage_iterations` column keeps them:
//! a JSON array of `{kind, model, <token classes>}`.

use colloquy_records::{Usage, UsageIteration};
use serde_json::{Value, json};

pub fn iterations_to_json(iterations: &[UsageIteration]) -> Option<String> {
    if iterations.is_empty() {
        return None;
    }
    let rows: Vec<Value> = iterations
        .iter()
        .map(|it| {
            let mut row = json!({"kind": it.kind, "model": it.model});
            for (class, count) in it.usage.counts() {
                row[class] = count.into();
            }
            row
        })
        .collect();
    Some(Value::Array(rows).to_string())
}

pub fn iterations_from_json(json: &str) -> Result<Vec<UsageIteration>, String> {
    let rows: Vec<Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|row| {
            let count = |class: &str| row[class].as_u64().unwrap_or(0);
            UsageIteration {
                kind: row["kind"].as_str().unwrap_or_default().to_string(),
                model: row["model"].as_str().map(str::to_string),
                usage: Usage {
                    input_tokens: count("input_tokens"),
                    output_tokens: count("output_tokens"),
                    cached_input_tokens: count("cached_input_tokens"),
                    cache_creation_input_tokens: count("cache_creation_input_tokens"),
                    reasoning_tokens: count("reasoning_tokens"),
                    cache_creation_1h_input_tokens: count("cache_creation_1h_input_tokens"),
                    web_search_calls: count("web_search_calls"),
                    web_fetch_calls: count("web_fetch_calls"),
                    file_search_calls: count("file_search_calls"),
                    code_interpreter_containers: count("code_interpreter_containers"),
                    reconciled: false,
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let iterations = vec![UsageIteration {
            kind: "advisor_message".into(),
            model: Some("claude-opus-4-8".into()),
            usage: Usage {
                input_tokens: 2543,
                output_tokens: 18,
                ..Usage::default()
            },
        }];
        let json = iterations_to_json(&iterations).unwrap();
        assert_eq!(iterations_from_json(&json).unwrap(), iterations);
        assert_eq!(iterations_to_json(&[]), None);
    }
}
