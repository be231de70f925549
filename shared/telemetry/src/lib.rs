//! Telemetry for both services: log lines (text or JSON), OpenTelemetry spans exported over
//! OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C trace-context propagation across gRPC
//! and HTTP, and the Prometheus `/metrics` endpoint.

mod log_limit;
mod logs;
mod metrics_endpoint;
mod propagation;

pub use log_limit::LogLimiter;
pub use logs::{LogFormat, Telemetry, init};
pub use metrics_endpoint::serve_metrics;
pub use propagation::{
    inject_into_headers, inject_into_metadata, set_parent_from_metadata, traceparent,
};
