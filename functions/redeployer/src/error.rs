/// Why a push could not be handled. Returned as the invocation's error, so that Lambda
/// retries the asynchronous event.
#[derive(Debug, thiserror::Error)]
pub enum RedeployError {
    #[error("not an ECR Image Action event: {0}")]
    Malformed(String),
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unusable(String),
}

pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, RedeployError>;
}

impl<T, E, R> AwsContext<T> for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn context(self, operation: &'static str) -> Result<T, RedeployError> {
        self.map_err(|e| RedeployError::Aws {
            operation,
            message: operator_common::aws::error_message(&e),
        })
    }
}
