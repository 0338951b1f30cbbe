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
    },
    /// A change the resource cannot make safely, or a deployment that failed, explained.
    #[error("{0}")]
    Refused(String),
    /// A failure after something was already made, so that CloudFormation's rollback
    /// Delete (which gets this id) cleans it up.
    #[error("{source}")]
    AfterMaking {
        source: Box<ProvisionError>,
        physical_id: String,
    },
}

impl ProvisionError {
    /// Records that `physical_id` exists by the time this error happened.
    pub fn made(self, physical_id: &str) -> Self {
        match self {
            already @ ProvisionError::AfterMaking { .. } => already,
            source => ProvisionError::AfterMaking {
                source: Box::new(source),
                physical_id: physical_id.to_string(),
            },
        }
    }

    pub fn into_failure(self) -> Failure {
        let failure = Failure::new(self.to_string());
        match self {
            ProvisionError::AfterMaking { physical_id, .. } => {
                failure.with_physical_id(physical_id)
            }
            _ => failure,
        }
    }
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, ProvisionError>;
}

impl<T, E, R> AwsContext<T> for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn context(self, operation: &'static str) -> Result<T, ProvisionError> {
        self.map_err(|e| ProvisionError::Aws {
            operation,
            message: operator_common::aws::error_message(&e),
        })
    }
}

pub type Result<T, E = ProvisionError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_after_making_something_names_it_once() {
        let e = ProvisionError::Refused("listener failed".into())
            .made("arn:lb")
            .made("arn:other");
        let f = e.into_failure();
        assert_eq!(f.reason, "listener failed");
        assert_eq!(f.physical_id.as_deref(), Some("arn:lb"));
        assert_eq!(
            ProvisionError::Refused("x".into())
                .into_failure()
                .physical_id,
            None
        );
    }
}
