//! The environment as the status command shows it, and the rules that derive it from what
//! AWS answered: which image runs, the operator's last decisions, what needs attention.
//! Everything here is pure; `read.rs` fills [`Observed`] from AWS.

use serde::Serialize;

/// One image in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    /// COMPLETED, IN_PROGRESS or FAILED.
    pub rollout_state: String,
    pub rollout_reason: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Service {
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: String,
    /// The container's image as the task definition names it (`uri@sha256:…` or `uri:tag`).
    pub image: String,
    pub deployments: Vec<Deployment>,
    /// The service's tags: the operator's records of what it did.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub id: String,
    pub port: Option<i32>,
    /// healthy, unhealthy, initial, draining, unused, unavailable.
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    /// When it last changed state, RFC 3339.
    pub since: String,
}

/// One log line of a function, as CloudWatch Logs returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub log_group: String,
    pub timestamp_ms: i64,
    pub message: String,
}

/// Everything read from AWS; a read that failed is `None` (or empty) and named in `problems`.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub service: Option<Service>,
    pub bounds: Option<(i32, i32)>,
    pub images: Option<Vec<Image>>,
    pub targets: Option<Vec<Target>>,
    pub alarms: Vec<Alarm>,
    pub log_lines: Vec<LogLine>,
    pub problems: Vec<String>,
}

/// What the service runs: its image, pinned by digest, and the tags that point at it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Running {
    pub image: String,
    pub digest: Option<String>,
    /// Tags pointing at the digest now (empty: untagged, or not in the repository).
    pub tags: Vec<String>,
    /// Whether the repository still holds the digest.
    pub in_repository: Option<bool>,
}

/// One decision of the operator, for the "last decisions" table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// RFC 3339, or empty when the record carries no time.
    pub at: String,
    pub function: String,
    pub decision: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositorySummary {
    pub name: String,
    pub images: usize,
    pub tagged: usize,
    pub untagged: usize,
}

/// The whole view: what `--json` prints and the table renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub stack: String,
    pub cluster: String,
    pub service_name: String,
    pub dashboard: Option<String>,
    pub service: Option<Service>,
    pub running: Option<Running>,
    /// Min and max of the service's scalable target.
    pub bounds: Option<(i32, i32)>,
    pub targets: Option<Vec<Target>>,
    pub alarms: Vec<Alarm>,
    pub decisions: Vec<Decision>,
    pub repository: Option<RepositorySummary>,
    /// What a person on call should look at first; empty when all is well.
    pub attention: Vec<String>,
    /// Reads that failed (the rest is still shown).
    pub problems: Vec<String>,
}

/// How many decisions the table shows.
pub const DECISIONS_SHOWN: usize = 8;

/// The digest of an image reference `repo@sha256:…`; `None` for `repo:tag`.
pub fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, digest)| digest)
}

pub fn running(image: &str, images: Option<&[Image]>) -> Running {
    let digest = digest_of(image).map(str::to_string);
    let found = match (&digest, images) {
        (Some(d), Some(all)) => Some(all.iter().find(|i| &i.digest == d)),
        _ => None,
    };
    Running {
        image: image.to_string(),
        tags: found
            .flatten()
            .map(|i| {
                let mut t = i.tags.clone();
                t.sort();
                t
            })
            .unwrap_or_default(),
        in_repository: found.map(|f| f.is_some()),
        digest,
    }
}

/// The operator's functions, as the table names them.
const FUNCTIONS: [&str; 4] = ["provisioner", "redeployer", "image-pruner", "autoscaler"];

/// The function a log group belongs to: the one its last path segment names
/// (`/aws/lambda/<stack>/image-pruner`, `ImagePrunerLogs`…), else that segment.
pub fn function_of(log_group: &str) -> String {
    let last = log_group.rsplit('/').next().unwrap_or(log_group);
    let squeezed: String = last
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    FUNCTIONS
        .iter()
        .find(|f| squeezed.contains(&f.replace('-', "")))
        .map(|f| f.to_string())
        .unwrap_or_else(|| last.to_string())
}

