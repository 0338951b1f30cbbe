//! The keep/delete decision: a PURE function of the images, what references them, the policy
//! and the time. No I/O, no clock. O(n log n) in the number of images.

use crate::settings::PrunerSettings;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One image of the repository, as DescribeImages reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    /// Milliseconds since the Unix epoch. Unknown push times are read as `i64::MAX` (newest),
    /// which errs on the side of keeping.
    pub pushed_at: i64,
}

/// Images named by digest (`repo@sha256:…`, a task's imageDigest) or by tag (`repo:tag`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub digests: BTreeSet<String>,
    pub tags: BTreeSet<String>,
}

impl References {
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.tags.is_empty()
    }
}

/// What the service uses: its deployments and running tasks (`running`), and the previous
/// task-definition revisions it may be rolled back to (`rollback`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InUse {
    pub running: References,
    pub rollback: References,
}

/// The rules, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub keep_images: usize,
    pub protected_tags: BTreeSet<String>,
    pub untagged_expiry_millis: i64,
}

impl From<&PrunerSettings> for Policy {
    fn from(s: &PrunerSettings) -> Self {
        Policy {
            keep_images: s.keep_images,
            protected_tags: s.protected_tags.clone(),
            untagged_expiry_millis: s.untagged_expiry_millis(),
        }
    }
}

/// Why an image is kept. When several apply, the first in this order is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    /// Run by a current deployment or a running task.
    InUse,
    /// Named by a previous task-definition revision kept for rollback.
    Rollback,
    /// Among the KEEP_IMAGES newest tagged images.
    Newest,
    /// Carries a protected tag.
    Protected,
    /// Untagged and younger than UNTAGGED_EXPIRY_DAYS.
    RecentUntagged,
}

/// The decision: every image seen is either kept (with its reason) or deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub keep: BTreeMap<String, KeepReason>,
    /// Digests to delete, sorted.
    pub delete: Vec<String>,
}

/// Figures of a plan, for the summary log line and the invocation's response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub seen: usize,
    pub kept: usize,
    pub kept_in_use: usize,
    pub kept_rollback: usize,
    pub kept_newest: usize,
    pub kept_protected: usize,
    pub kept_recent_untagged: usize,
    pub deleted: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            seen: self.keep.len() + self.delete.len(),
            kept: self.keep.len(),
            deleted: self.delete.len(),
            ..Counts::default()
        };
        for reason in self.keep.values() {
            match reason {
                KeepReason::InUse => c.kept_in_use += 1,
                KeepReason::Rollback => c.kept_rollback += 1,
                KeepReason::Newest => c.kept_newest += 1,
                KeepReason::Protected => c.kept_protected += 1,
                KeepReason::RecentUntagged => c.kept_recent_untagged += 1,
            }
        }
        c
    }
}

/// One image per digest: ECR lists each digest once, but the decision must not depend on that
/// (nor on input order), so duplicates are merged: tags united, the latest push time kept.
fn merge_by_digest(mut images: Vec<Image>) -> Vec<Image> {
    images.sort_unstable_by(|a, b| a.digest.cmp(&b.digest));
    let mut merged: Vec<Image> = Vec::with_capacity(images.len());
    for image in images {
        match merged.last_mut() {
            Some(last) if last.digest == image.digest => {
                last.tags.extend(image.tags);
                last.pushed_at = last.pushed_at.max(image.pushed_at);
            }
            _ => merged.push(image),
        }
    }
    for image in &mut merged {
        image.tags.sort_unstable();
        image.tags.dedup();
    }
    merged
}

