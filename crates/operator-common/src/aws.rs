//! AWS SDK configuration, loaded once per execution environment and only when first needed,
//! on the process's one HTTPS client ([`crate::http`]: compiled-in roots, no trust store read),
//! with explicit timeouts and retries.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// One attempt of one AWS call (connect, send, read the whole answer). A stalled read fails
/// the attempt and is retried, instead of waiting for the function's own deadline.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One AWS call, all of its attempts and backoffs included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call (the first and two retries), standard retry mode: exponential backoff
/// with jitter, throttling and transient errors retried.
pub const MAX_ATTEMPTS: u32 = 3;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The timeouts every client of this process gets.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(crate::http::CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every client of this process gets.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_max_backoff(MAX_BACKOFF)
}

/// The shared SDK configuration. Honours the standard environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, credentials), which is how tests and the
/// local demo point the functions at moto server.
pub async fn config() -> &'static SdkConfig {
    CONFIG.get_or_init(load).await
}

async fn load() -> SdkConfig {
    // The HTTPS client and its TLS configuration, built now rather than on the first request.
    let _ = crate::http::client();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::http::sdk_client())
        .timeout_config(timeout_config())
        .retry_config(retry_config());
    // Lambda gives the execution role's credentials in the environment. The default chain
    // would find them there too, but building it builds an STS client for web identity first:
    // a sixth of a cold start's instructions (README, "Cold start").
    let loader = if credentials_in_env() {
        loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
    } else {
        loader
    };
    // Likewise the region: Lambda sets AWS_REGION, and the default chain builds an instance
    // metadata client to look further.
    let loader = match std::env::var("AWS_REGION") {
        Ok(region) if !region.is_empty() => loader.region(aws_config::Region::new(region)),
        _ => loader,
    };
    loader.load().await
}

/// Whether the environment holds credentials (Lambda's always does).
fn credentials_in_env() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// A client of SDK crate `$sdk` built from `$config` with the [`ApiCallCounter`]:
/// `counted_client!(aws_sdk_ecs, &config)`.
#[macro_export]
macro_rules! counted_client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .interceptor($crate::aws::ApiCallCounter)
                .build(),
        )
    };
}

/// Counts the HTTP requests the AWS SDK sends (every attempt, retries included), so that each
/// invocation can report how many calls it made. Add it to a client's config:
/// `aws_sdk_ecs::config::Builder::from(config).interceptor(ApiCallCounter).build()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiCallCounter;

static API_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl aws_smithy_runtime_api::client::interceptors::Intercept for ApiCallCounter {
    fn name(&self) -> &'static str {
        "ApiCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        API_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// AWS requests sent by this process so far (read it before and after an invocation).
pub fn api_calls() -> u64 {
    API_CALLS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A short, readable message for an SDK error: the service's code and message when AWS
/// answered, else the whole error chain (timeouts, connection failures).
pub fn error_message<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or("(no message)")
            )
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shared_config_carries_the_timeouts_the_retries_and_the_one_http_client() {
        let config = load().await;
        let timeouts = config.timeout_config().expect("timeouts are set");
        assert_eq!(
            timeouts.connect_timeout(),
            Some(crate::http::CONNECT_TIMEOUT)
        );
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(ATTEMPT_TIMEOUT * MAX_ATTEMPTS >= OPERATION_TIMEOUT);
        let retry = config.retry_config().expect("retries are set");
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.max_backoff(), MAX_BACKOFF);
        assert!(
            config.http_client().is_some(),
            "the process's own HTTPS client"
        );
    }
}
