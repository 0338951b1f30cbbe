//! The one entry point of every function: logging → settings → Lambda's invocation loop, with
//! the AWS clients built in the background from the start (ready for the first event) and each
//! invocation's AWS calls counted (`aws_calls` in the response). A function keeps only its
//! handler:
//!
//! ```ignore
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     operator_common::runner::run(Clients::new, invocation).await
//! }
//! ```
//!
//! On tokio's current-thread runtime: Lambda runs one invocation at a time and gives a 128 MB
//! function a fraction of one vCPU, so worker threads buy nothing there, and starting them and
//! waking tasks across them cost a cold start about 0.3 ms before the first `/next` (README,
//! "Cold start"). The clients' background build runs when the runtime's first `/next` first
//! yields (on one thread: interleaved, not beside it; a thread of its own for it gained nothing
//! measurable, since the first event waits for the clients anyway).
//! The provisioner too, with its custom-resource handlers on a second thread
//! (`custom_resource::handler_thread`): its deadline answer to CloudFormation must not wait on
//! a handler that never yields.

use crate::error::{diagnostic, ErrorKind, FunctionError};
use crate::settings::{Env, FromEnv};
use aws_config::SdkConfig;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use tokio::sync::OnceCell;

/// One invocation, as the runner hands it to a function's handler.
pub struct Invocation<S: 'static, C: 'static> {
    pub payload: Value,
    /// The request id, the deadline, the invoked function's ARN.
    pub context: Context,
    pub settings: &'static S,
    clients: &'static LazyClients<C>,
}

struct LazyClients<C> {
    cell: OnceCell<C>,
    build: fn(&SdkConfig) -> C,
}

impl<C> LazyClients<C> {
    async fn get(&self) -> &C {
        self.cell
            .get_or_init(|| async { (self.build)(crate::aws::config().await) })
            .await
    }
}

impl<S, C> Invocation<S, C> {
    /// The function's AWS clients, kept for the execution environment. The runner starts
    /// building them (the SDK configuration, the clients, the one TLS configuration) at start,
    /// while the runtime asks for the first event; a cold invocation finds them ready or waits
    /// for that same build (README, "Cold start").
    pub async fn clients(&self) -> &'static C {
        self.clients.get().await
    }
}

/// Runs the function: installs logging, reads its settings `S` (a missing or malformed one
/// stops it at start, naming the variable), then hands each event to `handler`. A handler's
/// error reaches Lambda with its kind as `errorType` (see [`crate::error`]).
pub async fn run<S, C, F, Fut, O, E>(
    build_clients: fn(&SdkConfig) -> C,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    S: FromEnv + Sync + 'static,
    C: Send + Sync + 'static,
    F: Fn(Invocation<S, C>) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    O: Serialize,
    E: FunctionError,
{
    crate::logging::init();
    let settings =
        S::read(&Env::process()).inspect_err(|e| tracing::error!(error = %e, "settings"))?;
    // Both live as long as the execution environment.
    let settings: &'static S = Box::leak(Box::new(settings));
    let clients: &'static LazyClients<C> = Box::leak(Box::new(LazyClients {
        cell: OnceCell::new(),
        build: build_clients,
    }));
    tokio::spawn(async move {
        clients.get().await;
    });
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Value>| async move {
            let invocation = Invocation {
                payload: event.payload,
                context: event.context,
                settings,
                clients,
            };
            let before = crate::aws::api_calls();
            let result = handler(invocation).await;
            respond(result, crate::aws::api_calls() - before)
        },
    ))
    .await
}

/// The response, with `aws_calls` added, or the error Lambda records.
fn respond<O: Serialize, E: FunctionError>(
    result: Result<O, E>,
    aws_calls: u64,
) -> Result<Value, Diagnostic> {
    let error = match result.map(|o| serde_json::to_value(o)) {
        Ok(Ok(mut response)) => {
            if let Some(fields) = response.as_object_mut() {
                fields.insert("aws_calls".into(), aws_calls.into());
            }
            return Ok(response);
        }
        Ok(Err(e)) => Diagnostic {
            error_type: ErrorKind::ResponseNotSerializable.as_str().into(),
            error_message: format!("the answer could not be serialized: {e}"),
        },
        Err(e) => diagnostic(&e),
    };
    tracing::error!(
        error_type = %error.error_type,
        error = %error.error_message,
        aws_calls,
        "invocation failed"
    );
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;
    use std::collections::BTreeMap;

    #[test]
    fn the_response_counts_the_calls_and_an_error_names_its_kind() {
        let ok: Result<_, AwsError> = Ok(BTreeMap::from([("decision", "nothing")]));
        assert_eq!(
            respond(ok, 3),
            Ok(serde_json::json!({"decision": "nothing", "aws_calls": 3}))
        );
        let failed: Result<(), _> = Err(AwsError::new("ecs:UpdateService", "timeout"));
        assert_eq!(
            respond(failed, 1),
            Err(Diagnostic {
                error_type: "AwsCallFailed".into(),
                error_message: "ecs:UpdateService failed: timeout".into(),
            })
        );
        // A map with non-string keys has no JSON form.
        let unserializable: Result<_, AwsError> = Ok(BTreeMap::from([((1, 2), 3)]));
        assert_eq!(
            respond(unserializable, 0).unwrap_err().error_type,
            "ResponseNotSerializable"
        );
    }
}
