//! Why an invocation failed. Only AWS failures fail an invocation (Lambda then retries it, and
//! after the retries the on-failure destination keeps it); a malformed event is rejected
//! without an error (see [`crate::trigger`]).

/// Each kind is the invocation's `errorType` (see the `Diagnostic` conversion below), so that
/// the on-failure record says what went wrong without reading the message.
#[derive(Debug, thiserror::Error)]
pub enum AutoscalerError {
    /// An AWS call failed after the SDK's own retries (throttling, 5xx, a timeout). Nothing
    /// changed after it: a retry reconciles from what AWS has.
    #[error("{operation} failed: {message}")]
    AwsCallFailed {
        operation: &'static str,
        message: String,
    },
    /// The desired count changed but its record could not be finished (TagResource failed, or
    /// UpdateService's answer was lost): the retry finds the count at the record's `to` and only
    /// finishes the record, it does not scale again.
    #[error(
        "desired count set to {to} but its record is not finished: {operation} failed: {message}"
    )]
    RecordNotFinished {
        to: i32,
        operation: &'static str,
        message: String,
    },
}

impl AutoscalerError {
    pub fn kind(&self) -> &'static str {
        match self {
            AutoscalerError::AwsCallFailed { .. } => "AwsCallFailed",
            AutoscalerError::RecordNotFinished { .. } => "RecordNotFinished",
        }
    }
}

impl From<AutoscalerError> for lambda_runtime::Diagnostic {
    fn from(e: AutoscalerError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, AutoscalerError>;
}

impl<T, E, R> AwsContext<T> for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn context(self, operation: &'static str) -> Result<T, AutoscalerError> {
        self.map_err(|e| AutoscalerError::AwsCallFailed {
            operation,
            message: operator_common::aws::error_message(&e),
        })
    }
}

pub type Result<T, E = AutoscalerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_sees_the_kind_as_the_error_type() {
        let d: lambda_runtime::Diagnostic = AutoscalerError::AwsCallFailed {
            operation: "ecs:UpdateService",
            message: "ThrottlingException: Rate exceeded".into(),
        }
        .into();
        assert_eq!(d.error_type, "AwsCallFailed");
        assert_eq!(
            d.error_message,
            "ecs:UpdateService failed: ThrottlingException: Rate exceeded"
        );
        let d: lambda_runtime::Diagnostic = AutoscalerError::RecordNotFinished {
            to: 3,
            operation: "ecs:TagResource",
            message: "timeout".into(),
        }
        .into();
        assert_eq!(d.error_type, "RecordNotFinished");
        assert!(d.error_message.starts_with("desired count set to 3"));
    }
}
