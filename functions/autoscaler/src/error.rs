/// Why an invocation failed. A failed invocation is retried by Lambda (async event): only
/// AWS failures are worth retrying; a malformed payload fails the same way every time.
#[derive(Debug, thiserror::Error)]
pub enum AutoscalerError {
    /// The event is not a CloudWatch alarm state change: nothing was asked of AWS.
    #[error("malformed alarm event: {0}")]
    Malformed(String),
    /// An AWS call failed after the SDK's own retries (throttling, 5xx).
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, AutoscalerError>;
}

impl<T, E> AwsContext<T> for Result<T, E>
where
    E: std::error::Error + 'static,
{
    fn context(self, operation: &'static str) -> Result<T, AutoscalerError> {
        self.map_err(|e| AutoscalerError::Aws {
            operation,
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })
    }
}

pub type Result<T, E = AutoscalerError> = std::result::Result<T, E>;
