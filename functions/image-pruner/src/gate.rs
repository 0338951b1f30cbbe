//! Whether an event still needs a prune: a burst of pushes leads to one prune, not one per
//! event. Pure: the last prune's start time is read (and written) by `aws`.
//!
//! Runs never overlap (the function's reserved concurrency is 1). A prune reads the whole
//! repository, so a push is satisfied by any prune that started after the image was pushed:
//! that prune already saw it. The start of each completed prune is recorded on the repository
//! as the tag [`LAST_RUN_STARTED_TAG`]; a push event older than that record is skipped.

use crate::event::Trigger;
use aws_smithy_types::date_time::{DateTime, Format};

/// The repository tag that records when the last completed prune started (RFC 3339, UTC, ms).
pub const LAST_RUN_STARTED_TAG: &str = "skyhigh:image-pruner:last-run-started";

/// EventBridge stamps `time` to the second, and the push completed before the event was sent:
/// the push is certainly done by `time` + 1 s. A prune that started at or after that saw it.
pub const EVENT_TIME_RESOLUTION_MILLIS: i64 = 1000;

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Prune,
    /// Nothing to do; the reason is logged and returned.
    Skip(String),
}

/// Decides whether `trigger` needs a prune, given the start of the last completed prune
/// (ms since the Unix epoch). The schedule always prunes; a push whose time is unknown prunes.
pub fn gate(trigger: &Trigger, last_run_started: Option<i64>) -> Gate {
    match (trigger, last_run_started) {
        (
            Trigger::Push {
                time_millis: Some(pushed),
                ..
            },
            Some(started),
        ) if pushed
            .checked_add(EVENT_TIME_RESOLUTION_MILLIS)
            .is_some_and(|seen| started >= seen) =>
        {
            Gate::Skip(format!(
                "the prune that started at {} already saw this push of {}",
                format_time(started),
                format_time(*pushed)
            ))
        }
        (Trigger::Ignore(why) | Trigger::Reject(why), _) => Gate::Skip(why.clone()),
        _ => Gate::Prune,
    }
}

/// `2026-11-27T08:20:00.123Z`: readable in the console, and only characters tag values allow.
pub fn format_time(millis: i64) -> String {
    DateTime::from_millis(millis)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| millis.to_string())
}

/// Reads a recorded time; None for anything else (a record a person edited is ignored, which
/// only means one more prune).
pub fn parse_time(value: &str) -> Option<i64> {
    DateTime::from_str(value, Format::DateTime)
        .ok()?
        .to_millis()
        .ok()
}

/// The repository's ARN, from the ARN Lambda invoked the function by (same partition, region
/// and account: the stack makes both): `arn:aws:lambda:us-east-1:123456789012:function:f`.
pub fn repository_arn(invoked_function_arn: &str, repository: &str) -> Option<String> {
    let mut parts = invoked_function_arn.split(':');
    let (Some("arn"), Some(partition), Some("lambda"), Some(region), Some(account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let valid = !partition.is_empty()
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("arn:{partition}:ecr:{region}:{account}:repository/{repository}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn push(time_millis: Option<i64>) -> Trigger {
        Trigger::Push {
            digest: "sha256:1".into(),
            tag: Some("latest".into()),
            time_millis,
        }
    }

    const T: i64 = 1_795_618_474_000;

    #[test]
    fn a_push_is_skipped_only_when_a_prune_started_a_full_second_after_it() {
        assert_eq!(gate(&push(Some(T)), None), Gate::Prune, "no record yet");
        assert_eq!(
            gate(&push(Some(T)), Some(T - 5_000)),
            Gate::Prune,
            "older prune"
        );
        assert_eq!(gate(&push(Some(T)), Some(T)), Gate::Prune, "same second");
        assert_eq!(
            gate(&push(Some(T)), Some(T + 999)),
            Gate::Prune,
            "same second"
        );
        match gate(&push(Some(T)), Some(T + 1000)) {
            Gate::Skip(why) => {
                assert!(why.contains("2026-11-25T14:54:35Z"), "{why}");
                assert!(why.contains("2026-11-25T14:54:34Z"), "{why}");
            }
            Gate::Prune => panic!("a prune one second later saw the push"),
        }
        assert!(matches!(
            gate(&push(Some(T)), Some(T + 86_400_000)),
            Gate::Skip(_)
        ));
        assert_eq!(gate(&push(None), Some(T)), Gate::Prune, "untimed push");
        assert_eq!(gate(&push(Some(i64::MAX)), Some(i64::MAX)), Gate::Prune);
    }

    #[test]
    fn the_schedule_always_prunes_ignored_and_rejected_events_never_do() {
        for last in [None, Some(0), Some(T), Some(i64::MAX)] {
            assert_eq!(gate(&Trigger::Schedule, last), Gate::Prune);
            assert!(matches!(gate(&Trigger::Ignore("x".into()), last), Gate::Skip(w) if w == "x"));
            assert!(matches!(gate(&Trigger::Reject("y".into()), last), Gate::Skip(w) if w == "y"));
        }
    }

    #[test]
    fn times_round_trip_through_the_tag_value() {
        for t in [0, T, T + 123, 4_102_444_800_000] {
            let v = format_time(t);
            assert!(v.len() <= 256);
            assert!(
                v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-=._:/@ ".contains(c)),
                "{v}"
            );
            assert_eq!(parse_time(&v), Some(t), "{v}");
        }
        assert_eq!(format_time(T + 123), "2026-11-25T14:54:34.123Z");
        for bad in ["", "yesterday", "1795618474000", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_repository_arn_comes_from_the_function_arn() {
        assert_eq!(
            repository_arn(
                "arn:aws:lambda:us-east-1:123456789012:function:sky-ImagePruner-1A2B",
                "sky-high-booker"
            )
            .as_deref(),
            Some("arn:aws:ecr:us-east-1:123456789012:repository/sky-high-booker")
        );
        assert_eq!(
            repository_arn(
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live",
                "a/b"
            )
            .as_deref(),
            Some("arn:aws-cn:ecr:cn-north-1:123456789012:repository/a/b")
        );
        for bad in [
            "",
            "local",
            "arn:aws:ecs:us-east-1:123456789012:function:f",
            "arn:aws:lambda::123456789012:function:f",
            "arn:aws:lambda:us-east-1:12345:function:f",
        ] {
            assert_eq!(repository_arn(bad, "r"), None, "{bad}");
        }
    }

    proptest! {
        /// Over any sequence of pushes delivered in any order after one prune: exactly the
        /// pushes made a full second before the prune started are skipped.
        #[test]
        fn a_push_is_skipped_exactly_when_the_recorded_prune_started_after_it(
            pushed in 0i64..10_000_000,
            started in proptest::option::of(0i64..10_000_000),
        ) {
            let skipped = matches!(gate(&push(Some(pushed)), started), Gate::Skip(_));
            prop_assert_eq!(skipped, started.is_some_and(|s| s - pushed >= EVENT_TIME_RESOLUTION_MILLIS));
        }
    }
}
