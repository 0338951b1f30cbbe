//! The AWS side of the status command: read-only calls, in parallel. A read that fails is
//! named in `Observed::problems` and the rest is still shown.

use crate::outputs::{OutputsError, StackRefs};
use crate::status::{self, Alarm, Deployment, Image, LogLine, Observed, Service, Status, Target};
use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_ecs::types::ServiceField;
use std::collections::BTreeMap;

/// How far back the functions' log groups are searched for decisions.
const LOG_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// Pages of log events read per log group (each up to 1 MB); the newest are kept.
const LOG_PAGES: usize = 5;
/// Lines with a decision: the redeployer's and autoscaler's `why`, skips' `reason`, the
/// pruner's summary (`deleted`). Terms joined by `?` match any of them.
const LOG_FILTER: &str = "?why ?reason ?deleted";

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("stack {0} not found")]
    NoSuchStack(String),
    #[error("reading stack {stack}: {message}")]
    Stack { stack: String, message: String },
    #[error(transparent)]
    Outputs(#[from] OutputsError),
}

pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub scaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            scaling: aws_sdk_applicationautoscaling::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
        }
    }
}

/// The error's own message (code and text), not the SDK's generic "service error".
fn message<E, R>(e: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// The stack's Outputs (DescribeStacks).
pub async fn outputs(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<BTreeMap<String, String>, StatusError> {
    let answer = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let m = message(&e);
            // CloudFormation answers ValidationError "Stack with id X does not exist".
            if m.contains("does not exist") {
                StatusError::NoSuchStack(stack.to_string())
            } else {
                StatusError::Stack {
                    stack: stack.to_string(),
                    message: m,
                }
            }
        })?;
    let found = answer
        .stacks()
        .first()
        .ok_or_else(|| StatusError::NoSuchStack(stack.to_string()))?;
    Ok(found
        .outputs()
        .iter()
        .filter_map(|o| {
            Some((
                o.output_key()?.to_string(),
                o.output_value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

async fn service(c: &Clients, refs: &StackRefs) -> Result<Option<Service>, String> {
    let answer = c
        .ecs
        .describe_services()
        .cluster(&refs.cluster)
        .services(&refs.service)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| format!("ecs:DescribeServices: {}", message(&e)))?;
    let Some(s) = answer.services().first() else {
        return Ok(None);
    };
    let task_definition = s.task_definition().unwrap_or_default().to_string();
    let image = if task_definition.is_empty() {
        String::new()
    } else {
        c.ecs
            .describe_task_definition()
            .task_definition(&task_definition)
            .send()
            .await
            .map_err(|e| format!("ecs:DescribeTaskDefinition: {}", message(&e)))?
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string()
    };
    Ok(Some(Service {
        status: s.status().unwrap_or_default().to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        pending: s.pending_count(),
        task_definition,
        image,
        deployments: s
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                rollout_state: d
                    .rollout_state()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                rollout_reason: d.rollout_state_reason().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed: d.failed_tasks(),
            })
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }))
}

async fn bounds(c: &Clients, refs: &StackRefs) -> Result<Option<(i32, i32)>, String> {
    let answer = c
        .scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_ids(format!("service/{}/{}", refs.cluster, refs.service))
        .send()
        .await
        .map_err(|e| {
            format!(
                "application-autoscaling:DescribeScalableTargets: {}",
                message(&e)
            )
        })?;
    Ok(answer
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity())))
}

async fn images(c: &Clients, refs: &StackRefs) -> Result<Vec<Image>, String> {
    let mut pages = c
        .ecr
        .describe_images()
        .repository_name(&refs.repository)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        let i = item.map_err(|e| format!("ecr:DescribeImages: {}", message(&e)))?;
        out.push(Image {
            digest: i.image_digest().unwrap_or_default().to_string(),
            tags: i.image_tags().to_vec(),
        });
    }
    Ok(out)
}

