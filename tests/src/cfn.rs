//! Plays CloudFormation: builds real-shaped custom-resource requests, hands them to the
//! provisioner, and reads the answer it PUTs to the (local) response URL.

use crate::response_url::{Received, ResponseEndpoint};
use operator_common::custom_resource::{handle_invocation, ResponseSender};
use provisioner::clients::{Clients, Env};
use provisioner::rollout::RolloutWatcher;
use provisioner::wait::Backoff;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const SERVICE_TOKEN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:sky-high-booker-provisioner";

/// CloudFormation turns every scalar property into a string; lists and maps keep their shape.
pub fn stringify(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(stringify).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), stringify(v))).collect())
        }
        other => other.clone(),
    }
}

/// What the function answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: String,
    pub reason: String,
    pub physical_id: String,
    pub data: Map<String, Value>,
    pub received: Received,
}

impl Answer {
    pub fn from_received(received: Received) -> Answer {
        let b = &received.body;
        Answer {
            status: b["Status"].as_str().unwrap_or_default().to_string(),
            reason: b["Reason"].as_str().unwrap_or_default().to_string(),
            physical_id: b["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            data: b["Data"].as_object().cloned().unwrap_or_default(),
            received,
        }
    }

    pub fn data(&self, key: &str) -> String {
        self.data
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    pub fn is_success(&self) -> bool {
        self.status == "SUCCESS"
    }
}

/// The requests CloudFormation would send, for one stack.
pub struct Cfn {
    pub responses: ResponseEndpoint,
    pub stack_id: String,
    counter: AtomicU64,
}

/// One request, ready to hand to a function.
pub struct Pending {
    pub event: Value,
    pub key: String,
}

impl Cfn {
    pub async fn new(stack_name: &str) -> Cfn {
        Cfn {
            responses: ResponseEndpoint::start().await,
            stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack_name}/0a1b2c3d-4e5f-6789-abcd-ef0123456789"),
            counter: AtomicU64::new(0),
        }
    }

    /// A request event. `physical` is needed for Update and Delete, `old` for Update.
    pub fn request(
        &self,
        kind: &str,
        resource_type: &str,
        logical_id: &str,
        properties: &Value,
        physical: Option<&str>,
        old: Option<&Value>,
    ) -> Pending {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let key = format!("{logical_id}-{kind}-{n}");
        let mut props = stringify(properties);
        props["ServiceToken"] = json!(SERVICE_TOKEN);
        let mut event = json!({
            "RequestType": kind,
            "ServiceToken": SERVICE_TOKEN,
            "ResponseURL": self.responses.url(&key),
            "StackId": self.stack_id,
            "RequestId": format!("{:08x}-{n:04x}-4000-8000-000000000000", std::process::id()),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": props,
        });
        if let Some(id) = physical {
            event["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = old {
            let mut old = stringify(old);
            old["ServiceToken"] = json!(SERVICE_TOKEN);
            event["OldResourceProperties"] = old;
        }
        Pending { event, key }
    }

    /// Every answer received for a request, in order (more than one means a duplicate answer).
    pub fn answers(&self, pending: &Pending) -> Vec<Answer> {
        self.responses
            .received(&pending.key)
            .into_iter()
            .map(Answer::from_received)
            .collect()
    }
}

/// Runs the provisioner's handler in this process, as its `main` does for an invocation.
pub async fn invoke_in_process(
    pending: &Pending,
    clients: Clients,
    rollouts: Box<dyn RolloutWatcher>,
    time_limit: Duration,
) -> Result<(), String> {
    let deadline = SystemTime::now() + time_limit;
    let sender = ResponseSender {
        attempts: 2,
        attempt_timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(100),
    };
    let env = Arc::new(Env {
        clients,
        rollouts,
        answer_by: operator_common::custom_resource::answer_by(deadline, &sender),
        // Short: the local AWS drains in seconds, not minutes.
        backoff: Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_secs(1),
        },
    });
    handle_invocation(pending.event.clone(), deadline, &sender, move |request| {
        provisioner::handle(request, env)
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}
