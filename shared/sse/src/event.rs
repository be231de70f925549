/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `None` when the event carried none (the spec's default type
    /// `message`).
    pub event: Option<String>,
    /// All `data:` lines of the event joined with `\n`, without a trailing newline.
    pub data: String,
    /// The stream's last event ID at dispatch time. Per spec an `id:` field persists across
    /// later events until another `id:` replaces it; `None` while it is empty.
    pub id: Option<String>,
    /// The `retry:` value (milliseconds) given inside this event, if any.
    pub retry: Option<u64>,
}
