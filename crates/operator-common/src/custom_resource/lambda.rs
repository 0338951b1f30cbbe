use super::{
    answer, Failure, ParseError, Request, RequestKind, Response, ResponseSender, SendError, Success,
};
use crate::error::{ErrorKind, FunctionError};
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::runtime::Handle;
use tokio::time::Instant;

/// Why an invocation ends in an error (which makes Lambda retry it).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    NotARequest(ParseError),
    #[error(transparent)]
    Send(#[from] SendError),
}

impl FunctionError for InvocationError {
    fn kind(&self) -> ErrorKind {
        match self {
            InvocationError::NotARequest(_) => ErrorKind::MalformedInput,
            InvocationError::Send(_) => ErrorKind::AnswerNotDelivered,
        }
    }
}

/// The instant by which the handler must have finished so that the answer, with all of its
/// delivery attempts, still goes out before the Lambda deadline.
pub fn answer_by(deadline: SystemTime, sender: &ResponseSender) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let reserve = sender.worst_case() + Duration::from_secs(1);
    Instant::now() + left.saturating_sub(reserve)
}

/// Handles one Lambda invocation carrying a custom-resource request: parses it, runs
/// `handler` and answers. Returns an error only when no answer could be delivered, so that
/// Lambda's retry of the asynchronous invocation gets another chance. The handler runs on the
/// caller's runtime: without worker threads there, a handler that never yields holds the
/// answer too ([`handle_invocation_on`] runs it elsewhere).
pub async fn handle_invocation<F, Fut>(
    event: Value,
    deadline: SystemTime,
    sender: &ResponseSender,
    handler: F,
) -> Result<Response, InvocationError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Success, Failure>> + Send + 'static,
{
    let here = Handle::current();
    handle_invocation_on(&here, event, deadline, sender, handler).await
}

/// [`handle_invocation`], with the handler run by `handlers` (the provisioner's
/// [`super::handler_thread`]) and the answer sent from the caller's runtime.
pub async fn handle_invocation_on<F, Fut>(
    handlers: &Handle,
    event: Value,
    deadline: SystemTime,
    sender: &ResponseSender,
    handler: F,
) -> Result<Response, InvocationError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Success, Failure>> + Send + 'static,
{
    let by = answer_by(deadline, sender);
    match Request::parse(event) {
        Ok(request) => {
            tracing::info!(
                request_type = request.kind_name(),
                resource_type = %request.resource_type,
                logical_resource_id = %request.logical_resource_id,
                physical_resource_id = request.physical_id().unwrap_or(""),
                request_id = %request.request_id,
                "custom-resource request"
            );
            Ok(answer(request, by, sender, handlers, handler).await?)
        }
        Err(ParseError::PropertiesNotAMap(request)) => {
            let reason = "ResourceProperties must be a map of property names to values";
            Ok(answer(*request, by, sender, handlers, |_| async move {
                Err(Failure::new(reason))
            })
            .await?)
        }
        // Nothing to answer: the runner logs it.
        Err(e) => Err(InvocationError::NotARequest(e)),
    }
}

/// True when the request is a Delete (used by dispatchers for unknown resource types).
pub fn is_delete(request: &Request) -> bool {
    matches!(request.kind, RequestKind::Delete { .. })
}
