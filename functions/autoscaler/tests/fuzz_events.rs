//! The autoscaler's entry (admit, then reconcile only when admitted) over arbitrary JSON and
//! mutated samples of all three payloads: the schedule, the alarm's own Lambda action and
//! EventBridge "CloudWatch Alarm State Change" (fields removed, retyped, replaced, near-miss
//! strings). Nothing panics, and an event that is not for this stack makes no AWS call (the
//! clients point at an endpoint that counts connections, and every SDK request is counted).
//!
//! One test in this binary: the SDK request count is process-wide.

#[path = "../../../crates/operator-common/tests/support/fuzz.rs"]
mod fuzz;

use autoscaler::settings::Settings;
use autoscaler::{admit, reconcile, Admission, Clients, OutcomeKind};
use fuzz::{run, runtime, samples, str_at, Trap};
use operator_common::settings::{Env, FromEnv};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

const CLUSTER: &str = "sky-high-booker";
const SERVICE: &str = "sky-high-booker";

/// What may start a reconcile, written from CloudWatch's and EventBridge's documentation
/// rather than from the parser: the schedule, or this service's CPU or memory alarm going
/// to ALARM, in either shape. Necessary conditions only.
fn may_reconcile(event: &Value) -> bool {
    if str_at(event, "/detail-type") == Some("Scheduled Event") {
        return str_at(event, "/source") == Some("aws.events");
    }
    let data = if event.get("detail-type").is_some() {
        if str_at(event, "/detail-type") != Some("CloudWatch Alarm State Change") {
            return false;
        }
        "/detail"
    } else {
        "/alarmData"
    };
    let source_ok = matches!(
        event.get("source"),
        None | Some(Value::Null) | Some(Value::String(_))
    ) && !matches!(str_at(event, "/source"), Some(s) if s != "aws.cloudwatch");
    let Some(metrics) = event
        .pointer(&format!("{data}/configuration/metrics"))
        .and_then(Value::as_array)
    else {
        return false;
    };
    let ours = metrics.iter().any(|m| {
        let metric = |p: &str| str_at(m, &format!("/metricStat/metric{p}"));
        metric("/namespace") == Some("AWS/ECS")
            && matches!(
                metric("/name"),
                Some("CPUUtilization" | "MemoryUtilization")
            )
            && metric("/dimensions/ClusterName") == Some(CLUSTER)
            && metric("/dimensions/ServiceName") == Some(SERVICE)
    });
    source_ok
        && ours
        && str_at(event, &format!("{data}/state/value")) == Some("ALARM")
        && str_at(event, &format!("{data}/alarmName")).is_some_and(|n| !n.trim().is_empty())
}

#[test]
fn no_event_panics_and_an_event_not_for_this_stack_calls_nothing() {
    let rt = runtime();
    // Admitted events reconcile against an endpoint of their own (a connection they leave
    // behind must not count against the next event); the trap is for everything else.
    let (trap, allowed) = (Trap::start(), Trap::start());
    let clients = Clients::new(&rt.block_on(allowed.sdk_config()));
    let settings = Settings::read(&Env::from_pairs(&[
        ("CLUSTER_NAME", CLUSTER),
        ("SERVICE_NAME", SERVICE),
    ]))
    .unwrap();
    let (rejected, skipped, admitted) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let check = |event: Value| -> Result<(), TestCaseError> {
        let before = trap.reached();
        match admit(&event, &settings) {
            Admission::Reconcile(trigger) => {
                prop_assert!(may_reconcile(&event), "admitted: {event}");
                admitted.fetch_add(1, Ordering::SeqCst);
                // Reaches the trap and fails there; it must not panic on the way.
                let _ = rt.block_on(reconcile(&trigger, &clients, &settings, 1_795_000_000));
            }
            Admission::Done(outcome) => {
                match outcome.outcome {
                    OutcomeKind::Rejected => rejected.fetch_add(1, Ordering::SeqCst),
                    OutcomeKind::Skipped => skipped.fetch_add(1, Ordering::SeqCst),
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "{other:?} without AWS: {event}"
                        )))
                    }
                };
                trap.untouched_since(before, &event)?;
            }
        }
        Ok(())
    };
    run(
        samples(env!("CARGO_MANIFEST_DIR"), "autoscaler"),
        3000,
        check,
    );
    let (rejected, skipped, admitted) = (
        rejected.into_inner(),
        skipped.into_inner(),
        admitted.into_inner(),
    );
    assert!(
        rejected > 100 && skipped > 20 && admitted > 20,
        "{rejected} rejected, {skipped} skipped, {admitted} admitted"
    );
    assert_eq!(trap.connections(), 0);
}
