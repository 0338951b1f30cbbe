//! Why a reconcile could not finish. Returned as the invocation's error, so that Lambda retries
//! the asynchronous event (and, after its retries, records it on the on-failure destination)
//! with the kind in `errorType`. A malformed event is not an error: it is rejected (see `event`).

use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum RedeployError {
    /// An AWS call failed after the SDK's own retries (throttling, 5xx, a timeout…): a later
    /// attempt may succeed.
    #[error("{operation} failed: {message}")]
    AwsCallFailed {
        operation: &'static str,
        message: String,
    },
    /// AWS answered, but with something this function cannot work with (no such service, no
    /// container of the repository…): a person must look.
    #[error("{0}")]
    Unusable(String),
}

impl RedeployError {
    /// The `errorType` Lambda reports (and the on-failure record carries).
    pub fn kind(&self) -> &'static str {
        match self {
            RedeployError::AwsCallFailed { .. } => "AwsCallFailed",
            RedeployError::Unusable(_) => "Unusable",
        }
    }
}

impl From<RedeployError> for Diagnostic {
    fn from(error: RedeployError) -> Diagnostic {
        Diagnostic {
            error_type: error.kind().to_string(),
            error_message: error.to_string(),
        }
    }
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
        self.map_err(|e| RedeployError::AwsCallFailed {
            operation,
            message: operator_common::aws::error_message(&e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_sees_the_kind_and_the_message() {
        let d = Diagnostic::from(RedeployError::AwsCallFailed {
            operation: "ecs:UpdateService",
            message: "ThrottlingException: Rate exceeded".into(),
        });
        assert_eq!(d.error_type, "AwsCallFailed");
        assert_eq!(
            d.error_message,
            "ecs:UpdateService failed: ThrottlingException: Rate exceeded"
        );
        let d = Diagnostic::from(RedeployError::Unusable("service web not found".into()));
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Unusable", "service web not found")
        );
    }
}
