//! The pruner's entry point over arbitrary JSON and mutated sample events (fields removed,
//! retyped, replaced, near-miss strings): it never panics, and an event that is not for this
//! stack makes no AWS call (its clients point at an endpoint that counts connections, and
//! every SDK request is counted).
//!
//! One test in this binary: the SDK request count is process-wide.

#[path = "../../../crates/operator-common/tests/support/fuzz.rs"]
mod fuzz;

use fuzz::{run, runtime, samples, str_at, Trap};
use image_pruner::aws::Clients;
use image_pruner::settings::Settings;
use image_pruner::{handle, Decision};
use operator_common::settings::{Env, FromEnv};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

const REPOSITORY: &str = "sky-high-booker";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:image-pruner";

/// What may start a prune, written from the event documentation rather than from the parser:
/// the schedule, or a successful push to the stack's repository. Necessary conditions only.
fn may_prune(event: &Value) -> bool {
    match (str_at(event, "/detail-type"), str_at(event, "/source")) {
        (Some("Scheduled Event"), Some("aws.events")) => true,
        (Some("ECR Image Action"), Some("aws.ecr")) => {
            str_at(event, "/detail/repository-name") == Some(REPOSITORY)
                && str_at(event, "/detail/result") == Some("SUCCESS")
                && str_at(event, "/detail/action-type") == Some("PUSH")
                && str_at(event, "/detail/image-digest").is_some()
        }
        _ => false,
    }
}

#[test]
fn no_event_panics_and_an_event_not_for_this_stack_calls_nothing() {
    let rt = runtime();
    // Events that may prune get clients of their own endpoint: a connection they leave
    // behind must not be counted against the next event.
    let (trap, allowed) = (Trap::start(), Trap::start());
    let trapped = Clients::new(&rt.block_on(trap.sdk_config()));
    let allowing = Clients::new(&rt.block_on(allowed.sdk_config()));
    let settings = Settings::read(&Env::from_pairs(&[
        ("CLUSTER_NAME", "sky-high-booker"),
        ("SERVICE_NAME", "sky-high-booker"),
        ("REPOSITORY_NAME", REPOSITORY),
    ]))
    .unwrap();
    let (rejected, may) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let check = |event: Value| -> Result<(), TestCaseError> {
        let before = trap.reached();
        let valid = may_prune(&event);
        let result = rt.block_on(handle(
            &event,
            if valid { &allowing } else { &trapped },
            &settings,
            1_795_000_000_000,
            FUNCTION_ARN,
        ));
        if valid {
            may.fetch_add(1, Ordering::SeqCst);
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
        samples(env!("CARGO_MANIFEST_DIR"), "image-pruner"),
        2000,
        check,
    );
    let (rejected, may) = (rejected.into_inner(), may.into_inner());
    assert!(
        rejected > 100 && may > 20,
        "{rejected} rejected, {may} may prune"
    );
    assert_eq!(trap.connections(), 0);
}
