//! The `redeployer` function: keeps the service on the image the tracked tag points to, pinned
//! by digest. Any event that may have moved the tag (a push, a delete, the schedule) runs the
//! same reconcile: read the truth (`aws::truth`), decide (pure, `decide::plan`), act
//! (register a revision only when none of the family's newest runs the digest, then roll the
//! service onto it).

pub mod aws;
pub mod decide;
pub mod error;
pub mod event;
pub mod settings;

pub use aws::Clients;
use decide::Plan;
use error::RedeployError;
use event::{Hint, Trigger};
use serde::Serialize;
use serde_json::Value;
use settings::Settings;

/// What an invocation led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Not an event this function takes: logged once, not retried, no AWS call.
    Rejected,
    /// An event that cannot have moved the tag: no AWS call.
    Ignored,
    /// The service already runs what the tag points to (or there is nothing to run).
    Nothing,
    /// The service was rolled onto the tag's digest.
    Deployed,
    /// Dry run: what would have been deployed.
    Planned,
}

/// The invocation's response, and its log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub decision: Decision,
    /// "push", "delete" or "schedule".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<&'static str>,
    pub why: String,
    /// The digest the event named (a hint only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_digest: Option<String>,
    /// What the tag pointed to when the function looked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_digest: Option<String>,
    /// The revision the service ran when the function looked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The revision the service was rolled onto.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Whether that revision already existed (a retry after a partial failure, a rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<bool>,
}

impl Decision {
    /// The operator's metric this decision counts (operator-common's metrics.rs).
    pub fn metric(self) -> Option<operator_common::metrics::Metric> {
        use operator_common::metrics::Metric;
        match self {
            Decision::Deployed => Some(Metric::Deploys),
            Decision::Rejected => Some(Metric::RejectedEvents),
            Decision::Ignored | Decision::Nothing | Decision::Planned => None,
        }
    }
}

impl Outcome {
    fn of(decision: Decision, why: String) -> Outcome {
        Outcome {
            decision,
            trigger: None,
            why,
            event_digest: None,
            tag_digest: None,
            running: None,
            image: None,
            task_definition: None,
            reused: None,
        }
    }
}

/// Handles one event. `clients` is only called once the event is known to matter.
pub async fn handle<'c, F, Fut>(
    event: &Value,
    settings: &Settings,
    clients: F,
) -> Result<Outcome, RedeployError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = &'c Clients>,
{
    match event::parse(event, &settings.repository, &settings.image_tag) {
        Err(why) => Ok(Outcome::of(Decision::Rejected, why)),
        Ok(Trigger::Ignore(why)) => Ok(Outcome::of(Decision::Ignored, why)),
        Ok(Trigger::Reconcile(hint)) => reconcile(&hint, settings, clients().await).await,
    }
}

/// Makes the service run what the tag points to now, whatever `hint` said.
pub async fn reconcile(
    hint: &Hint,
    settings: &Settings,
    c: &Clients,
) -> Result<Outcome, RedeployError> {
    let pushed = match hint {
        Hint::Push { digest, tag } if *tag == settings.image_tag => Some(digest.as_str()),
        _ => None,
    };
    let aws::Reading {
        truth,
        service_arn,
        listed,
    } = aws::truth(c, settings, pushed).await?;
    let candidates = match decide::wanted(&truth) {
        Ok(image) => aws::candidates(c, &truth, &image, listed).await?,
        Err(_) => Vec::new(),
    };
    let plan = decide::plan(&truth, &candidates);
    let mut outcome = Outcome {
        trigger: Some(hint.name()),
        event_digest: hint.digest().map(str::to_string),
        tag_digest: truth.tag_digest.clone(),
        running: Some(truth.running_revision().to_string()),
        ..Outcome::of(Decision::Nothing, String::new())
    };
    // A late event (its digest no longer holds the tag) is said so; it changes nothing else.
    let late = match (hint, &truth.tag_digest) {
        (Hint::Push { digest, tag }, Some(now)) if *tag == settings.image_tag && digest != now => {
            format!(" (the event's {digest} no longer holds the tag)")
        }
        _ => String::new(),
    };
    let (image, revision) = match plan {
        Plan::Nothing { why } => {
            outcome.why = format!("{why}{late}");
            if let (Some(rolled), false) = (decide::repair(&truth), settings.dry_run) {
                aws::record(c, &service_arn, &rolled).await?;
                outcome.why.push_str(" (record of the last roll repaired)");
            }
            return Ok(outcome);
        }
        Plan::Reuse { revision, image } => (image, Some(revision)),
        Plan::Register { image } => (image, None),
    };
    outcome.image = Some(image.clone());
    outcome.reused = Some(revision.is_some());
    if settings.dry_run {
        outcome.decision = Decision::Planned;
        outcome.task_definition = revision.clone();
        outcome.why = match revision {
            Some(r) => format!(
                "dry run: would roll {} onto {r} ({image})",
                settings.service
            ),
            None => format!(
                "dry run: would register {image} and roll {} onto it",
                settings.service
            ),
        };
        return Ok(outcome);
    }
    let revision = match revision {
        Some(r) => r,
        None => aws::register(c, &truth, &image).await?,
    };
    aws::roll(c, settings, &revision).await?;
    let rolled = decide::Rolled {
        onto: revision.clone(),
        from: truth.running_revision().to_string(),
    };
    // The service has moved. If the record fails, the invocation fails: Lambda's retry finds
    // the service on the tag and repairs the record (`decide::repair`).
    aws::record(c, &service_arn, &rolled).await?;
    outcome.decision = Decision::Deployed;
    outcome.why = format!(
        "rolled {} from {} onto {image}{}{late}",
        settings.service,
        truth.running_image(),
        if outcome.reused == Some(true) {
            ", an existing revision"
        } else {
            ""
        }
    );
    outcome.task_definition = Some(revision);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use operator_common::metrics::Metric;

    #[test]
    fn a_deploy_and_a_rejected_event_are_counted() {
        assert_eq!(Decision::Deployed.metric(), Some(Metric::Deploys));
        assert_eq!(Decision::Rejected.metric(), Some(Metric::RejectedEvents));
        for quiet in [Decision::Ignored, Decision::Nothing, Decision::Planned] {
            assert_eq!(quiet.metric(), None, "{quiet:?}");
        }
    }
}
