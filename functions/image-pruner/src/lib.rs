//! The `image-pruner` function: on each ECR push to the stack's repository and once a day,
//! keeps the newest images and every image in use or kept for rollback, and deletes the rest.
//!
//! Three steps, as every function here: read (`event`, `aws::read`), decide (`decide`, pure),
//! act (`aws::delete`, or only a log of the plan in dry-run mode).

pub mod aws;
pub mod decide;
pub mod error;
pub mod event;
pub mod gate;
#[cfg(test)]
mod mock;
pub mod paging;
pub mod schedule;
pub mod settings;

use aws::{Clients, Deletion, DELETE_BATCH};
use decide::{Counts, Policy};
use error::Result;
use event::Trigger;
use gate::Gate;
use serde::Serialize;
use serde_json::Value;
use settings::Settings;

/// What an invocation decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The repository was pruned (or, in a dry run, the plan logged).
    #[default]
    Pruned,
    /// A push that a prune started after it already covered: no prune.
    Skipped,
    /// A well-formed event that is not for this function (another repository, a delete).
    Ignored,
    /// A malformed or foreign event: answered without error so that Lambda does not retry it.
    Rejected,
}

/// What one invocation did; main adds `aws_calls`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub decision: Decision,
    /// "schedule", "push" or "other".
    pub trigger: String,
    /// Why an event was skipped, ignored or rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub repository: String,
    pub dry_run: bool,
    pub service_found: bool,
    /// The recorded start of the last completed prune, when it was read (pushes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_started: Option<String>,
    /// The start of this prune, recorded on the repository once it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_run_started: Option<String>,
    /// seen, kept, kept by reason, deleted (planned: in a dry run nothing is deleted).
    #[serde(flatten)]
    pub counts: Counts,
    /// Manifests read (BatchGetImage) to find indexes' children and referrers' subjects.
    pub manifests_read: usize,
    /// Time of the pure decision alone.
    pub decision_micros: u64,
    /// What the BatchDeleteImage calls did (sizes of the calls, failures).
    pub deletion: Deletion,
}

/// Handles one event with no deadline: see [`handle_until`].
pub async fn handle(
    event: &Value,
    clients: &Clients,
    s: &Settings,
    now_millis: i64,
    invoked_function_arn: &str,
) -> Result<Outcome> {
    handle_until(event, clients, s, now_millis, None, invoked_function_arn).await
}

