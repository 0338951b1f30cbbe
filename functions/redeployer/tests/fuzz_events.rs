//! The redeployer's entry point over arbitrary JSON and mutated sample events (fields removed,
//! retyped, replaced, near-miss strings): it never panics, and an event that is not for this
//! stack makes no AWS call (its clients point at an endpoint that counts connections, and
//! every SDK request is counted).
//!
//! One test in this binary: the SDK request count is process-wide.

#[path = "../../../crates/operator-common/tests/support/fuzz.rs"]
mod fuzz;

use fuzz::{run, runtime, samples, str_at, Trap};
use operator_common::settings::{Env, FromEnv};
use proptest::prelude::*;
use redeployer::settings::Settings;
use redeployer::{handle, Clients, Decision};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::OnceCell;

const REPOSITORY: &str = "sky-high-booker";
const TAG: &str = "latest";

/// What may start a reconcile, written from the event documentation rather than from the
/// parser: the schedule, or a successful push of any tag (or delete of the tracked tag) to
/// the stack's repository. Necessary conditions only.
fn may_reconcile(event: &Value) -> bool {
    let kind = (str_at(event, "/detail-type"), str_at(event, "/source"));
    match kind {
        (Some("Scheduled Event"), Some("aws.events")) => true,
        (Some("ECR Image Action"), Some("aws.ecr")) => {
            let action = str_at(event, "/detail/action-type");
            let tag = str_at(event, "/detail/image-tag");
            str_at(event, "/detail/repository-name") == Some(REPOSITORY)
                && str_at(event, "/detail/result") == Some("SUCCESS")
                && str_at(event, "/detail/image-digest").is_some()
                && match action {
                    Some("PUSH") => tag.is_some(),
                    Some("DELETE") => tag == Some(TAG),
                    _ => false,
                }
        }
        _ => false,
    }
}

#[test]
fn no_event_panics_and_an_event_not_for_this_stack_calls_nothing() {
    let rt = runtime();
    // Events that may reconcile get clients of their own endpoint: a connection they leave
    // behind must not be counted against the next event.
    let (trap, allowed) = (Trap::start(), Trap::start());
    let (trap_config, allowed_config) = (
        rt.block_on(trap.sdk_config()),
        rt.block_on(allowed.sdk_config()),
    );
    let (trapped, allowing): (OnceCell<Clients>, OnceCell<Clients>) =
        (OnceCell::new(), OnceCell::new());
    let settings = Settings::read(&Env::from_pairs(&[
        ("CLUSTER_NAME", "sky-high-booker"),
        ("SERVICE_NAME", "sky-high-booker"),
        ("REPOSITORY_NAME", REPOSITORY),
        ("IMAGE_TAG", TAG),
    ]))
    .unwrap();
    let built = AtomicUsize::new(0);
    let (rejected, reconciled) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let check = |event: Value| -> Result<(), TestCaseError> {
        let before = trap.reached();
        let valid = may_reconcile(&event);
        let result = rt.block_on(handle(&event, &settings, || async {
            built.fetch_add(1, Ordering::SeqCst);
            let (cell, config) = if valid {
                (&allowing, &allowed_config)
            } else {
                (&trapped, &trap_config)
            };
            cell.get_or_init(|| async { Clients::new(config) }).await
        }));
        if valid {
            reconciled.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        let outcome = result.map_err(|e| {
            TestCaseError::fail(format!("an event not for this stack failed: {e}: {event}"))
        })?;
        prop_assert!(
            matches!(outcome.decision, Decision::Rejected | Decision::Ignored),
            "{:?} for {event}",
            outcome.decision
        );
        trap.untouched_since(before, &event)?;
        if outcome.decision == Decision::Rejected {
            rejected.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    };
    run(
        samples(env!("CARGO_MANIFEST_DIR"), "redeployer"),
        2000,
        check,
    );
    // The generator reaches both sides (and the clients only ever for the events that matter).
    let (rejected, reconciled) = (rejected.into_inner(), reconciled.into_inner());
    assert!(
        rejected > 100 && reconciled > 20,
        "{rejected} rejected, {reconciled} may reconcile"
    );
    assert!(built.into_inner() <= reconciled);
    assert_eq!(trap.connections(), 0);
}
