use operator_common::custom_resource::Failure;
use operator_common::properties::PropertyError;

/// Why a resource operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad input: nothing was touched in AWS.
    #[error(transparent)]
    Property(#[from] PropertyError),
    /// An AWS call failed after the SDK's own retries (throttling, 5xx).
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
        /// What a failed Create had already made, for CloudFormation's rollback to delete.
        made: Option<String>,
    },
    /// A change the resource cannot make safely, explained.
    #[error("{0}")]
    Refused(String),
}

impl ProvisionError {
    /// Records that `id` already exists when this error happened during a Create.
    pub fn made(self, id: &str) -> Self {
        match self {
            ProvisionError::Aws {
                operation, message, ..
            } => ProvisionError::Aws {
                operation,
                message,
                made: Some(id.to_string()),
            },
            other => other,
        }
    }

    pub fn into_failure(self) -> Failure {
        let made = match &self {
            ProvisionError::Aws { made, .. } => made.clone(),
            _ => None,
        };
        let failure = Failure::new(self.to_string());
        match made {
            Some(id) => failure.with_physical_id(id),
            None => failure,
        }
    }
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, ProvisionError>;
}

impl<T, E> AwsContext<T> for Result<T, E>
where
    E: std::error::Error + 'static,
{
    fn context(self, operation: &'static str) -> Result<T, ProvisionError> {
        self.map_err(|e| ProvisionError::Aws {
            operation,
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            made: None,
        })
    }
}

pub type Result<T, E = ProvisionError> = std::result::Result<T, E>;
