//! The autoscaler's record of its own scalings, kept in tags on the ECS service (it survives
//! cold starts and a person can read it in the console):
//!
//! - `skyhigh:autoscaler:record`: the latest scaling this function meant to make, written
//!   BEFORE UpdateService and finished after it: `from=2 to=3 at=2026-11-27T08:00:00Z state=pending`
//!   (then `state=done`). A retry compares the service's desired count with it: equal to `to`,
//!   the change happened and only the record is finished; equal to `from`, it did not happen.
//! - `skyhigh:autoscaler:cause`: the alarm change that caused it (`<alarm> changed-at=<time>`).
//! - `skyhigh:autoscaler:last-scaled-at`, `…:last-direction`: the last change this function
//!   completed (kept while a newer record is pending, so that a failed attempt does not erase
//!   the cooldown of the change before it).
//! - `skyhigh:autoscaler:last-decision`: the decision in words.

use crate::alarm::Direction;

pub const TAG_RECORD: &str = "skyhigh:autoscaler:record";
pub const TAG_CAUSE: &str = "skyhigh:autoscaler:cause";
pub const TAG_LAST_SCALED_AT: &str = "skyhigh:autoscaler:last-scaled-at";
pub const TAG_LAST_DIRECTION: &str = "skyhigh:autoscaler:last-direction";
pub const TAG_LAST_DECISION: &str = "skyhigh:autoscaler:last-decision";
/// When the last completed scale-out was recorded: a later scale-in replaces `last-scaled-at`,
/// and the scale-out cooldown must still count from the scale-out.
pub const TAG_LAST_SCALE_OUT_AT: &str = "skyhigh:autoscaler:last-scale-out-at";

/// The alarm state change a scaling answers: the alarm and when it last changed state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Cause {
    pub alarm: String,
    /// Seconds since the epoch (the alarm's StateTransitionedTimestamp).
    pub changed_at: i64,
}

/// A scaling this function meant to make, and whether it finished.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    pub from: i32,
    pub to: i32,
    /// Seconds since the epoch: when the intent was written.
    pub at: i64,
    pub pending: bool,
    pub cause: Option<Cause>,
}

impl Record {
    pub fn direction(&self) -> Direction {
        if self.to > self.from {
            Direction::High
        } else {
            Direction::Low
        }
    }
}

/// The last change this function completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastScaling {
    /// Seconds since the epoch.
    pub at: i64,
    pub direction: Direction,
}

/// Letters, digits, spaces and `+ - = . _ : / @`, at most 256 characters: what an ECS tag value takes.
pub fn tag_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " +-=._:/@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.truncate(256);
    collapsed
}

/// `2026-11-25T19:06:31Z`, from seconds since the epoch.
pub fn rfc3339(epoch: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}

fn parse_time(v: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(v, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|d| d.secs())
        .or_else(|| v.parse().ok())
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::High => "out",
        Direction::Low => "in",
    }
}

/// The tags that write `record` (and its cause), with the decision in words.
pub fn record_tags(record: &Record, why: &str) -> Vec<(String, String)> {
    let state = if record.pending { "pending" } else { "done" };
    let mut tags = vec![(
        TAG_RECORD.to_string(),
        format!(
            "from={} to={} at={} state={state}",
            record.from,
            record.to,
            rfc3339(record.at)
        ),
    )];
    if let Some(c) = &record.cause {
        tags.push((
            TAG_CAUSE.to_string(),
            tag_value(&format!("{} changed-at={}", c.alarm, rfc3339(c.changed_at))),
        ));
    }
    if !record.pending {
        tags.push((TAG_LAST_SCALED_AT.to_string(), rfc3339(record.at)));
        tags.push((
            TAG_LAST_DIRECTION.to_string(),
            direction_word(record.direction()).to_string(),
        ));
        if record.direction() == Direction::High {
            tags.push((TAG_LAST_SCALE_OUT_AT.to_string(), rfc3339(record.at)));
        }
    }
    if !why.is_empty() {
        tags.push((TAG_LAST_DECISION.to_string(), tag_value(why)));
    }
    tags
}

