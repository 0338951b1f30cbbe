//! The `image-pruner` function: on each ECR push to the stack's repository and once a day,
//! keeps the newest images and every image in use or kept for rollback, and deletes the rest.
//!
//! Three steps, as every function here: read (`event`, `aws::read`), decide (`decide`, pure),
//! act (`aws::delete`, or only a log of the plan in dry-run mode).

pub mod aws;
pub mod decide;
pub mod error;
pub mod event;
pub mod paging;
pub mod settings;

use aws::{Clients, Deletion, DELETE_BATCH};
use decide::{Counts, Policy};
use error::Result;
use event::Trigger;
use serde::Serialize;
use serde_json::Value;
use settings::PrunerSettings;

/// What one invocation did; main adds `aws_calls`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// "schedule", "push" or "ignored".
    pub trigger: String,
    /// Why an event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    pub repository: String,
    pub dry_run: bool,
    pub service_found: bool,
    /// seen, kept, kept by reason, deleted (planned: in a dry run nothing is deleted).
    #[serde(flatten)]
    pub counts: Counts,
    /// Time of the pure decision alone.
    pub decision_micros: u64,
    /// What the BatchDeleteImage calls did (sizes of the calls, failures).
    pub deletion: Deletion,
}

/// Handles one event. `now_millis` is the time of the invocation (ms since the Unix epoch).
pub async fn handle(
    event: &Value,
    clients: &Clients,
    s: &PrunerSettings,
    now_millis: i64,
) -> Result<Outcome> {
    let mut outcome = Outcome {
        repository: s.repository_name.clone(),
        dry_run: s.dry_run,
        ..Outcome::default()
    };
    match event::parse(event, &s.repository_name)? {
        Trigger::Ignore(why) => {
            tracing::info!(reason = %why, "event ignored");
            outcome.trigger = "ignored".into();
            outcome.ignored = Some(why);
            return Ok(outcome);
        }
        Trigger::Schedule => outcome.trigger = "schedule".into(),
        Trigger::Push { digest, tag } => {
            tracing::info!(%digest, tag = tag.as_deref().unwrap_or(""), "pushed");
            outcome.trigger = "push".into();
        }
    }

    let observed = aws::read(clients, s).await?;
    outcome.service_found = observed.service_found;
    if !observed.service_found {
        tracing::warn!(
            cluster = %s.cluster_name,
            service = %s.service_name,
            "service not found: only the newest images and the policy's other rules protect images"
        );
    }
    tracing::info!(
        images = observed.images.len(),
        current_task_definitions = ?observed.current_task_definitions,
        rollback_task_definitions = ?observed.rollback_task_definitions,
        in_use_digests = observed.in_use.running.digests.len(),
        in_use_tags = ?observed.in_use.running.tags,
        rollback_digests = observed.in_use.rollback.digests.len(),
        rollback_tags = ?observed.in_use.rollback.tags,
        "read"
    );

    let policy = Policy::from(s);
    let started = std::time::Instant::now();
    let plan = decide::decide(observed.images, &observed.in_use, &policy, now_millis);
    outcome.decision_micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    outcome.counts = plan.counts();

    if s.dry_run {
        let mut by_reason: std::collections::BTreeMap<decide::KeepReason, Vec<&str>> =
            std::collections::BTreeMap::new();
        for (digest, reason) in &plan.keep {
            by_reason.entry(*reason).or_default().push(digest);
        }
        for (reason, digests) in &by_reason {
            for batch in digests.chunks(DELETE_BATCH) {
                tracing::info!(?reason, digests = ?batch, "dry run: would keep");
            }
        }
        let batches = plan.delete.len().div_ceil(DELETE_BATCH);
        for (i, batch) in plan.delete.chunks(DELETE_BATCH).enumerate() {
            tracing::info!(batch = i + 1, of = batches, digests = ?batch, "dry run: would delete");
        }
    } else if !plan.delete.is_empty() {
        let result = aws::delete(&clients.ecr, &s.repository_name, &plan.delete).await;
        match result {
            Ok(d) => outcome.deletion = d,
            Err(e) => {
                tracing::error!(error = %e, "deleting stopped");
                return Err(e);
            }
        }
        for failure in &outcome.deletion.failures {
            tracing::warn!(%failure, "not deleted");
        }
        outcome.counts.deleted = outcome.deletion.deleted + outcome.deletion.not_found;
    }

    let c = &outcome.counts;
    tracing::info!(
        seen = c.seen,
        kept_in_use = c.kept_in_use,
        kept_rollback = c.kept_rollback,
        kept_newest = c.kept_newest,
        kept_protected = c.kept_protected,
        kept_recent_untagged = c.kept_recent_untagged,
        deleted = c.deleted,
        delete_calls = outcome.deletion.calls.len(),
        failed = outcome.deletion.failures.len(),
        dry_run = s.dry_run,
        decision_micros = outcome.decision_micros,
        "prune summary"
    );
    Ok(outcome)
}
