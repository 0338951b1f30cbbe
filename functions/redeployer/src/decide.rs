//! The pure decision: roll the service onto a pushed image, or not, and why.
//! Ordering is decided by the images' push times in ECR, never by event arrival order.

use crate::settings::Settings;
use operator_common::events::EcrImageAction;

/// What ECR knows about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// Seconds since the epoch (ECR's imagePushedAt).
    pub pushed_at: i64,
    pub tags: Vec<String>,
}

/// The image the service's latest task-definition revision runs (the one running, or rolling out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// `repository-uri@sha256:…` or `repository-uri:tag`.
    pub image: String,
    /// The digest, when the image is pinned by one.
    pub digest: Option<String>,
    /// ECR's facts for that digest, when it is still there.
    pub facts: Option<ImageFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Register a revision running `image` and roll the service onto it.
    Deploy { image: String },
    /// Nothing to do (a duplicate, an older push, another tag…): the reason is logged.
    Ignore { why: String },
}

/// Whether the event is a push of the watched tag in the watched repository (no AWS needed).
pub fn relevant(event: &EcrImageAction, settings: &Settings) -> Result<(), String> {
    if event.action_type != "PUSH" {
        return Err(format!("{} event, not a push", event.action_type));
    }
    if event.result != "SUCCESS" {
        return Err(format!("push result {}", event.result));
    }
    if event.repository_name != settings.repository {
        return Err(format!(
            "repository {} is not {}",
            event.repository_name, settings.repository
        ));
    }
    match &event.image_tag {
        Some(tag) if *tag == settings.image_tag => Ok(()),
        Some(tag) => Err(format!(
            "tag {tag} is not the tracked tag {}",
            settings.image_tag
        )),
        None => Err("event carries no image tag".into()),
    }
}

/// `uri@sha256:…` → (uri, Some(digest)); `uri:tag` → (uri, None).
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some((uri, digest)) = image.split_once('@') {
        return (uri, Some(digest));
    }
    match image.rsplit_once(':') {
        // A colon after the last slash is a tag; before it, a registry port.
        Some((uri, tag)) if !tag.contains('/') => (uri, None),
        _ => (image, None),
    }
}

