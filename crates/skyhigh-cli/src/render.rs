//! The status as a table for an 80-column terminal: a label column, then one line per fact;
//! anything longer is cut with "…" (the `--json` output keeps every value whole).

use crate::status::Status;

/// The terminal width every line fits in.
pub const WIDTH: usize = 80;
const LABEL: usize = 13;

/// `text` cut to `width` characters, the last one "…" when something was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

struct Table {
    lines: Vec<String>,
}

impl Table {
    /// A line under `label` (shown on the section's first line only).
    fn row(&mut self, label: &str, content: &str) {
        let line = format!("{:<LABEL$}{}", fit(label, LABEL - 1), content);
        self.lines.push(fit(line.trim_end(), WIDTH));
    }

    fn rows(&mut self, label: &str, contents: &[String]) {
        for (i, content) in contents.iter().enumerate() {
            self.row(if i == 0 { label } else { "" }, content);
        }
    }
}

/// `sha256:` and the first 12 hex digits: enough to tell images apart in a table.
fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

/// `family:revision` of a task definition ARN.
fn short_task_definition(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub fn render(s: &Status) -> String {
    let mut t = Table { lines: Vec::new() };
    let header = format!(
        "{} · stack {} · cluster {}",
        s.service_name, s.stack, s.cluster
    );
    t.lines.push(fit(&header, WIDTH));
    t.lines.push("─".repeat(WIDTH));

    match &s.running {
        Some(r) => {
            let tags = if r.tags.is_empty() {
                "untagged".to_string()
            } else {
                r.tags.join(", ")
            };
            let image = match &r.digest {
                Some(d) => format!("{tags}  {}", short_digest(d)),
                None => format!("{} (not pinned to a digest)", r.image),
            };
            let place = match r.in_repository {
                Some(true) => "  in the repository",
                Some(false) => "  NOT in the repository",
                None => "",
            };
            t.row("Image", &format!("{image}{place}"));
        }
        None => t.row("Image", "unknown"),
    }

    match &s.service {
        Some(svc) => {
            let bounds = s
                .bounds
                .map(|(min, max)| format!(" · bounds {min}..{max}"))
                .unwrap_or_default();
            t.row(
                "Tasks",
                &format!(
                    "desired {} · running {} · pending {}{bounds} · {}",
                    svc.desired, svc.running, svc.pending, svc.status
                ),
            );
            let mut rows =
                vec!["STATUS   ROLLOUT      DES RUN PEN FAIL  TASK DEFINITION".to_string()];
            for d in &svc.deployments {
                rows.push(format!(
                    "{:<8} {:<12} {:>3} {:>3} {:>3} {:>4}  {}",
                    d.status,
                    d.rollout_state,
                    d.desired,
                    d.running,
                    d.pending,
                    d.failed,
                    short_task_definition(&d.task_definition)
                ));
                if !d.rollout_reason.is_empty() {
                    rows.push(format!("  {}", d.rollout_reason));
                }
            }
            t.rows("Deployments", &rows);
        }
        None => t.row("Tasks", "service not found"),
    }

    match &s.targets {
        None => t.row("Targets", "unknown"),
        Some(targets) if targets.is_empty() => t.row("Targets", "none registered"),
        Some(targets) => {
            let rows: Vec<String> = targets
                .iter()
                .map(|x| {
                    let port = x.port.map(|p| format!(":{p}")).unwrap_or_default();
                    format!("{:<10} {}{port}  {}", x.state, x.id, x.reason)
                })
                .collect();
            t.rows("Targets", &rows);
        }
    }

    if s.alarms.is_empty() {
        t.row("Alarms", "none found");
    } else {
        let rows: Vec<String> = s
            .alarms
            .iter()
            .map(|a| format!("{:<9} {:<32} {}", a.state, fit(&a.name, 32), a.since))
            .collect();
        t.rows("Alarms", &rows);
    }

    if s.decisions.is_empty() {
        t.row("Decisions", "none recorded");
    } else {
        let mut rows = Vec::new();
        for d in &s.decisions {
            let at = if d.at.is_empty() { "-" } else { &d.at };
            rows.push(format!("{at:<20} {:<12} {}", d.function, d.decision));
            if !d.why.is_empty() {
                rows.push(format!("  {}", d.why));
            }
        }
        t.rows("Decisions", &rows);
    }

    match &s.repository {
        Some(r) => t.row(
            "Repository",
            &format!(
                "{}: {} images ({} tagged, {} untagged)",
                r.name, r.images, r.tagged, r.untagged
            ),
        ),
        None => t.row("Repository", "unknown"),
    }
    if let Some(d) = &s.dashboard {
        t.row("Dashboard", d);
    }
    if s.attention.is_empty() {
        t.row("Attention", "nothing");
    } else {
        let rows: Vec<String> = s.attention.iter().map(|a| format!("• {a}")).collect();
        t.rows("Attention", &rows);
    }
    if !s.problems.is_empty() {
        let rows: Vec<String> = s.problems.iter().map(|p| format!("! {p}")).collect();
        t.rows("Not read", &rows);
    }
    let mut out = t.lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::*;
    use proptest::prelude::*;

    fn sample(name: &str, text: &str, n: usize) -> Status {
        let deployment = Deployment {
            id: format!("ecs-svc/{text}"),
            status: "PRIMARY".into(),
            rollout_state: "IN_PROGRESS".into(),
            rollout_reason: text.into(),
            task_definition: format!("arn:aws:ecs:r:1:task-definition/{name}:12"),
            desired: 3,
            running: 1,
            pending: 2,
            failed: 0,
        };
        let mut s = Status {
            stack: name.into(),
            cluster: name.into(),
            service_name: name.into(),
            dashboard: Some(name.into()),
            service: Some(Service {
                status: "ACTIVE".into(),
                desired: 3,
                running: 1,
                pending: 2,
                task_definition: deployment.task_definition.clone(),
                image: format!("1.dkr.ecr.r.amazonaws.com/{name}@sha256:{}", "a".repeat(64)),
                deployments: vec![deployment; n],
                tags: vec![],
            }),
            running: Some(Running {
                image: format!("{name}@sha256:{}", "a".repeat(64)),
                digest: Some(format!("sha256:{}", "a".repeat(64))),
                tags: vec![text.into(); n],
                in_repository: Some(true),
            }),
            bounds: Some((1, 5)),
            targets: Some(vec![
                Target {
                    id: format!("10.0.{n}.4"),
                    port: Some(80),
                    state: "unhealthy".into(),
                    reason: text.into(),
                };
                n
            ]),
            alarms: vec![
                Alarm {
                    name: format!("{name}-cpu-high"),
                    state: "ALARM".into(),
                    since: "2026-11-27T08:00:00Z".into(),
                };
                n
            ],
            decisions: vec![
                Decision {
                    at: "2026-11-27T08:00:00Z".into(),
                    function: "autoscaler".into(),
                    decision: text.into(),
                    why: text.into(),
                };
                n
            ],
            repository: Some(RepositorySummary {
                name: name.into(),
                images: 11,
                tagged: 10,
                untagged: 1,
            }),
            attention: vec![],
            problems: vec![text.into(); n],
        };
        s.attention = attention(&s);
        s
    }

    proptest! {
        #[test]
        fn every_line_fits_an_80_column_terminal(
            name in "[a-z][a-z0-9-]{1,60}",
            text in "[ -~é→]{0,200}",
            n in 0usize..4,
        ) {
            let out = render(&sample(&name, &text, n));
            for line in out.lines() {
                prop_assert!(line.chars().count() <= WIDTH, "{} chars: {line}", line.chars().count());
            }
        }
    }

    #[test]
    fn the_table_shows_each_section() {
        let out = render(&sample("sky-high-booker", "cpu-high in ALARM", 1));
        for expected in [
            "Image        cpu-high in ALARM  sha256:aaaaaaaaaaaa  in the repository",
            "Tasks        desired 3 · running 1 · pending 2 · bounds 1..5 · ACTIVE",
            "             PRIMARY  IN_PROGRESS    3   1   2    0  sky-high-booker:12",
            "Targets      unhealthy  10.0.1.4:80  cpu-high in ALARM",
            "Alarms       ALARM     sky-high-booker-cpu-high",
            "Decisions    2026-11-27T08:00:00Z autoscaler   cpu-high in ALARM",
            "Repository   sky-high-booker: 11 images (10 tagged, 1 untagged)",
            "Attention    • in ALARM: sky-high-booker-cpu-high",
            "Not read     ! cpu-high in ALARM",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in\n{out}");
        }
    }

    #[test]
    fn empty_sections_say_so() {
        let mut s = sample("app", "x", 0);
        s.targets = None;
        s.repository = None;
        let out = render(&s);
        for expected in [
            "Targets      unknown",
            "Alarms       none found",
            "Decisions    none recorded",
            "Repository   unknown",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in\n{out}");
        }
        assert!(!out.contains("Not read"));
    }

    #[test]
    fn fit_cuts_on_characters_with_an_ellipsis() {
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(fit("→→→→", 2), "→…");
    }
}