async fn targets(c: &Clients, arn: &str) -> Result<Vec<Target>, String> {
    let answer = c
        .elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| format!("elasticloadbalancing:DescribeTargetHealth: {}", message(&e)))?;
    Ok(answer
        .target_health_descriptions()
        .iter()
        .map(|d| Target {
            id: d
                .target()
                .and_then(|t| t.id())
                .unwrap_or_default()
                .to_string(),
            port: d.target().and_then(|t| t.port()),
            state: d
                .target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: d
                .target_health()
                .and_then(|h| h.description())
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

async fn alarms(c: &Clients, names: &[String]) -> Result<Vec<Alarm>, String> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    // DescribeAlarms takes at most 100 names.
    for chunk in names.chunks(100) {
        let answer = c
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| format!("cloudwatch:DescribeAlarms: {}", message(&e)))?;
        out.extend(answer.metric_alarms().iter().map(|a| {
            Alarm {
                name: a.alarm_name().unwrap_or_default().to_string(),
                state: a
                    .state_value()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                since: a
                    .state_updated_timestamp()
                    .map(|t| status::rfc3339_ms(t.to_millis().unwrap_or_default()))
                    .unwrap_or_default(),
            }
        }));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn log_lines(c: &Clients, group: &str, now_ms: i64) -> Result<Vec<LogLine>, String> {
    let mut out = Vec::new();
    let mut token = None;
    // FilterLogEvents answers oldest first: read a few pages, keep the newest lines.
    for _ in 0..LOG_PAGES {
        let answer = c
            .logs
            .filter_log_events()
            .log_group_name(group)
            .start_time(now_ms - LOG_WINDOW_MS)
            .filter_pattern(LOG_FILTER)
            .set_next_token(token)
            .send()
            .await;
        let answer = match answer {
            Ok(a) => a,
            // Not made yet (the template makes it; a local AWS may not): nothing logged.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(format!("logs:FilterLogEvents {group}: {}", message(&e))),
        };
        out.extend(answer.events().iter().map(|e| LogLine {
            log_group: group.to_string(),
            timestamp_ms: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().to_string(),
        }));
        token = answer.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let keep = out.len().saturating_sub(50);
    Ok(out.split_off(keep))
}

/// Everything the view needs, read in parallel.
pub async fn observe(c: &Clients, refs: &StackRefs, now_ms: i64) -> Observed {
    let mut problems = Vec::new();
    let (svc, bounds, images, targets, alarms, logs) = tokio::join!(
        service(c, refs),
        bounds(c, refs),
        images(c, refs),
        async {
            match &refs.target_group_arn {
                Some(arn) => targets(c, arn).await.map(Some),
                None => Ok(None),
            }
        },
        alarms(c, &refs.alarms),
        one_after_another(refs.log_groups.iter().map(|g| log_lines(c, g, now_ms))),
    );
    fn keep<T>(r: Result<T, String>, problems: &mut Vec<String>) -> Option<T> {
        r.map_err(|e| problems.push(e)).ok()
    }
    let service = keep(svc, &mut problems).flatten();
    let bounds = keep(bounds, &mut problems).flatten();
    let images = keep(images, &mut problems);
    let targets = keep(targets, &mut problems).flatten();
    let alarms = keep(alarms, &mut problems).unwrap_or_default();
    let mut log_lines = Vec::new();
    for r in logs {
        log_lines.extend(keep(r, &mut problems).unwrap_or_default());
    }
    Observed {
        service,
        bounds,
        images,
        targets,
        alarms,
        log_lines,
        problems,
    }
}

/// Awaits each future in turn (one per log group: four).
async fn one_after_another<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

/// The stack's status: its Outputs, then everything they name.
pub async fn status(c: &Clients, stack: &str, now_ms: i64) -> Result<Status, StatusError> {
    let outputs = outputs(&c.cloudformation, stack).await?;
    let refs = StackRefs::from_outputs(&outputs)?;
    let observed = observe(c, &refs, now_ms).await;
    Ok(status::status(stack, &refs, observed))
}
