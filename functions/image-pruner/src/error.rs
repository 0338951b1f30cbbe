//! Why an invocation failed. Every failure happens before any deletion it would make unsafe:
//! the pruner never deletes on incomplete knowledge of what is in use.

use operator_common::settings::SettingError;

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The event is not one this function handles: nothing was asked of AWS.
    #[error("unsupported event: {0}")]
    UnsupportedEvent(String),
    /// An AWS call failed after the SDK's own retries.
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    /// A paginated call handed back a token it had already given (it would never end).
    #[error("{operation} repeated its page token {token:?}: stopped")]
    PagingLoop {
        operation: &'static str,
        token: String,
    },
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, PruneError>;
}

impl<T, E> AwsContext<T> for Result<T, E>
where
    E: std::error::Error + 'static,
{
    fn context(self, operation: &'static str) -> Result<T, PruneError> {
        self.map_err(|e| PruneError::Aws {
            operation,
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })
    }
}

pub type Result<T, E = PruneError> = std::result::Result<T, E>;
