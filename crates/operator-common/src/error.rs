//! Errors every function shares, and how a failed invocation reaches Lambda: as a
//! [`Diagnostic`] whose `errorType` names the failure's [`ErrorKind`] (the on-failure record
//! carries it), as in aws-lambda-rust-runtime's `basic-error-thiserror` example.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// An AWS call that failed after the SDK's own retries (throttling, 5xx, a timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsError {
    /// `service:Action`, as IAM names it.
    pub operation: &'static str,
    /// See [`crate::aws::error_message`].
    pub message: String,
}

impl AwsError {
    pub fn new(operation: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            message: message.into(),
        }
    }
}

/// Attaches the AWS operation's name to an SDK error: `.send().await.context("ecs:UpdateService")?`
/// (each function's error converts from [`AwsError`]).
pub trait AwsContext<T> {
    fn context(self, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E, R> AwsContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn context(self, operation: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::new(operation, crate::aws::error_message(&e)))
    }
}

/// What went wrong, as Lambda's `errorType`. One list for every function, so that a name means
/// the same thing in each on-failure queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The event cannot be read at all (not a custom-resource request): a retry fails the
    /// same way. The event-driven functions answer such events without an error instead.
    MalformedInput,
    /// An AWS call failed after the SDK's own retries: a retry may succeed.
    AwsCallFailed,
    /// The custom-resource answer could not be PUT to CloudFormation's response URL.
    AnswerNotDelivered,
    /// The autoscaler changed the desired count but could not finish its record of it.
    RecordNotFinished,
    /// AWS answered with something the function cannot work with: a person must look.
    Unusable,
    /// A paginated call repeated a page token (it would never end).
    PagingLoop,
    /// The invocation's answer could not be serialized.
    ResponseNotSerializable,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::MalformedInput,
        ErrorKind::AwsCallFailed,
        ErrorKind::AnswerNotDelivered,
        ErrorKind::RecordNotFinished,
        ErrorKind::Unusable,
        ErrorKind::PagingLoop,
        ErrorKind::ResponseNotSerializable,
    ];

    /// The `errorType` Lambda records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MalformedInput => "MalformedInput",
            ErrorKind::AwsCallFailed => "AwsCallFailed",
            ErrorKind::AnswerNotDelivered => "AnswerNotDelivered",
            ErrorKind::RecordNotFinished => "RecordNotFinished",
            ErrorKind::Unusable => "Unusable",
            ErrorKind::PagingLoop => "PagingLoop",
            ErrorKind::ResponseNotSerializable => "ResponseNotSerializable",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A function's error: each one says its kind. The runner ([`crate::runner`]) turns it into
/// the [`Diagnostic`] Lambda records.
pub trait FunctionError: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

impl FunctionError for AwsError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::AwsCallFailed
    }
}

/// What Lambda records for `error`: its kind as `errorType`, its message as `errorMessage`.
pub fn diagnostic<E: FunctionError + ?Sized>(error: &E) -> Diagnostic {
    Diagnostic {
        error_type: error.kind().as_str().to_string(),
        error_message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{1}")]
    struct Example(ErrorKind, &'static str);

    impl FunctionError for Example {
        fn kind(&self) -> ErrorKind {
            self.0
        }
    }

    #[test]
    fn each_kind_is_its_own_error_type() {
        let expected = [
            (ErrorKind::MalformedInput, "MalformedInput"),
            (ErrorKind::AwsCallFailed, "AwsCallFailed"),
            (ErrorKind::AnswerNotDelivered, "AnswerNotDelivered"),
            (ErrorKind::RecordNotFinished, "RecordNotFinished"),
            (ErrorKind::Unusable, "Unusable"),
            (ErrorKind::PagingLoop, "PagingLoop"),
            (
                ErrorKind::ResponseNotSerializable,
                "ResponseNotSerializable",
            ),
        ];
        assert_eq!(expected.map(|(k, _)| k), ErrorKind::ALL);
        for (kind, error_type) in expected {
            let d = diagnostic(&Example(kind, "why"));
            assert_eq!(
                (d.error_type.as_str(), d.error_message.as_str()),
                (error_type, "why")
            );
        }
    }

    #[test]
    fn an_aws_failure_names_the_operation() {
        let d = diagnostic(&AwsError::new(
            "ecs:UpdateService",
            "ThrottlingException: Rate exceeded",
        ));
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            (
                "AwsCallFailed",
                "ecs:UpdateService failed: ThrottlingException: Rate exceeded"
            )
        );
    }

    #[test]
    fn the_context_of_a_service_error_is_its_code_and_message() {
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;

        #[derive(Debug, thiserror::Error)]
        #[error("service error")]
        struct Service(ErrorMetadata);
        impl ProvideErrorMetadata for Service {
            fn meta(&self) -> &ErrorMetadata {
                &self.0
            }
        }
        let meta = ErrorMetadata::builder()
            .code("ServiceNotFoundException")
            .message("Service not found.")
            .build();
        let raw = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        let failed: Result<(), SdkError<Service, Response>> =
            Err(SdkError::service_error(Service(meta), raw));
        assert_eq!(
            failed.context("ecs:DescribeServices").unwrap_err(),
            AwsError::new(
                "ecs:DescribeServices",
                "ServiceNotFoundException: Service not found."
            )
        );
    }
}
