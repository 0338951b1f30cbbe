//! Why an invocation failed. Every failure happens before any deletion it would make unsafe:
//! the pruner never deletes on incomplete knowledge of what is in use. A failure reaches
//! Lambda (and so the on-failure record) with its kind as `errorType`.

use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
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
    /// The invocation's answer could not be serialized.
    #[error("the answer could not be serialized: {0}")]
    Response(#[from] serde_json::Error),
}

impl PruneError {
    /// The `errorType` Lambda records for this failure.
    pub fn kind(&self) -> &'static str {
        match self {
            PruneError::Aws { .. } => "AwsCallFailed",
            PruneError::PagingLoop { .. } => "PagingLoop",
            PruneError::Response(_) => "ResponseNotSerializable",
        }
    }
}

impl From<PruneError> for Diagnostic {
    fn from(e: PruneError) -> Diagnostic {
        Diagnostic {
            error_type: e.kind().into(),
            error_message: e.to_string(),
        }
    }
}

/// Attaches the AWS operation's name to an SDK error.
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, PruneError>;
}

impl<T, E, R> AwsContext<T> for Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn context(self, operation: &'static str) -> Result<T, PruneError> {
        self.map_err(|e| PruneError::Aws {
            operation,
            message: operator_common::aws::error_message(&e),
        })
    }
}

pub type Result<T, E = PruneError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_error_type() {
        let cases = [
            (
                PruneError::Aws {
                    operation: "ecr:DescribeImages",
                    message: "ThrottlingException: Rate exceeded".into(),
                },
                "AwsCallFailed",
                "ecr:DescribeImages failed: ThrottlingException: Rate exceeded",
            ),
            (
                PruneError::PagingLoop {
                    operation: "ecs:ListTasks",
                    token: "t".into(),
                },
                "PagingLoop",
                "ecs:ListTasks repeated its page token \"t\": stopped",
            ),
        ];
        for (e, kind, message) in cases {
            let d = Diagnostic::from(e);
            assert_eq!(
                (d.error_type.as_str(), d.error_message.as_str()),
                (kind, message)
            );
        }
        let bad = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            Diagnostic::from(PruneError::from(bad)).error_type,
            "ResponseNotSerializable"
        );
    }
}
