//! The `redeployer` function: an image push to ECR rolls the service onto exactly that image,
//! pinned by digest. Read (the latest revision, the images' push times), decide (pure, in
//! `decide`), act (register the revision, update the service).

pub mod aws;
pub mod decide;
pub mod error;
pub mod settings;

use decide::Decision;
use error::RedeployError;
use operator_common::events::{EcrImageAction, EcrImageEvent};
use serde::Serialize;
use serde_json::Value;
use settings::Settings;

#[derive(Debug, Clone)]
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Clients {
            ecs: operator_common::counted_client!(aws_sdk_ecs, config),
            ecr: operator_common::counted_client!(aws_sdk_ecr, config),
        }
    }
}

/// What one event led to: the invocation's response, and one log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// "deployed", "ignored", or "planned" (dry run).
    pub decision: &'static str,
    pub digest: String,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
}

/// Parses the event; nothing else happens (and no AWS call is made) when it is not one.
pub fn parse(event: Value) -> Result<EcrImageAction, RedeployError> {
    let event: EcrImageEvent =
        serde_json::from_value(event).map_err(|e| RedeployError::Malformed(e.to_string()))?;
    if event.source != "aws.ecr" || event.detail_type != "ECR Image Action" {
        return Err(RedeployError::Malformed(format!(
            "{} / {}",
            event.source, event.detail_type
        )));
    }
    Ok(event.detail)
}

fn ignored(event: &EcrImageAction, why: String) -> Outcome {
    Outcome {
        decision: "ignored",
        digest: event.image_digest.clone(),
        why,
        image: None,
        task_definition: None,
    }
}

/// Handles one parsed push. `clients` is only called once the event is known to matter.
pub async fn redeploy<'c, F, Fut>(
    event: &EcrImageAction,
    settings: &Settings,
    clients: F,
) -> Result<Outcome, RedeployError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = &'c Clients>,
{
    if let Err(why) = decide::relevant(event, settings) {
        return Ok(ignored(event, why));
    }
    let c = clients().await;
    let (td, index) = aws::latest_revision(&c.ecs, &settings.service, &settings.repository).await?;
    let mut running = aws::running_of(&td, index);
    let digests: Vec<&str> = std::iter::once(event.image_digest.as_str())
        .chain(
            running
                .digest
                .as_deref()
                .filter(|d| *d != event.image_digest),
        )
        .collect();
    let mut facts = aws::image_facts(&c.ecr, &settings.repository, &digests).await?;
    let pushed = facts.remove(&event.image_digest);
    running.facts = running.digest.as_ref().and_then(|d| facts.remove(d));
    match decide::decide(event, pushed.as_ref(), &running, settings) {
        Decision::Ignore { why } => Ok(ignored(event, why)),
        Decision::Deploy { image } if settings.dry_run => Ok(Outcome {
            decision: "planned",
            digest: event.image_digest.clone(),
            why: format!("dry run: would roll {} onto {image}", settings.service),
            image: Some(image),
            task_definition: None,
        }),
        Decision::Deploy { image } => {
            let arn = aws::roll(
                &c.ecs,
                &td,
                index,
                &image,
                &settings.cluster,
                &settings.service,
            )
            .await?;
            Ok(Outcome {
                decision: "deployed",
                digest: event.image_digest.clone(),
                why: format!(
                    "rolled {} from {} onto the push",
                    settings.service, running.image
                ),
                image: Some(image),
                task_definition: Some(arn),
            })
        }
    }
}
