//! Why an invocation failed. Every failure happens before any deletion it would make unsafe:
//! the pruner never deletes on incomplete knowledge of what is in use. A failure reaches
//! Lambda (and so the on-failure record) with its kind as `errorType`.

use operator_common::error::{AwsError, ErrorKind, FunctionError};

pub use operator_common::error::AwsContext;

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A paginated call handed back a token it had already given (it would never end).
    #[error("{operation} repeated its page token {token:?}: stopped")]
    PagingLoop {
        operation: &'static str,
        token: String,
    },
    /// A container image that may name an image of the repository cannot be read: nothing
    /// is deleted until a person fixes it.
    #[error("{0}")]
    UnreadableReference(String),
}

impl FunctionError for PruneError {
    fn kind(&self) -> ErrorKind {
        match self {
            PruneError::Aws(_) => ErrorKind::AwsCallFailed,
            PruneError::PagingLoop { .. } => ErrorKind::PagingLoop,
            PruneError::UnreadableReference(_) => ErrorKind::Unusable,
        }
    }
}

pub type Result<T, E = PruneError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use operator_common::error::diagnostic;

    #[test]
    fn each_kind_has_its_own_error_type() {
        let cases = [
            (
                PruneError::from(AwsError::new(
                    "ecr:DescribeImages",
                    "ThrottlingException: Rate exceeded",
                )),
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
            (PruneError::UnreadableReference("x".into()), "Unusable", "x"),
        ];
        for (e, kind, message) in cases {
            let d = diagnostic(&e);
            assert_eq!(
                (d.error_type.as_str(), d.error_message.as_str()),
                (kind, message)
            );
        }
    }
}
