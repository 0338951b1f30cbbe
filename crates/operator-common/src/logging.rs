//! Log lines as Lambda's logging controls ask for them, set up as lambda_runtime's own
//! `init_default_subscriber` does: the level from `AWS_LAMBDA_LOG_LEVEL` (the template's
//! `ApplicationLogLevel`), else `RUST_LOG`, else `INFO`; one JSON object per line when
//! `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the template's `LogFormat`), else text. Every line written
//! during an invocation carries its span: `"span":{"requestId":…,"xrayTraceId":…}` (the
//! span list, which only repeats it, is left out). The AWS SDK's own lines stop at DEBUG,
//! whatever the level: at TRACE it prints whole requests and responses.

use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

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
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = tracing::subscriber::set_global_default(subscriber(json, filter(), std::io::stdout));
}

/// The SDK's crates (aws_smithy_runtime, aws_sigv4, aws_sdk_*, aws_config…) never above DEBUG:
/// at TRACE they print whole responses (a secret's ARN, a task definition's environment) and
/// the signed request. A filter of its own, so no directive (`RUST_LOG=aws_smithy_runtime=trace`)
/// can lift it.
fn sdk_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("aws_", LevelFilter::DEBUG)
}

fn filter() -> EnvFilter {
    match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(name) => EnvFilter::default().add_directive(level(Some(&name)).into()),
        // RUST_LOG may hold directives (`info,aws_smithy_runtime=debug`).
        Err(_) => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .from_env_lossy(),
    }
}

fn subscriber<W>(
    json: bool,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .without_time(); // Lambda stamps every line itself
    if json {
        Box::new(lines.json().with_span_list(false).finish().with(sdk_cap()))
    } else {
        Box::new(lines.finish().with(sdk_cap()))
    }
}

/// Log lines kept in memory, for tests: a writer for `tracing_subscriber::fmt().with_writer(..)`.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[cfg(test)]
impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
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

    #[test]
    fn a_json_line_written_in_an_invocation_carries_its_request_id() {
        let out = Captured::default();
        let subscriber = subscriber(true, EnvFilter::new("info"), out.clone());
        tracing::subscriber::with_default(subscriber, || {
            // The span lambda_runtime opens around each invocation.
            let _in = tracing::info_span!("Lambda runtime invoke", requestId = "r-1").entered();
            tracing::info!(decision = "nothing", "reconciled");
        });
        let line: serde_json::Value = serde_json::from_str(out.text().trim()).unwrap();
        assert_eq!(line["span"]["requestId"], "r-1", "{line}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "reconciled");
        assert_eq!(line["fields"]["decision"], "nothing");
        assert!(
            line.get("spans").is_none(),
            "the span list only repeats it: {line}"
        );
    }

    #[test]
    fn the_sdk_logs_at_most_debug_whatever_the_level() {
        // AWS_LAMBDA_LOG_LEVEL=TRACE, and RUST_LOG directives naming the SDK's crates.
        for directives in ["trace", "aws_smithy_runtime=trace,aws_sigv4=trace,trace"] {
            let out = Captured::default();
            let subscriber = subscriber(true, EnvFilter::new(directives), out.clone());
            tracing::subscriber::with_default(subscriber, || {
                let secret = "arn:aws:secretsmanager:us-east-1:1:secret:SECRET-ARN";
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", body = secret, "response");
                tracing::trace!(target: "aws_sigv4::http_request::sign", "canonical request TRACE-SIGV4");
                tracing::trace!(target: "aws_sdk_ecs::operation", "TRACE-ECS");
                tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "DEBUG-SDK");
                tracing::trace!(target: "provisioner::service", "TRACE-OWN");
            });
            let text = out.text();
            assert!(
                text.contains("DEBUG-SDK") && text.contains("TRACE-OWN"),
                "{directives}: {text}"
            );
            for hidden in ["SECRET-ARN", "TRACE-SIGV4", "TRACE-ECS"] {
                assert!(!text.contains(hidden), "{directives}: {hidden} in {text}");
            }
        }
    }
}
