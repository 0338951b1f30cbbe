//! Waiting within the invocation's deadline: backoff between attempts, and the rule for whether
//! one more attempt still leaves time to answer CloudFormation.

use std::time::Duration;
use tokio::time::Instant;

/// Doubling delays from `first`, at most `max` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// A service drains in about the target group's deregistration delay (30 s by default):
    /// polling every few seconds answers soon after it is gone.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(15),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt + 1` (attempt counts from 0).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first
            .checked_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay before the next attempt, or None when waiting it would pass `until`.
    pub fn next(&self, attempt: u32, now: Instant, until: Instant) -> Option<Duration> {
        let delay = self.delay(attempt);
        (now + delay < until).then_some(delay)
    }
}

/// How much of the deadline a handler keeps for itself after a wait (a last call, the answer).
pub const MARGIN: Duration = Duration::from_secs(5);

/// The end of any wait inside a handler that must answer by `answer_by`.
pub fn wait_until(answer_by: Instant) -> Instant {
    answer_by.checked_sub(MARGIN).unwrap_or(answer_by)
}

/// Runs `attempt` until it succeeds, fails with an error `retry` does not accept, or the next
/// backoff would pass `until`; the last error is returned then.
pub async fn retrying<T, E, F, Fut>(
    backoff: &Backoff,
    until: Instant,
    retry: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut n = 0;
    loop {
        match attempt().await {
            Err(e) if retry(&e) => match backoff.next(n, Instant::now(), until) {
                Some(delay) => {
                    n += 1;
                    tokio::time::sleep(delay).await;
                }
                None => return Err(e),
            },
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let d: Vec<u64> = (0..6).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test]
    async fn retrying_stops_on_success_on_other_errors_and_at_the_deadline() {
        let b = Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let far = Instant::now() + Duration::from_secs(600);
        let calls = std::cell::Cell::new(0);
        let busy = |e: &&str| *e == "busy";
        let third = retrying(&b, far, busy, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err("busy")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(third, Ok(3));
        calls.set(0);
        let other = retrying(&b, far, busy, || {
            calls.set(calls.get() + 1);
            async { Err::<u32, _>("denied") }
        })
        .await;
        assert_eq!((other, calls.get()), (Err("denied"), 1));
        // No time left for a backoff: one attempt, and its error.
        calls.set(0);
        let late = retrying(&b, Instant::now(), busy, || {
            calls.set(calls.get() + 1);
            async { Err::<u32, _>("busy") }
        })
        .await;
        assert_eq!((late, calls.get()), (Err("busy"), 1));
    }

    proptest! {
        #[test]
        fn a_wait_never_passes_the_deadline(first_ms in 1u64..5000, max_ms in 1u64..60_000,
                                            attempt in 0u32..100, left_ms in 0u64..120_000) {
            let b = Backoff { first: Duration::from_millis(first_ms), max: Duration::from_millis(max_ms) };
            let now = Instant::now();
            let until = now + Duration::from_millis(left_ms);
            prop_assert!(b.delay(attempt) <= b.max);
            match b.next(attempt, now, until) {
                Some(d) => prop_assert!(now + d < until),
                None => prop_assert!(now + b.delay(attempt) >= until),
            }
        }
    }
}