/// Decides on a relevant push, given what ECR says about the pushed image and what runs.
pub fn decide(
    event: &EcrImageAction,
    pushed: Option<&ImageFacts>,
    running: &Running,
    settings: &Settings,
) -> Decision {
    let digest = &event.image_digest;
    let ignore = |why: String| Decision::Ignore { why };
    let Some(pushed) = pushed else {
        return ignore(format!("image {digest} is no longer in ECR"));
    };
    if running.digest.as_deref() == Some(digest.as_str()) {
        return ignore(format!(
            "the service already runs (or is rolling out) {digest}"
        ));
    }
    if let Some(current) = &running.facts {
        if current.pushed_at > pushed.pushed_at {
            return ignore(format!(
                "{digest} was pushed before the image the service runs ({}): a late event",
                running.digest.as_deref().unwrap_or_default()
            ));
        }
        // Same second (ECR's resolution): the image that still holds the tag is the later push.
        if current.pushed_at == pushed.pushed_at && !pushed.tags.contains(&settings.image_tag) {
            return ignore(format!(
                "{digest} no longer holds tag {}: a later push took it",
                settings.image_tag
            ));
        }
    }
    let (uri, _) = split_image(&running.image);
    Decision::Deploy {
        image: format!("{uri}@{digest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sky-high-booker";

    fn settings() -> Settings {
        Settings {
            cluster: "sky".into(),
            service: "web".into(),
            repository: "sky-high-booker".into(),
            image_tag: "latest".into(),
            dry_run: false,
        }
    }

    fn push(digest: &str, tag: Option<&str>) -> EcrImageAction {
        EcrImageAction {
            result: "SUCCESS".into(),
            repository_name: "sky-high-booker".into(),
            image_digest: digest.into(),
            action_type: "PUSH".into(),
            image_tag: tag.map(str::to_string),
        }
    }

    fn facts(at: i64, tags: &[&str]) -> ImageFacts {
        ImageFacts {
            pushed_at: at,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn running(digest: Option<&str>, at: Option<i64>) -> Running {
        Running {
            image: match digest {
                Some(d) => format!("{URI}@{d}"),
                None => format!("{URI}:latest"),
            },
            digest: digest.map(str::to_string),
            facts: at.map(|t| facts(t, &[])),
        }
    }

    #[test]
    fn only_pushes_of_the_tracked_tag_and_repository_count() {
        let s = settings();
        assert!(relevant(&push("sha256:a", Some("latest")), &s).is_ok());
        assert!(relevant(&push("sha256:a", Some("v2")), &s)
            .unwrap_err()
            .contains("v2"));
        assert!(relevant(&push("sha256:a", None), &s).is_err());
        let mut other = push("sha256:a", Some("latest"));
        other.repository_name = "other".into();
        assert!(relevant(&other, &s).is_err());
        let mut delete = push("sha256:a", Some("latest"));
        delete.action_type = "DELETE".into();
        assert!(relevant(&delete, &s).is_err());
        let mut failed = push("sha256:a", Some("latest"));
        failed.result = "FAILURE".into();
        assert!(relevant(&failed, &s).is_err());
    }

    #[test]
    fn a_newer_push_is_deployed_pinned_by_digest() {
        let d = decide(
            &push("sha256:b", Some("latest")),
            Some(&facts(20, &["latest"])),
            &running(Some("sha256:a"), Some(10)),
            &settings(),
        );
        assert_eq!(
            d,
            Decision::Deploy {
                image: format!("{URI}@sha256:b")
            }
        );
        // The first push, while the service still names the tag.
        let d = decide(
            &push("sha256:b", Some("latest")),
            Some(&facts(20, &["latest"])),
            &running(None, None),
            &settings(),
        );
        assert_eq!(
            d,
            Decision::Deploy {
                image: format!("{URI}@sha256:b")
            }
        );
    }

    #[test]
    fn duplicates_late_events_and_vanished_images_change_nothing() {
        let s = settings();
        let same = decide(
            &push("sha256:a", Some("latest")),
            Some(&facts(10, &["latest"])),
            &running(Some("sha256:a"), Some(10)),
            &s,
        );
        assert!(matches!(same, Decision::Ignore { why } if why.contains("already runs")));
        let late = decide(
            &push("sha256:old", Some("latest")),
            Some(&facts(5, &[])),
            &running(Some("sha256:a"), Some(10)),
            &s,
        );
        assert!(matches!(late, Decision::Ignore { why } if why.contains("late event")));
        let gone = decide(
            &push("sha256:x", Some("latest")),
            None,
            &running(Some("sha256:a"), Some(10)),
            &s,
        );
        assert!(matches!(gone, Decision::Ignore { why } if why.contains("no longer in ECR")));
        let tie = decide(
            &push("sha256:b", Some("latest")),
            Some(&facts(10, &[])),
            &running(Some("sha256:a"), Some(10)),
            &s,
        );
        assert!(matches!(tie, Decision::Ignore { .. }));
    }

    #[test]
    fn images_split_into_uri_and_digest() {
        assert_eq!(
            split_image(&format!("{URI}@sha256:abc")),
            (URI, Some("sha256:abc"))
        );
        assert_eq!(split_image(&format!("{URI}:latest")), (URI, None));
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", None)
        );
    }

    proptest! {
        /// Whatever order the events of two pushes arrive in, the service ends on the later push.
        #[test]
        fn out_of_order_delivery_never_rolls_back(t1 in 0i64..1000, dt in 1i64..1000, first_event_is_newer in any::<bool>()) {
            let s = settings();
            let (old, new) = (("sha256:old", t1), ("sha256:new", t1 + dt));
            let order = if first_event_is_newer { [new, old] } else { [old, new] };
            let mut current = running(None, None);
            for (digest, at) in order {
                let tags: &[&str] = if digest == new.0 { &["latest"] } else { &[] };
                if let Decision::Deploy { image } = decide(&push(digest, Some("latest")), Some(&facts(at, tags)), &current, &s) {
                    current = Running { image, digest: Some(digest.into()), facts: Some(facts(at, tags)) };
                }
            }
            prop_assert_eq!(current.digest.as_deref(), Some("sha256:new"));
        }

        /// Deciding twice on the same inputs gives the same answer, and a deploy never repeats.
        #[test]
        fn deterministic_and_idempotent(pushed_at in 0i64..100, running_at in 0i64..100, same_digest in any::<bool>()) {
            let s = settings();
            let event = push("sha256:p", Some("latest"));
            let run = running(Some(if same_digest { "sha256:p" } else { "sha256:r" }), Some(running_at));
            let f = facts(pushed_at, &["latest"]);
            let d1 = decide(&event, Some(&f), &run, &s);
            prop_assert_eq!(&d1, &decide(&event, Some(&f), &run, &s));
            if let Decision::Deploy { image } = d1 {
                let after = Running { image, digest: Some("sha256:p".into()), facts: Some(f.clone()) };
                let again = decide(&event, Some(&f), &after, &s);
                let ignored = matches!(again, Decision::Ignore { .. });
                prop_assert!(ignored);
            }
        }
    }
}