/// Decides which images to keep and which to delete.
///
/// Kept, whatever else holds: every image a reference names, by digest or by a tag it carries
/// (a tag on several images protects them all); the `keep_images` newest tagged images
/// (by push time, ties broken by the smaller digest); images with a protected tag; untagged
/// images younger than the expiry. Everything else is deleted.
pub fn decide(images: Vec<Image>, in_use: &InUse, policy: &Policy, now_millis: i64) -> Plan {
    let images = merge_by_digest(images);
    let mut reasons: Vec<Option<KeepReason>> = vec![None; images.len()];

    let mut by_tag: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, image) in images.iter().enumerate() {
        for tag in &image.tags {
            by_tag.entry(tag.as_str()).or_default().push(i);
        }
    }
    // The first reason found wins: they are applied in KeepReason's order.
    fn mark(reasons: &mut [Option<KeepReason>], i: usize, reason: KeepReason) {
        reasons[i].get_or_insert(reason);
    }

    for (refs, reason) in [
        (&in_use.running, KeepReason::InUse),
        (&in_use.rollback, KeepReason::Rollback),
    ] {
        if refs.is_empty() {
            continue;
        }
        for (i, image) in images.iter().enumerate() {
            if refs.digests.contains(&image.digest) {
                mark(&mut reasons, i, reason);
            }
        }
        for tag in &refs.tags {
            for &i in by_tag.get(tag.as_str()).into_iter().flatten() {
                mark(&mut reasons, i, reason);
            }
        }
    }

    let mut tagged: Vec<usize> = (0..images.len())
        .filter(|&i| !images[i].tags.is_empty())
        .collect();
    // Newest first; `images` is sorted by digest, so a stable sort breaks ties by digest.
    tagged.sort_by(|&a, &b| images[b].pushed_at.cmp(&images[a].pushed_at));
    for &i in tagged.iter().take(policy.keep_images) {
        mark(&mut reasons, i, KeepReason::Newest);
    }

    for (i, image) in images.iter().enumerate() {
        if image.tags.iter().any(|t| policy.protected_tags.contains(t)) {
            mark(&mut reasons, i, KeepReason::Protected);
        } else if image.tags.is_empty()
            && now_millis.saturating_sub(image.pushed_at) < policy.untagged_expiry_millis
        {
            mark(&mut reasons, i, KeepReason::RecentUntagged);
        }
    }

    let mut plan = Plan::default();
    for (image, reason) in images.into_iter().zip(reasons) {
        match reason {
            Some(r) => {
                plan.keep.insert(image.digest, r);
            }
            None => plan.delete.push(image.digest),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;

    fn image(digest: &str, tags: &[&str], pushed_at: i64) -> Image {
        Image {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at,
        }
    }

    fn policy(keep: usize) -> Policy {
        Policy {
            keep_images: keep,
            protected_tags: BTreeSet::new(),
            untagged_expiry_millis: DAY,
        }
    }

    fn refs(digests: &[&str], tags: &[&str]) -> References {
        References {
            digests: digests.iter().map(|d| d.to_string()).collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn fifteen() -> Vec<Image> {
        (0..15)
            .map(|i| image(&format!("sha256:{i:02}"), &[&format!("v{i}")], i * 1000))
            .collect()
    }

    #[test]
    fn fifteen_tagged_images_are_pruned_to_the_ten_newest() {
        let plan = decide(fifteen(), &InUse::default(), &policy(10), 100 * DAY);
        let c = plan.counts();
        assert_eq!((c.seen, c.kept_newest, c.deleted), (15, 10, 5));
        assert_eq!(
            plan.delete,
            vec![
                "sha256:00",
                "sha256:01",
                "sha256:02",
                "sha256:03",
                "sha256:04"
            ]
        );
    }

    #[test]
    fn images_in_use_or_kept_for_rollback_survive_by_digest_or_by_tag() {
        let in_use = InUse {
            running: refs(&["sha256:00"], &[]),
            rollback: refs(&[], &["v1", "no-such-tag"]),
        };
        let plan = decide(fifteen(), &in_use, &policy(10), 100 * DAY);
        assert_eq!(plan.keep["sha256:00"], KeepReason::InUse);
        assert_eq!(plan.keep["sha256:01"], KeepReason::Rollback);
        let c = plan.counts();
        assert_eq!((c.kept, c.deleted), (12, 3));
        // In use beats every other reason.
        let in_use = InUse {
            running: refs(&[], &["v14"]),
            ..InUse::default()
        };
        let plan = decide(fifteen(), &in_use, &policy(10), 100 * DAY);
        assert_eq!(plan.keep["sha256:14"], KeepReason::InUse);
        assert_eq!(plan.counts().kept_newest, 9);
    }

    #[test]
    fn protected_tags_and_recent_untagged_images_are_kept_old_untagged_ones_expire() {
        let images = vec![
            image("sha256:a", &["prod"], 0),
            image("sha256:b", &[], 0),
            image("sha256:c", &[], 10 * DAY - 1),
            image("sha256:d", &["v1"], 5 * DAY),
            image("sha256:e", &["v2"], 6 * DAY),
            image("sha256:f", &[], i64::MAX),
        ];
        let mut p = policy(1);
        p.protected_tags.insert("prod".into());
        let plan = decide(images, &InUse::default(), &p, 10 * DAY);
        assert_eq!(plan.keep["sha256:a"], KeepReason::Protected);
        assert_eq!(plan.keep["sha256:c"], KeepReason::RecentUntagged);
        assert_eq!(plan.keep["sha256:e"], KeepReason::Newest);
        assert_eq!(plan.keep["sha256:f"], KeepReason::RecentUntagged);
        assert_eq!(plan.delete, vec!["sha256:b", "sha256:d"]);
        // A zero expiry expires every untagged image that nothing else keeps.
        let mut p = policy(0);
        p.untagged_expiry_millis = 0;
        let plan = decide(
            vec![image("sha256:b", &[], 10 * DAY)],
            &InUse::default(),
            &p,
            10 * DAY,
        );
        assert_eq!(plan.delete, vec!["sha256:b"]);
    }

    #[test]
    fn ties_in_push_time_are_broken_by_digest() {
        // moto's imagePushedAt has 1 s resolution: pushes in a burst share a timestamp.
        let images: Vec<Image> = (0..15)
            .map(|i| image(&format!("sha256:{i:02}"), &[&format!("v{i}")], 0))
            .collect();
        let plan = decide(images, &InUse::default(), &policy(10), DAY);
        assert_eq!(
            plan.delete,
            vec![
                "sha256:10",
                "sha256:11",
                "sha256:12",
                "sha256:13",
                "sha256:14"
            ]
        );
    }

    #[test]
    fn duplicate_digests_are_merged() {
        let images = vec![
            image("sha256:a", &[], 0),
            image("sha256:a", &["v1"], 5),
            image("sha256:b", &["v2"], 1),
        ];
        let plan = decide(images, &InUse::default(), &policy(1), 2 * DAY);
        assert_eq!(plan.keep["sha256:a"], KeepReason::Newest);
        assert_eq!(plan.delete, vec!["sha256:b"]);
    }

    /// Not a benchmark with a budget assertion: prints the time of one decision over 10,000
    /// synthetic images (`cargo test -p image-pruner --release -- --nocapture ten_thousand`).
    #[test]
    fn ten_thousand_images() {
        let images: Vec<Image> = (0..10_000i64)
            .map(|i| {
                let tags = if i % 4 == 0 {
                    vec![]
                } else {
                    vec![format!("build-{i}")]
                };
                Image {
                    digest: format!(
                        "sha256:{:064x}",
                        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ),
                    tags,
                    pushed_at: i * 60_000,
                }
            })
            .collect();
        let in_use = InUse {
            running: refs(&[&images[17].digest], &["build-9999"]),
            rollback: refs(&[&images[42].digest], &["build-1", "build-2"]),
        };
        let now = 10_000 * 60_000;
        let started = std::time::Instant::now();
        let plan = decide(images, &in_use, &policy(10), now);
        let took = started.elapsed();
        let c = plan.counts();
        println!(
            "decision over 10,000 images: {} µs, {c:?}",
            took.as_micros()
        );
        assert_eq!(c.seen, 10_000);
        assert_eq!(c.kept_in_use, 2);
        assert!(!plan.delete.contains(&format!(
            "sha256:{:064x}",
            17u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        )));
    }

    // ---- Properties ----

    fn arb_image() -> impl Strategy<Value = Image> {
        (0u8..30, proptest::collection::vec(0u8..12, 0..3), 0i64..20).prop_map(|(d, tags, t)| {
            Image {
                digest: format!("sha256:{d:02}"),
                tags: tags.into_iter().map(|t| format!("t{t}")).collect(),
                pushed_at: t * 1000,
            }
        })
    }

    fn arb_refs() -> impl Strategy<Value = References> {
        (
            proptest::collection::btree_set(0u8..35, 0..5),
            proptest::collection::btree_set(0u8..14, 0..3),
        )
            .prop_map(|(d, t)| References {
                digests: d.into_iter().map(|d| format!("sha256:{d:02}")).collect(),
                tags: t.into_iter().map(|t| format!("t{t}")).collect(),
            })
    }

    fn arb_case() -> impl Strategy<Value = (Vec<Image>, InUse, Policy, i64)> {
        (
            proptest::collection::vec(arb_image(), 0..40),
            arb_refs(),
            arb_refs(),
            0usize..8,
            proptest::collection::btree_set(0u8..14, 0..2),
            0i64..10_000,
            0i64..25_000,
        )
            .prop_map(
                |(images, running, rollback, keep, protected, expiry, now)| {
                    (
                        images,
                        InUse { running, rollback },
                        Policy {
                            keep_images: keep,
                            protected_tags: protected
                                .into_iter()
                                .map(|t| format!("t{t}"))
                                .collect(),
                            untagged_expiry_millis: expiry,
                        },
                        now,
                    )
                },
            )
    }

    /// The input merged by digest, independently of the implementation: digest → (tags, pushed).
    fn merged(images: &[Image]) -> BTreeMap<String, (BTreeSet<String>, i64)> {
        let mut m: BTreeMap<String, (BTreeSet<String>, i64)> = BTreeMap::new();
        for i in images {
            let e = m
                .entry(i.digest.clone())
                .or_insert((BTreeSet::new(), i64::MIN));
            e.0.extend(i.tags.iter().cloned());
            e.1 = e.1.max(i.pushed_at);
        }
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn an_image_in_use_is_never_deleted((images, in_use, policy, now) in arb_case()) {
            let plan = decide(images.clone(), &in_use, &policy, now);
            let deleted: BTreeSet<&String> = plan.delete.iter().collect();
            for refs in [&in_use.running, &in_use.rollback] {
                for d in &refs.digests {
                    prop_assert!(!deleted.contains(d), "{d} is referenced by digest");
                }
                for i in &images {
                    if i.tags.iter().any(|t| refs.tags.contains(t)) {
                        prop_assert!(!deleted.contains(&i.digest), "{} is referenced by tag", i.digest);
                    }
                }
            }
        }

        #[test]
        fn the_newest_tagged_images_are_always_kept((images, in_use, policy, now) in arb_case()) {
            let plan = decide(images.clone(), &in_use, &policy, now);
            let m = merged(&images);
            let tagged: Vec<i64> = m.values().filter(|(t, _)| !t.is_empty()).map(|(_, p)| *p).collect();
            for (digest, (tags, pushed)) in &m {
                if tags.is_empty() { continue; }
                let at_least_as_new = tagged.iter().filter(|p| **p >= *pushed).count();
                if at_least_as_new <= policy.keep_images {
                    prop_assert!(plan.keep.contains_key(digest), "{digest} is among the newest");
                }
            }
            let kept_tagged = m.iter().filter(|(d, (t, _))| !t.is_empty() && plan.keep.contains_key(*d)).count();
            prop_assert!(kept_tagged >= policy.keep_images.min(tagged.len()));
        }

        #[test]
        fn the_result_does_not_depend_on_input_order(
            (images, in_use, policy, now) in arb_case(),
            seed in any::<u64>(),
        ) {
            let plan = decide(images.clone(), &in_use, &policy, now);
            let mut shuffled = images.clone();
            // A Fisher–Yates shuffle from the seed (a permutation of the input).
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(&plan, &decide(shuffled, &in_use, &policy, now));
            let mut reversed = images;
            reversed.reverse();
            prop_assert_eq!(plan, decide(reversed, &in_use, &policy, now));
        }

        #[test]
        fn every_image_is_kept_or_deleted_and_only_the_policy_deletes((images, in_use, policy, now) in arb_case()) {
            let plan = decide(images.clone(), &in_use, &policy, now);
            let m = merged(&images);
            prop_assert_eq!(plan.keep.len() + plan.delete.len(), m.len());
            prop_assert!(plan.delete.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
            let tagged: Vec<i64> = m.values().filter(|(t, _)| !t.is_empty()).map(|(_, p)| *p).collect();
            for d in &plan.delete {
                prop_assert!(!plan.keep.contains_key(d));
                let (tags, pushed) = &m[d];
                prop_assert!(!tags.iter().any(|t| policy.protected_tags.contains(t)));
                if tags.is_empty() {
                    prop_assert!(now - pushed >= policy.untagged_expiry_millis, "{d} is a recent untagged image");
                } else {
                    let newer = tagged.iter().filter(|p| **p > *pushed).count();
                    let as_new = tagged.iter().filter(|p| **p >= *pushed).count();
                    prop_assert!(as_new > policy.keep_images, "{d}: {newer} newer tagged images");
                }
            }
        }
    }
}
