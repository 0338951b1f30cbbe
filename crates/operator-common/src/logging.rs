//! Log lines as Lambda's logging controls ask for them, set up as lambda_runtime's own
//! `init_default_subscriber` does: the level from `AWS_LAMBDA_LOG_LEVEL` (the template's
//! `ApplicationLogLevel`), else `RUST_LOG`, else `INFO`; one JSON object per line when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template's `LogFormat`), else text. Every line written
//! during an invocation carries its span: `"span":{"requestId":…,"xrayTraceId":…}` (the
//! span list, which only repeats it, is left out).

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Lambda's level names; FATAL, which tracing has not, is ERROR.
fn level(name: Option<&str>) -> LevelFilter {
    match name.map(str::to_ascii_uppercase).as_deref() {
        Some("FATAL") => LevelFilter::ERROR,
        Some(other) => other.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

/// Installs the subscriber. Call once, first thing in `main` (the runner does).
pub fn init() {
    let from_lambda = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let filter = match from_lambda {
        Some(name) => EnvFilter::default().add_directive(level(Some(&name)).into()),
        // RUST_LOG may hold directives (`info,aws_smithy_runtime=debug`).
        None => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .from_env_lossy(),
    };
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time(); // Lambda stamps every line itself
    let _ = if json {
        lines.json().with_span_list(false).try_init()
    } else {
        lines.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_names_are_read() {
        assert_eq!(level(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(level(Some("warn")), LevelFilter::WARN);
        assert_eq!(level(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(level(Some("loud")), LevelFilter::INFO);
        assert_eq!(level(None), LevelFilter::INFO);
    }
}
