use operator_common::custom_resource::Failure;
use operator_common::error::AwsError;
use operator_common::properties::PropertyError;

pub use operator_common::error::AwsContext;

/// Why a resource operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad input: nothing was touched in AWS.
    #[error(transparent)]
    Property(#[from] PropertyError),
    #[error(transparent)]
    Aws(#[from] AwsError),
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
