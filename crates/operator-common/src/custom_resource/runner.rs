use super::{Request, RequestKind, Response, ResponseSender, SendError, Status};
use std::collections::BTreeMap;
use std::future::Future;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tracing::{Instrument, Span};

/// The PhysicalResourceId given when a Create fails before anything was made. The Delete that
/// CloudFormation then sends for it is answered SUCCESS without touching AWS. (The prefix has a
/// colon, so it can never be an ECR repository name, a cluster name or an ARN.)
pub const NOT_CREATED_PREFIX: &str = "not-created:";

/// A handler's successful outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Success {
    pub physical_id: String,
    /// Read by Fn::GetAtt. Never put secrets here.
    pub data: BTreeMap<String, String>,
    /// Shown in the console next to the resource: what was retained, what is still rolling out.
    pub reason: Option<String>,
}

/// A handler's failure: a reason a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: String,
    /// On a failed Create that already made something, its id, so that CloudFormation's
    /// rollback Delete cleans it up.
    pub physical_id: Option<String>,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            physical_id: None,
        }
    }

    pub fn with_physical_id(mut self, id: impl Into<String>) -> Self {
        self.physical_id = Some(id.into());
        self
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `handler` on `request` as a task of `handlers` (a runtime) and answers CloudFormation
/// from the caller's, whatever happens: the handler's outcome, FAILED if it panics, FAILED if
/// it is still running at `answer_by`. Returns the response sent, or the delivery error once
/// the sender's bounded attempts are spent. On a current-thread runtime, `handlers` must be
/// another thread's ([`super::handler_thread`]), or a handler that never yields keeps the
/// answer from going out.
pub async fn answer<F, Fut>(
    request: Request,
    answer_by: Instant,
    sender: &ResponseSender,
    handlers: &Handle,
    handler: F,
) -> Result<Response, SendError>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Success, Failure>> + Send + 'static,
{
    let outcome = match &request.kind {
        RequestKind::Delete { physical_id } if physical_id.starts_with(NOT_CREATED_PREFIX) => {
            Ok(Success {
                physical_id: physical_id.clone(),
                reason: Some("nothing was created, so there is nothing to delete".into()),
                ..Success::default()
            })
        }
        _ => {
            // The task keeps the invocation's span, so its lines carry the request id.
            let task = handlers.spawn(handler(request.clone()).instrument(Span::current()));
            let abort = task.abort_handle();
            match tokio::time::timeout_at(answer_by, task).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(join_error)) if join_error.is_panic() => {
                    let message = panic_message(join_error.into_panic().as_ref());
                    tracing::error!(panic = %message, "handler panicked");
                    Err(Failure::new(format!(
                        "internal error in the provisioner: {message}"
                    )))
                }
                Ok(Err(join_error)) => {
                    Err(Failure::new(format!("handler was cancelled: {join_error}")))
                }
                Err(_elapsed) => {
                    abort.abort();
                    tracing::error!("handler still running near the invocation deadline");
                    Err(Failure::new(
                        "timed out: the operation did not finish within the function's time limit; \
                         it is safe to retry the stack operation",
                    ))
                }
            }
        }
    };
    let response = respond(&request, outcome);
    sender.send(&request.response_url, &response).await?;
    Ok(response)
}

/// The response for an outcome. The PhysicalResourceId stays the one CloudFormation knows on a
/// failed Update or Delete; a failed Create gives the id of what it made, or a not-created marker.
fn respond(request: &Request, outcome: Result<Success, Failure>) -> Response {
    let (status, reason, physical_id, data) = match outcome {
        Ok(s) => (Status::Success, s.reason, s.physical_id, s.data),
        Err(f) => {
            tracing::error!(
                request_type = request.kind_name(),
                resource_type = %request.resource_type,
                logical_resource_id = %request.logical_resource_id,
                reason = %f.reason,
                "request failed"
            );
            let id = match request.physical_id() {
                Some(id) => id.to_string(),
                None => f.physical_id.unwrap_or_else(|| {
                    format!(
                        "{NOT_CREATED_PREFIX}{}:{}",
                        request.logical_resource_id, request.request_id
                    )
                }),
            };
            (Status::Failed, Some(f.reason), id, BTreeMap::new())
        }
    };
    Response {
        status,
        reason,
        physical_resource_id: physical_id,
        stack_id: request.stack_id.clone(),
        request_id: request.request_id.clone(),
        logical_resource_id: request.logical_resource_id.clone(),
        no_echo: false,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn request(kind: RequestKind) -> Request {
        Request {
            kind,
            request_id: "req-1".into(),
            response_url: "http://127.0.0.1:1/unused".into(),
            stack_id: "stack".into(),
            resource_type: "Custom::Repository".into(),
            logical_resource_id: "Repo".into(),
            properties: Map::new(),
        }
    }

    #[test]
    fn failed_create_gets_a_marker_that_delete_recognises() {
        let r = respond(&request(RequestKind::Create), Err(Failure::new("bad")));
        assert_eq!(r.status, Status::Failed);
        assert!(r.physical_resource_id.starts_with(NOT_CREATED_PREFIX));
        assert_eq!(r.reason.as_deref(), Some("bad"));
    }

    #[test]
    fn failed_create_that_made_something_names_it() {
        let r = respond(
            &request(RequestKind::Create),
            Err(Failure::new("listener failed").with_physical_id("arn:lb")),
        );
        assert_eq!(r.physical_resource_id, "arn:lb");
    }

    #[test]
    fn failed_update_keeps_the_known_id() {
        let kind = RequestKind::Update {
            physical_id: "old".into(),
            old_properties: Map::new(),
        };
        let r = respond(
            &request(kind),
            Err(Failure::new("x").with_physical_id("new")),
        );
        assert_eq!(r.physical_resource_id, "old");
        assert!(r.data.is_empty());
    }

    #[tokio::test]
    async fn the_handler_runs_in_the_invocations_span() {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
        let invocation = tracing::info_span!("Lambda runtime invoke", requestId = "r-1");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let inside = seen.clone();
        let nowhere = ResponseSender {
            attempts: 1,
            attempt_timeout: std::time::Duration::from_millis(200),
            backoff: std::time::Duration::ZERO,
        };
        let by = Instant::now() + std::time::Duration::from_secs(30);
        let here = Handle::current();
        let _ = answer(
            request(RequestKind::Create),
            by,
            &nowhere,
            &here,
            |_| async move {
                *inside.lock().unwrap() = Span::current().id();
                Ok(Success::default())
            },
        )
        .instrument(invocation.clone())
        .await;
        assert!(invocation.id().is_some());
        assert_eq!(*seen.lock().unwrap(), invocation.id());
    }
}
