//! When the deletions run. ECR publishes no rate quota for BatchDeleteImage (its quota page
//! lists only the push and pull APIs), so the pace is found by asking: a few calls in flight,
//! halved on each throttle and grown back one at a time; a throttled call waits, longer each
//! time in a row, and is made again. The deletions stop in time for the invocation to answer
//! before its deadline; what is left is deleted by the next run. Pure but for the clock.

use std::time::Duration;
use tokio::time::Instant;

/// BatchDeleteImage calls in flight at most (and at first), by default
/// (`DELETE_CALLS_IN_FLIGHT`).
pub const MAX_IN_FLIGHT: usize = 4;
/// The wait after a throttled call (one the SDK's own 3 attempts did not get through),
/// doubled for each throttle in a row, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// Time kept before the deadline when a call starts: for the calls in flight to end (at most
/// the SDK's operation timeout, 30 s: `operator_common::aws`), then the run's record and the
/// answer.
pub const RESERVE: Duration = Duration::from_secs(35);

/// How many calls may be in flight, and when the next may start.
#[derive(Debug, Clone)]
pub struct Pace {
    max: usize,
    window: usize,
    successes: usize,
    backoff: Duration,
    resume_at: Option<Instant>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new(MAX_IN_FLIGHT)
    }
}

impl Pace {
    /// At most `max` calls in flight (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Pace {
            max,
            window: max,
            successes: 0,
            backoff: FIRST_BACKOFF,
            resume_at: None,
        }
    }

    /// Calls that may be in flight now.
    pub fn window(&self) -> usize {
        self.window
    }

    /// No call starts before this (a throttle's wait).
    pub fn resume_at(&self) -> Option<Instant> {
        self.resume_at
    }

    /// A call went through: after a window's worth of them, one more may be in flight.
    pub fn on_success(&mut self) {
        self.backoff = FIRST_BACKOFF;
        self.successes += 1;
        if self.successes >= self.window && self.window < self.max {
            self.window += 1;
            self.successes = 0;
        }
    }

    /// A call was throttled at `now`: half as many in flight, and a wait before the next.
    pub fn on_throttle(&mut self, now: Instant) {
        self.window = (self.window / 2).max(1);
        self.successes = 0;
        let resume = now + self.backoff;
        self.resume_at = Some(self.resume_at.map_or(resume, |r| r.max(resume)));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// The invocation's deadline, as the deletions see it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Option<Instant>,
}

impl Budget {
    /// No deadline (tests, and a context without one).
    pub fn unlimited() -> Self {
        Budget { deadline: None }
    }

    pub fn until(deadline: Instant) -> Self {
        Budget {
            deadline: Some(deadline),
        }
    }

    /// From the Lambda context's deadline (ms since the Unix epoch), read at `now_millis`.
    pub fn from_lambda(deadline_millis: Option<i64>, now_millis: i64) -> Self {
        match deadline_millis {
            Some(d) => {
                let left = u64::try_from(d.saturating_sub(now_millis)).unwrap_or(0);
                Budget::until(Instant::now() + Duration::from_millis(left))
            }
            None => Budget::unlimited(),
        }
    }

    /// Whether a call may start at `at`: [`RESERVE`] must be left after it.
    pub fn allows_call_at(&self, at: Instant) -> bool {
        self.deadline.is_none_or(|d| at + RESERVE <= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_halves_the_calls_in_flight_and_successes_grow_them_back() {
        let now = Instant::now();
        let mut pace = Pace::default();
        assert_eq!((pace.window(), pace.resume_at()), (MAX_IN_FLIGHT, None));
        pace.on_throttle(now);
        assert_eq!(pace.window(), 2);
        assert_eq!(pace.resume_at(), Some(now + FIRST_BACKOFF));
        pace.on_throttle(now);
        pace.on_throttle(now);
        assert_eq!(pace.window(), 1, "never below one");
        // Waits double in a row (1, 2, 4 s: the longest one counts), up to the cap.
        assert_eq!(pace.resume_at(), Some(now + Duration::from_secs(4)));
        for _ in 0..10 {
            pace.on_throttle(now);
        }
        assert_eq!(pace.resume_at(), Some(now + MAX_BACKOFF));
        // One success at window 1 → 2; two more → 3; three more → 4; then it stays.
        let mut windows = vec![];
        for _ in 0..12 {
            pace.on_success();
            windows.push(pace.window());
        }
        assert_eq!(windows, [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]);
        // One call at a time never grows.
        let mut one = Pace::new(0);
        one.on_success();
        one.on_throttle(now);
        one.on_success();
        assert_eq!(one.window(), 1);
        // A success resets the wait: the next throttle waits the first backoff again.
        let later = now + Duration::from_secs(60);
        pace.on_throttle(later);
        assert_eq!(pace.resume_at(), Some(later + FIRST_BACKOFF));
    }

    #[test]
    fn a_call_starts_only_with_the_reserve_left_before_the_deadline() {
        let now = Instant::now();
        let budget = Budget::until(now + RESERVE + Duration::from_secs(5));
        assert!(budget.allows_call_at(now));
        assert!(budget.allows_call_at(now + Duration::from_secs(5)));
        assert!(!budget.allows_call_at(now + Duration::from_millis(5_001)));
        assert!(Budget::unlimited().allows_call_at(now + Duration::from_secs(86_400)));
        // Lambda's deadline: a 300 s invocation that started now can call for 265 s.
        let b = Budget::from_lambda(Some(1_000_300_000), 1_000_000_000);
        assert!(b.allows_call_at(Instant::now() + Duration::from_secs(264)));
        assert!(!b.allows_call_at(Instant::now() + Duration::from_secs(266)));
        let past = Budget::from_lambda(Some(1_000), 2_000);
        assert!(!past.allows_call_at(Instant::now()));
        assert!(Budget::from_lambda(None, 0).allows_call_at(Instant::now()));
    }
}