/// The record and the last completed change, read back from the service's tags. Whatever does
/// not parse is no record (a person may have edited the tags).
pub fn read<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Option<Record>, Option<LastScaling>) {
    let (mut record, mut cause, mut at, mut direction) = (None, None, None, None);
    for (k, v) in tags {
        match k {
            TAG_RECORD => record = parse_record(v),
            TAG_CAUSE => cause = parse_cause(v),
            TAG_LAST_SCALED_AT => at = parse_time(v),
            TAG_LAST_DIRECTION => {
                direction = match v {
                    "out" => Some(Direction::High),
                    "in" => Some(Direction::Low),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    let record = record.map(|r| Record { cause, ..r });
    let last = at.map(|at| LastScaling {
        at,
        // A time without a direction: a scale-out, the more cautious reading.
        direction: direction.unwrap_or(Direction::High),
    });
    (record, last)
}

/// When the last completed scale-out was recorded, from the service's tags.
pub fn last_scale_out<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<i64> {
    tags.into_iter()
        .find(|(k, _)| *k == TAG_LAST_SCALE_OUT_AT)
        .and_then(|(_, v)| parse_time(v))
}

fn parse_record(v: &str) -> Option<Record> {
    let (mut from, mut to, mut at, mut pending) = (None, None, None, None);
    for part in v.split_whitespace() {
        match part.split_once('=')? {
            ("from", x) => from = x.parse().ok(),
            ("to", x) => to = x.parse().ok(),
            ("at", x) => at = parse_time(x),
            ("state", "pending") => pending = Some(true),
            ("state", "done") => pending = Some(false),
            _ => {}
        }
    }
    let (from, to) = (from?, to?);
    (from != to).then_some(Record {
        from,
        to,
        at: at?,
        pending: pending?,
        cause: None,
    })
}

fn parse_cause(v: &str) -> Option<Cause> {
    let (alarm, at) = v.rsplit_once(" changed-at=")?;
    Some(Cause {
        alarm: alarm.to_string(),
        changed_at: parse_time(at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_790_000_000;

    fn as_refs(tags: &[(String, String)]) -> Vec<(&str, &str)> {
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn a_pending_record_keeps_the_last_completed_change() {
        let r = Record {
            from: 2,
            to: 3,
            at: NOW,
            pending: true,
            cause: Some(Cause {
                alarm: "sky-high-booker-cpu-high".into(),
                changed_at: NOW - 40,
            }),
        };
        let tags = record_tags(&r, "scale out 2 to 3 (CPU 93.5 %)");
        assert_eq!(
            tags[0].1,
            "from=2 to=3 at=2026-09-21T14:13:20Z state=pending"
        );
        assert!(
            !tags.iter().any(|(k, _)| k == TAG_LAST_SCALED_AT),
            "not done yet: the last completed change stays"
        );
        assert_eq!(
            tags.iter().find(|(k, _)| k == TAG_LAST_DECISION).unwrap().1,
            "scale out 2 to 3 CPU 93.5"
        );
        assert_eq!(read(as_refs(&tags)), (Some(r.clone()), None));
        let done = Record {
            pending: false,
            ..r.clone()
        };
        let tags = record_tags(&done, "");
        assert_eq!(
            read(as_refs(&tags)),
            (
                Some(done),
                Some(LastScaling {
                    at: NOW,
                    direction: Direction::High
                })
            )
        );
    }

    #[test]
    fn unreadable_tags_are_no_record() {
        for v in [
            "garbage",
            "from=2 to=2 at=2026-09-21T14:13:20Z state=done",
            "from=2 to=3 state=done",
            "from=2 to=3 at=yesterday state=done",
            "from=2 to=3 at=2026-09-21T14:13:20Z state=maybe",
        ] {
            assert_eq!(read([(TAG_RECORD, v)]).0, None, "{v}");
        }
        assert_eq!(
            read([
                (TAG_LAST_SCALED_AT, "1790000000"),
                (TAG_LAST_DIRECTION, "in")
            ])
            .1,
            Some(LastScaling {
                at: NOW,
                direction: Direction::Low
            })
        );
        assert_eq!(read([(TAG_LAST_SCALED_AT, "garbage")]).1, None);
        assert_eq!(tag_value(&"x(y)→z ".repeat(100)).len(), 256);
    }

    proptest! {
        #[test]
        fn records_round_trip(from in 0i32..200, step in 1i32..50, up in any::<bool>(), ago in 0i64..10_000_000,
                              pending in any::<bool>(), alarm in "[a-zA-Z0-9._/-]{1,60}", cause_ago in 0i64..100_000) {
            let to = if up { from + step } else { from - step };
            let r = Record { from, to, at: NOW - ago, pending,
                cause: Some(Cause { alarm, changed_at: NOW - ago - cause_ago }) };
            let tags = record_tags(&r, "why");
            for (_, v) in &tags {
                prop_assert!(v.len() <= 256 && v.chars().all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c)), "{}", v);
            }
            let (back, last) = read(as_refs(&tags));
            prop_assert_eq!(back, Some(r.clone()));
            prop_assert_eq!(last.is_some(), !pending);
        }
    }
}
