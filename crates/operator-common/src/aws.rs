//! AWS SDK configuration, loaded once per execution environment and only when first needed:
//! loading it reads the system trust store, which would otherwise dominate the cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The shared SDK configuration. Honours the standard environment (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, credentials), which is how tests and the
/// local demo point the functions at moto server.
pub async fn config() -> &'static SdkConfig {
    CONFIG
        .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
        .await
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
