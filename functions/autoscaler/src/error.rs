//! Why an invocation failed. Only AWS failures fail an invocation (Lambda then retries it, and
//! after the retries the on-failure destination keeps it); a malformed event is rejected
//! without an error (see [`crate::trigger`]).

use operator_common::error::{AwsError, ErrorKind, FunctionError};

pub use operator_common::error::AwsContext;

/// Each kind is the invocation's `errorType`, so that the on-failure record says what went
/// wrong without reading the message.
#[derive(Debug, thiserror::Error)]
pub enum AutoscalerError {
    /// Nothing changed after it: a retry reconciles from what AWS has.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The desired count changed but its record could not be finished (TagResource failed, or
    /// UpdateService's answer was lost): the retry finds the count at the record's `to` and only
    /// finishes the record, it does not scale again.
    #[error("desired count set to {to} but its record is not finished: {source}")]
    RecordNotFinished { to: i32, source: AwsError },
}

impl FunctionError for AutoscalerError {
    fn kind(&self) -> ErrorKind {
        match self {
            AutoscalerError::Aws(_) => ErrorKind::AwsCallFailed,
            AutoscalerError::RecordNotFinished { .. } => ErrorKind::RecordNotFinished,
        }
    }
}

pub type Result<T, E = AutoscalerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use operator_common::error::diagnostic;

    #[test]
    fn lambda_sees_the_kind_as_the_error_type() {
        let aws = AutoscalerError::from(AwsError::new("ecs:UpdateService", "timeout"));
        assert_eq!(diagnostic(&aws).error_type, "AwsCallFailed");
        let d = diagnostic(&AutoscalerError::RecordNotFinished {
            to: 3,
            source: AwsError::new("ecs:TagResource", "timeout"),
        });
        assert_eq!(d.error_type, "RecordNotFinished");
        assert_eq!(
            d.error_message,
            "desired count set to 3 but its record is not finished: ecs:TagResource failed: timeout"
        );
    }
}
