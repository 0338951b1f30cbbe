//! No log line shows a task definition's environment values or where its secrets live: the
//! provisioner's own lines at every level, the SDK's and the runtime's up to debug, captured as
//! the function writes them (JSON) through a Create, an Update that registers a new revision,
//! and a Delete of a service.
//!
//! One test in this binary: the subscriber is process-wide.

use local_harness::world::World;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

const TYPE: &str = "Custom::Service";
const VALUE: &str = "SECRET-VALUE-123";
const NEW_VALUE: &str = "SECRET-VALUE-456";
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:SECRET-ARN-789";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn environment_values_and_secret_arns_never_reach_the_logs() {
    let logs = Captured::default();
    // Before World::new, whose own subscriber then stays out of the way.
    tracing_subscriber::fmt()
        .json()
        // Our crates at every level, the SDK and the runtime up to debug: at trace the SDK
        // prints whole responses (`environment` is marked sensitive there and redacted, but a
        // secret's valueFrom is not), a level only a person debugging the SDK turns on.
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,provisioner=trace,operator_common=trace",
        ))
        .with_writer(logs.clone())
        .init();
    let w = World::new().await;
    let (_, _, mut props) = w.foundations().await;
    props["Environment"] = json!({"DB_PASSWORD": VALUE, "NODE_ENV": "production"});
    props["Secrets"] = json!({ "API_KEY": SECRET_ARN });

    let created = w.create(TYPE, "Service", &props).await;
    assert!(created.is_success(), "{}", created.reason);
    let mut changed = props.clone();
    changed["Environment"]["DB_PASSWORD"] = NEW_VALUE.into();
    let updated = w
        .update(TYPE, "Service", &created.physical_id, &props, &changed)
        .await;
    assert!(updated.is_success(), "{}", updated.reason);
    assert_ne!(
        updated.data("TaskDefinitionArn"),
        created.data("TaskDefinitionArn"),
        "the new value made a new revision, so the update's plan registered one"
    );
    let deleted = w
        .delete(TYPE, "Service", &created.physical_id, &changed)
        .await;
    assert!(deleted.is_success(), "{}", deleted.reason);

    let text = logs.text();
    let plans: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""message":"plan""#) && l.contains("RegisterTaskDefinition"))
        .collect();
    assert_eq!(
        plans.len(),
        2,
        "the Create's and the Update's plans: {plans:#?}"
    );
    for plan in &plans {
        assert!(
            plan.contains("DB_PASSWORD") && plan.contains("API_KEY"),
            "the plan names the variables: {plan}"
        );
    }
    for hidden in [VALUE, NEW_VALUE, "SECRET-ARN-789"] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(hidden)).collect();
        assert!(leaks.is_empty(), "{hidden} logged:\n{}", leaks.join("\n"));
    }
}