/// Handles one event. `now_millis` is the time the invocation started (ms since the Unix
/// epoch): it is the prune's recorded start. `deadline_millis` is the invocation's deadline
/// (the Lambda context's): the deletions stop in time to answer, and the next run deletes what
/// is left. `invoked_function_arn` names the partition, region and account of the repository.
pub async fn handle_until(
    event: &Value,
    clients: &Clients,
    s: &Settings,
    now_millis: i64,
    deadline_millis: Option<i64>,
    invoked_function_arn: &str,
) -> Result<Outcome> {
    let budget = schedule::Budget::from_lambda(deadline_millis, now_millis);
    let mut outcome = Outcome {
        repository: s.repository_name.clone(),
        dry_run: s.dry_run,
        ..Outcome::default()
    };
    let trigger = event::parse(event, &s.repository_name);
    outcome.trigger = match &trigger {
        Trigger::Schedule => "schedule",
        Trigger::Push { .. } => "push",
        Trigger::Ignore(_) | Trigger::Reject(_) => "other",
    }
    .into();
    let repository_arn = gate::repository_arn(invoked_function_arn, &s.repository_name);
    if repository_arn.is_none() && matches!(trigger, Trigger::Schedule | Trigger::Push { .. }) {
        tracing::warn!(
            invoked_function_arn,
            "no repository ARN from the function's ARN: every push prunes, no run is recorded"
        );
    }
    let last_run_started = match (&trigger, &repository_arn) {
        (Trigger::Push { .. }, Some(arn)) => aws::last_run_started(&clients.ecr, arn).await?,
        _ => None,
    };
    outcome.last_run_started = last_run_started.map(gate::format_time);
    if let Gate::Skip(why) = gate::gate(&trigger, last_run_started) {
        outcome.decision = match trigger {
            Trigger::Reject(_) => {
                let shown: String = event.to_string().chars().take(1024).collect();
                tracing::error!(reason = %why, event = %shown, "event rejected: not retried");
                Decision::Rejected
            }
            Trigger::Ignore(_) => {
                tracing::info!(reason = %why, "event ignored");
                Decision::Ignored
            }
            _ => {
                tracing::info!(reason = %why, "push skipped");
                Decision::Skipped
            }
        };
        outcome.reason = Some(why);
        return Ok(outcome);
    }
    if let Trigger::Push { digest, tag, .. } = &trigger {
        tracing::info!(%digest, tag = tag.as_deref().unwrap_or(""), "pushed");
    }

    let mut observed = aws::read(clients, s).await?;
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
    let wanted =
        decide::manifests_to_read(&mut observed.images, &observed.in_use, &policy, now_millis);
    let manifests = if wanted.is_empty() {
        decide::Manifests::new()
    } else {
        aws::read_manifests(&clients.ecr, &s.repository_name, &wanted).await?
    };
    outcome.manifests_read = manifests.len();
    let started = std::time::Instant::now();
    let plan = decide::decide(
        observed.images,
        &observed.in_use,
        &policy,
        now_millis,
        &manifests,
    );
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
        let result = aws::delete(
            &clients.ecr,
            &s.repository_name,
            &plan.delete_phases(),
            s.delete_calls_in_flight,
            budget,
        )
        .await;
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
        if outcome.deletion.left > 0 {
            tracing::warn!(
                left = outcome.deletion.left,
                "the invocation's time ran out: the next run deletes the rest"
            );
        }
    }

    // A run that left deletions undone is not recorded: a push it covered still prunes.
    if !s.dry_run && outcome.deletion.left == 0 {
        if let Some(arn) = &repository_arn {
            aws::record_run(&clients.ecr, arn, now_millis).await?;
            outcome.recorded_run_started = Some(gate::format_time(now_millis));
        }
    }

    let c = &outcome.counts;
    tracing::info!(
        seen = c.seen,
        kept_in_use = c.kept_in_use,
        kept_rollback = c.kept_rollback,
        kept_newest = c.kept_newest,
        kept_protected = c.kept_protected,
        kept_recent_untagged = c.kept_recent_untagged,
        kept_platform_of_kept = c.kept_platform_of_kept,
        kept_referrer = c.kept_referrer,
        kept_unread_manifest = c.kept_unread_manifest,
        manifests_read = outcome.manifests_read,
        deleted = c.deleted,
        delete_calls = outcome.deletion.calls.len(),
        failed = outcome.deletion.failures.len(),
        throttled = outcome.deletion.throttled,
        left = outcome.deletion.left,
        dry_run = s.dry_run,
        decision_micros = outcome.decision_micros,
        "prune summary"
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput;
    use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ecr::operation::tag_resource::TagResourceOutput;
    use aws_sdk_ecr::types::ImageDetail;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_smithy_mocks::{mock, MockResponse, Rule};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const NOW: i64 = 1_795_618_474_000;
    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:pruner";

    /// A repository of 250 tagged images, no service; BatchDeleteImage throttled `throttles`
    /// times, then answering.
    fn clients(throttles: usize) -> (Clients, Rule) {
        let images = mock!(aws_sdk_ecr::Client::describe_images).then_compute_output(|_| {
            let details = (0..250)
                .map(|i| {
                    ImageDetail::builder()
                        .image_digest(format!("sha256:{i:064x}"))
                        .image_tags(format!("v{i}"))
                        .image_pushed_at(aws_smithy_types::DateTime::from_millis(i * 1000))
                        .image_manifest_media_type(decide::media::DOCKER_MANIFEST)
                        .build()
                })
                .collect();
            DescribeImagesOutput::builder()
                .set_image_details(Some(details))
                .build()
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let delete =
            mock!(aws_sdk_ecr::Client::batch_delete_image).then_compute_response(move |input| {
                if calls.fetch_add(1, Ordering::SeqCst) < throttles {
                    return MockResponse::Http(crate::mock::error(400, "ThrottlingException"));
                }
                MockResponse::Output(
                    BatchDeleteImageOutput::builder()
                        .set_image_ids(Some(input.image_ids().to_vec()))
                        .build(),
                )
            });
        let record = mock!(aws_sdk_ecr::Client::tag_resource)
            .then_compute_output(|_| TagResourceOutput::builder().build());
        let services = mock!(aws_sdk_ecs::Client::describe_services)
            .then_compute_output(|_| DescribeServicesOutput::builder().build());
        let clients = Clients {
            ecr: crate::mock::ecr(&[&images, &delete, &record]),
            ecs: crate::mock::ecs(&[&services]),
        };
        (clients, record)
    }

    fn schedule() -> Value {
        json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
    }

    /// The schedule's prune of [`clients`]'s repository, due by `deadline`; and the record rule.
    async fn scheduled_prune(throttles: usize, deadline: i64) -> (Outcome, Rule) {
        let (clients, record) = clients(throttles);
        let settings = Settings::example();
        let out = handle_until(&schedule(), &clients, &settings, NOW, Some(deadline), ARN)
            .await
            .unwrap();
        (out, record)
    }

    #[tokio::test(start_paused = true)]
    async fn a_prune_the_deadline_cut_short_answers_what_it_did_and_is_not_recorded() {
        // Time for the first calls only: the throttle's wait would run into the reserve.
        let deadline = NOW + schedule::RESERVE.as_millis() as i64 + 500;
        let (out, record) = scheduled_prune(1, deadline).await;
        assert_eq!(out.decision, Decision::Pruned);
        assert_eq!(out.deletion.calls, [100, 100, 40]);
        assert_eq!((out.deletion.throttled, out.deletion.left), (1, 100));
        assert_eq!((out.counts.seen, out.counts.deleted), (250, 140));
        assert_eq!(out.recorded_run_started, None);
        assert_eq!(
            record.num_calls(),
            0,
            "no record: the next run prunes again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_time_enough_a_throttled_prune_completes_and_is_recorded() {
        let deadline = NOW + 300_000;
        let (out, record) = scheduled_prune(2, deadline).await;
        assert_eq!((out.deletion.throttled, out.deletion.left), (2, 0));
        assert_eq!(out.counts.deleted, 240);
        assert!(out.recorded_run_started.is_some());
        assert_eq!(record.num_calls(), 1);
    }
}