/// RFC 3339 (UTC, seconds) of milliseconds since the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    aws_smithy_types::DateTime::from_millis(ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map(|s| match s.split_once('.') {
            Some((seconds, _)) => format!("{seconds}Z"),
            None => s,
        })
        .unwrap_or_default()
}

/// A decision in one of the functions' JSON log lines: a line with a `why` (the redeployer's
/// "reconciled", the autoscaler's "decision") or a `reason` (skips and rejections). Other
/// lines (reads, EMF documents, plans) are not decisions.
pub fn decision_from_log(line: &LogLine) -> Option<Decision> {
    let value: serde_json::Value = serde_json::from_str(line.message.trim()).ok()?;
    let fields = value.get("fields").unwrap_or(&value);
    let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let number = |key: &str| fields.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    if fields.get("deleted").is_some() && fields.get("seen").is_some() {
        // The image pruner's summary of a prune.
        return Some(Decision {
            at: rfc3339_ms(line.timestamp_ms),
            function: function_of(&line.log_group),
            decision: format!("deleted {} of {} images", number("deleted"), number("seen")),
            why: format!(
                "kept {} newest, {} in use, {} for rollback",
                number("kept_newest"),
                number("kept_in_use"),
                number("kept_rollback")
            ),
        });
    }
    let why = text("why").or_else(|| text("reason"))?;
    let decision = text("decision")
        .or_else(|| text("outcome"))
        .or_else(|| text("message"))
        .unwrap_or_default();
    Some(Decision {
        at: rfc3339_ms(line.timestamp_ms),
        function: function_of(&line.log_group),
        decision,
        why,
    })
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The decisions the functions record in the service's tags (autoscaler, redeployer): the last
/// of each, readable even where no log is kept.
pub fn decisions_from_tags(tags: &[(String, String)]) -> Vec<Decision> {
    let mut out = Vec::new();
    if let Some(record) = tag(tags, "skyhigh:autoscaler:record") {
        let field = |name: &str| {
            record
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
                .unwrap_or_default()
        };
        let mut why = tag(tags, "skyhigh:autoscaler:last-decision")
            .unwrap_or_default()
            .to_string();
        if let Some(cause) = tag(tags, "skyhigh:autoscaler:cause") {
            why = if why.is_empty() {
                format!("cause: {cause}")
            } else {
                format!("{why} (cause: {cause})")
            };
        }
        out.push(Decision {
            at: field("at"),
            function: "autoscaler".into(),
            decision: format!(
                "desired {} → {} ({})",
                field("from"),
                field("to"),
                field("state")
            ),
            why,
        });
    }
    if let Some(onto) = tag(tags, "skyhigh:redeployer:rolled-onto") {
        let short = |arn: &str| arn.rsplit('/').next().unwrap_or(arn).to_string();
        let from = tag(tags, "skyhigh:redeployer:rolled-from").unwrap_or_default();
        out.push(Decision {
            at: String::new(),
            function: "redeployer".into(),
            decision: format!("rolled onto {}", short(onto)),
            why: if from.is_empty() {
                String::new()
            } else {
                format!("from {}", short(from))
            },
        });
    }
    out
}

/// The newest decisions first: the log lines' (newest first), then the tags' records that no
/// log line of the same function already shows (the tags hold each function's last one).
pub fn decisions(log_lines: &[LogLine], tags: &[(String, String)]) -> Vec<Decision> {
    let mut from_logs: Vec<(i64, Decision)> = log_lines
        .iter()
        .filter_map(|l| decision_from_log(l).map(|d| (l.timestamp_ms, d)))
        .collect();
    from_logs.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut out: Vec<Decision> = from_logs.into_iter().map(|(_, d)| d).collect();
    for d in decisions_from_tags(tags) {
        if !out.iter().any(|o| o.function == d.function) {
            out.push(d);
        }
    }
    out.truncate(DECISIONS_SHOWN);
    out
}

pub fn repository_summary(name: &str, images: &[Image]) -> RepositorySummary {
    let tagged = images.iter().filter(|i| !i.tags.is_empty()).count();
    RepositorySummary {
        name: name.to_string(),
        images: images.len(),
        tagged,
        untagged: images.len() - tagged,
    }
}

/// What a person on call should look at, most urgent first.
pub fn attention(s: &Status) -> Vec<String> {
    let mut out = Vec::new();
    let Some(service) = &s.service else {
        out.push(format!(
            "service {} not found in cluster {}",
            s.service_name, s.cluster
        ));
        return out;
    };
    if service.status != "ACTIVE" {
        out.push(format!("service is {}", service.status));
    }
    for d in &service.deployments {
        if d.rollout_state == "FAILED" {
            let reason = if d.rollout_reason.is_empty() {
                String::new()
            } else {
                format!(": {}", d.rollout_reason)
            };
            out.push(format!("deployment {} FAILED{reason}", d.id));
        }
    }
    let alarming: Vec<&str> = s
        .alarms
        .iter()
        .filter(|a| a.state == "ALARM")
        .map(|a| a.name.as_str())
        .collect();
    if !alarming.is_empty() {
        out.push(format!("in ALARM: {}", alarming.join(", ")));
    }
    if service.running < service.desired {
        out.push(format!(
            "running {} of {} desired tasks",
            service.running, service.desired
        ));
    }
    if let Some((min, max)) = s.bounds {
        if service.desired < min || service.desired > max {
            out.push(format!(
                "desired count {} is outside the bounds {min}..{max}",
                service.desired
            ));
        }
    }
    if let Some(targets) = &s.targets {
        let unhealthy = targets.iter().filter(|t| t.state == "unhealthy").count();
        if unhealthy > 0 {
            out.push(format!(
                "{unhealthy} of {} targets unhealthy",
                targets.len()
            ));
        }
    }
    if let Some(r) = &s.running {
        if r.in_repository == Some(false) {
            out.push(format!(
                "the running image {} is no longer in the repository: scaling out will fail",
                r.digest.as_deref().unwrap_or(&r.image)
            ));
        }
    }
    out
}

/// The view, from what was read.
pub fn status(stack: &str, refs: &crate::outputs::StackRefs, observed: Observed) -> Status {
    let running = observed
        .service
        .as_ref()
        .map(|s| running(&s.image, observed.images.as_deref()));
    let tags = observed
        .service
        .as_ref()
        .map(|s| s.tags.clone())
        .unwrap_or_default();
    let mut view = Status {
        stack: stack.to_string(),
        cluster: refs.cluster.clone(),
        service_name: refs.service.clone(),
        dashboard: refs.dashboard.clone(),
        decisions: decisions(&observed.log_lines, &tags),
        repository: observed
            .images
            .as_deref()
            .map(|i| repository_summary(&refs.repository, i)),
        service: observed.service,
        running,
        bounds: observed.bounds,
        targets: observed.targets,
        alarms: observed.alarms,
        attention: Vec::new(),
        problems: observed.problems,
    };
    view.attention = attention(&view);
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::StackRefs;

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn refs() -> StackRefs {
        StackRefs {
            cluster: "app".into(),
            service: "app".into(),
            repository: "app".into(),
            target_group_arn: None,
            alarms: vec![],
            log_groups: vec![],
            dashboard: None,
        }
    }

    fn healthy() -> Observed {
        Observed {
            service: Some(Service {
                status: "ACTIVE".into(),
                desired: 2,
                running: 2,
                pending: 0,
                task_definition: "arn:aws:ecs:us-east-1:1:task-definition/app:3".into(),
                image: format!("1.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"),
                deployments: vec![Deployment {
                    id: "ecs-svc/1".into(),
                    status: "PRIMARY".into(),
                    rollout_state: "COMPLETED".into(),
                    desired: 2,
                    running: 2,
                    ..Default::default()
                }],
                tags: vec![],
            }),
            bounds: Some((1, 5)),
            images: Some(vec![
                Image {
                    digest: DIGEST.into(),
                    tags: vec!["v2".into(), "latest".into()],
                },
                Image {
                    digest: "sha256:22".into(),
                    tags: vec![],
                },
            ]),
            targets: Some(vec![Target {
                id: "10.0.2.4".into(),
                port: Some(80),
                state: "healthy".into(),
                reason: String::new(),
            }]),
            alarms: vec![Alarm {
                name: "app-cpu-high".into(),
                state: "OK".into(),
                since: String::new(),
            }],
            log_lines: vec![],
            problems: vec![],
        }
    }

    #[test]
    fn a_healthy_service_needs_no_attention() {
        let s = status("stack", &refs(), healthy());
        assert_eq!(s.attention, Vec::<String>::new());
        let r = s.running.unwrap();
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
        assert_eq!(r.tags, ["latest", "v2"]);
        assert_eq!(r.in_repository, Some(true));
        assert_eq!(
            s.repository.unwrap(),
            RepositorySummary {
                name: "app".into(),
                images: 2,
                tagged: 1,
                untagged: 1
            }
        );
    }

    #[test]
    fn each_trouble_is_named() {
        let mut o = healthy();
        let svc = o.service.as_mut().unwrap();
        svc.running = 1;
        svc.desired = 6;
        svc.deployments[0].rollout_state = "FAILED".into();
        svc.deployments[0].rollout_reason = "tasks failed to start".into();
        svc.image = "app@sha256:gone".into();
        o.targets.as_mut().unwrap()[0].state = "unhealthy".into();
        o.alarms[0].state = "ALARM".into();
        let a = status("stack", &refs(), o).attention;
        assert_eq!(
            a,
            [
                "deployment ecs-svc/1 FAILED: tasks failed to start",
                "in ALARM: app-cpu-high",
                "running 1 of 6 desired tasks",
                "desired count 6 is outside the bounds 1..5",
                "1 of 1 targets unhealthy",
                "the running image sha256:gone is no longer in the repository: scaling out will fail",
            ]
        );
    }

    #[test]
    fn a_missing_service_is_all_it_says() {
        let mut o = healthy();
        o.service = None;
        let s = status("stack", &refs(), o);
        assert_eq!(s.attention, ["service app not found in cluster app"]);
        assert_eq!(s.running, None);
    }

    #[test]
    fn an_image_by_tag_or_an_unread_repository_is_not_judged() {
        let r = running("app:latest", None);
        assert_eq!((r.digest, r.in_repository), (None, None));
        let r = running(&format!("app@{DIGEST}"), None);
        assert_eq!(r.in_repository, None);
    }

    fn line(group: &str, ms: i64, message: &str) -> LogLine {
        LogLine {
            log_group: group.into(),
            timestamp_ms: ms,
            message: message.into(),
        }
    }

    #[test]
    fn decisions_are_the_log_lines_with_a_reason_newest_first() {
        let lines = [
            line(
                "/aws/lambda/s/redeployer",
                1_000,
                r#"{"level":"INFO","fields":{"message":"reconciled","decision":"Deployed","why":"latest moved"}}"#,
            ),
            line(
                "/aws/lambda/s/autoscaler",
                3_000,
                r#"{"level":"INFO","fields":{"message":"decision","outcome":"ScaledOut","why":"cpu-high in ALARM"}}"#,
            ),
            line(
                "/aws/lambda/s/image-pruner",
                2_000,
                r#"{"level":"INFO","fields":{"message":"push skipped","reason":"not the tracked repository"}}"#,
            ),
            line(
                "/aws/lambda/s/image-pruner",
                2_500,
                r#"{"level":"INFO","fields":{"message":"read","images":3}}"#,
            ),
            line(
                "/aws/lambda/s/autoscaler",
                4_000,
                r#"{"_aws":{"Timestamp":1},"ScaleOuts":1}"#,
            ),
            line("/aws/lambda/s/autoscaler", 5_000, "START RequestId: 1"),
            line(
                "/aws/lambda/s/image-pruner",
                500,
                r#"{"fields":{"message":"prune summary","seen":15,"kept_in_use":1,"kept_rollback":0,"kept_newest":10,"deleted":4}}"#,
            ),
        ];
        let d = decisions(&lines, &[]);
        let got: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|d| (d.function.as_str(), d.decision.as_str(), d.why.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("autoscaler", "ScaledOut", "cpu-high in ALARM"),
                ("image-pruner", "push skipped", "not the tracked repository"),
                ("redeployer", "Deployed", "latest moved"),
                (
                    "image-pruner",
                    "deleted 4 of 15 images",
                    "kept 10 newest, 1 in use, 0 for rollback"
                ),
            ]
        );
        assert_eq!(d[0].at, "1970-01-01T00:00:03Z");
    }

    #[test]
    fn a_log_group_names_its_function() {
        for (group, function) in [
            ("/aws/lambda/sky-high-booker/image-pruner", "image-pruner"),
            ("/aws/lambda/s/autoscaler", "autoscaler"),
            ("ImagePrunerLogs-local", "image-pruner"),
            (
                "/aws/lambda/sky-high-booker-RedeployerFunction-1A2B",
                "redeployer",
            ),
            ("/custom/other", "other"),
        ] {
            assert_eq!(function_of(group), function, "{group}");
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_service_tags_hold_each_function_s_last_decision() {
        let t = tags(&[
            (
                "skyhigh:autoscaler:record",
                "from=3 to=4 at=2026-11-27T08:00:00Z state=done",
            ),
            ("skyhigh:autoscaler:last-decision", "cpu-high in ALARM"),
            (
                "skyhigh:autoscaler:cause",
                "app-cpu-high changed-at=2026-11-27T07:59:00Z",
            ),
            (
                "skyhigh:redeployer:rolled-onto",
                "arn:aws:ecs:r:1:task-definition/app:4",
            ),
            (
                "skyhigh:redeployer:rolled-from",
                "arn:aws:ecs:r:1:task-definition/app:3",
            ),
            ("skyhigh:stack-id", "arn:stack"),
        ]);
        let d = decisions_from_tags(&t);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].at, "2026-11-27T08:00:00Z");
        assert_eq!(d[0].decision, "desired 3 → 4 (done)");
        assert_eq!(
            d[0].why,
            "cpu-high in ALARM (cause: app-cpu-high changed-at=2026-11-27T07:59:00Z)"
        );
        assert_eq!(d[1].decision, "rolled onto app:4");
        assert_eq!(d[1].why, "from app:3");
        assert!(decisions_from_tags(&tags(&[("other", "x")])).is_empty());
    }

    #[test]
    fn a_tag_record_shows_only_when_no_log_line_of_its_function_does() {
        let t = tags(&[(
            "skyhigh:autoscaler:record",
            "from=3 to=4 at=2026-11-27T08:00:00Z state=done",
        )]);
        let logged = [line(
            "/aws/lambda/s/autoscaler",
            1,
            r#"{"fields":{"message":"decision","outcome":"Unchanged","why":"no alarm"}}"#,
        )];
        assert_eq!(decisions(&logged, &t).len(), 1);
        assert_eq!(decisions(&[], &t).len(), 1);
    }

    #[test]
    fn at_most_so_many_decisions_are_shown() {
        let lines: Vec<LogLine> = (0..20)
            .map(|i| {
                line(
                    "/g/redeployer",
                    i,
                    r#"{"fields":{"message":"reconciled","why":"x"}}"#,
                )
            })
            .collect();
        assert_eq!(decisions(&lines, &[]).len(), DECISIONS_SHOWN);
    }
}
