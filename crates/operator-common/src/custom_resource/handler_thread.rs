//! Where a custom-resource handler runs, so that the deadline's answer never waits on it.
//!
//! The provisioner's invocation loop runs on tokio's current-thread runtime, and its handlers
//! on another current-thread runtime, on a thread of their own: a handler that never yields (a
//! loop, a blocking call) holds only that thread, and the invocation's timer still fires and
//! answers CloudFormation before the deadline. Two threads each doing all of their own I/O
//! cost a cold start less than tokio's worker threads (no worker pool to start, no task woken
//! across threads on every socket event; README, "Cold start").

use tokio::runtime::{Builder, Handle};

/// Starts a thread named `custom-resource-handler` running a current-thread runtime for the
/// life of the process, and returns its handle: [`super::answer`]'s handler goes there. The
/// SDK connections a handler opens are driven by that runtime too, so it must outlive them:
/// start one per process (tests that need one start their own). A handler that never returns
/// keeps the thread: the process's later requests then time out and answer FAILED, in time.
pub fn handler_thread() -> std::io::Result<Handle> {
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("custom-resource-handler".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}
