//! Why a reconcile could not finish. Returned as the invocation's error, so that Lambda retries
//! the asynchronous event (and, after its retries, records it on the on-failure destination)
//! with the kind in `errorType`. A malformed event is not an error: it is rejected (see `event`).

use operator_common::error::{AwsError, ErrorKind, FunctionError};

pub use operator_common::error::AwsContext;

#[derive(Debug, thiserror::Error)]
pub enum RedeployError {
    /// A later attempt may succeed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// AWS answered, but with something this function cannot work with (no such service, no
    /// container of the repository…): a person must look.
    #[error("{0}")]
    Unusable(String),
}

impl FunctionError for RedeployError {
    fn kind(&self) -> ErrorKind {
        match self {
            RedeployError::Aws(_) => ErrorKind::AwsCallFailed,
            RedeployError::Unusable(_) => ErrorKind::Unusable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operator_common::error::diagnostic;

    #[test]
    fn lambda_sees_the_kind_and_the_message() {
        let aws = RedeployError::from(AwsError::new("ecs:UpdateService", "timeout"));
        assert_eq!(diagnostic(&aws).error_type, "AwsCallFailed");
        let d = diagnostic(&RedeployError::Unusable("service web not found".into()));
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("Unusable", "service web not found")
        );
    }
}
