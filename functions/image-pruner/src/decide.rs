//! The keep/delete decision: a PURE function of the images, what references them, the
//! manifests read, the policy and the time. No I/O, no clock. O(n log n) in the number of
//! images, plus the edges of the manifests read.

use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Manifest media types, as ECR reports them (`imageManifestMediaType`).
pub mod media {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_ARTIFACT: &str = "application/vnd.oci.artifact.manifest.v1+json";
    /// Config media types of a runnable container image (`artifactMediaType`).
    pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// What BatchGetImage is told it may answer: without the index types ECR would not hand
    /// back an index as it is.
    pub const ACCEPTED: [&str; 5] = [
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        OCI_INDEX,
        OCI_ARTIFACT,
    ];
}

/// What the media types say about a manifest: all the decision needs of them (ECR's strings
/// are not kept: 100,000 images must fit in the function's memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// A multi-architecture index (OCI image index or Docker manifest list).
    pub index: bool,
    /// May carry a `subject` (an OCI referrer: signature, SBOM, attestation).
    pub may_be_referrer: bool,
}

impl Kind {
    /// From `imageManifestMediaType` and `artifactMediaType` (None: ECR did not say). Docker
    /// schema manifests cannot be referrers; an OCI manifest whose config is a runnable
    /// image's is an image, not an artifact. Unknown types may: that errs on the side of keeping.
    pub fn of(manifest_media_type: Option<&str>, artifact_media_type: Option<&str>) -> Kind {
        let index = matches!(
            manifest_media_type,
            Some(media::OCI_INDEX | media::DOCKER_MANIFEST_LIST)
        );
        let may_be_referrer = match manifest_media_type {
            Some(
                media::DOCKER_MANIFEST
                | media::DOCKER_MANIFEST_V1
                | media::DOCKER_MANIFEST_V1_SIGNED
                | media::DOCKER_MANIFEST_LIST,
            ) => false,
            Some(media::OCI_MANIFEST) => !matches!(
                artifact_media_type,
                Some(media::OCI_IMAGE_CONFIG | media::DOCKER_IMAGE_CONFIG)
            ),
            _ => true,
        };
        Kind {
            index,
            may_be_referrer,
        }
    }

    /// Two listings of one digest: whatever either says it may be (order-independent).
    fn merge(self, other: Kind) -> Kind {
        Kind {
            index: self.index || other.index,
            may_be_referrer: self.may_be_referrer || other.may_be_referrer,
        }
    }
}

impl Default for Kind {
    /// Unknown media types.
    fn default() -> Self {
        Kind::of(None, None)
    }
}

/// One image of the repository: only what the decision needs of DescribeImages' record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    /// Milliseconds since the Unix epoch. Unknown push times are read as `i64::MAX` (newest),
    /// which errs on the side of keeping.
    pub pushed_at: i64,
    /// From `imageManifestMediaType` and `artifactMediaType`.
    pub kind: Kind,
    /// `subjectManifestDigest`: ECR names the subject of a referrer itself when it knows it.
    pub subject: Option<String>,
}

impl Image {
    /// A multi-architecture index (OCI image index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.kind.index
    }

    /// Whether the manifest may carry a `subject` (see [`Kind::of`]).
    pub fn may_be_referrer(&self) -> bool {
        self.kind.may_be_referrer
    }
}

/// `sha256-<hex>.sig`, `.att`, `.sbom` (cosign's tag scheme) and `sha256-<hex>` (the OCI
/// referrers tag schema, SOCI indexes) name the image `sha256:<hex>` they belong to.
pub fn attached_to(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = [".sig", ".att", ".sbom"]
        .iter()
        .find_map(|suffix| rest.strip_suffix(suffix))
        .unwrap_or(rest);
    let is_hex = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    is_hex(hex).then(|| format!("sha256:{hex}"))
}

/// What a manifest read through BatchGetImage links to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    /// `subject.digest`: the image this one is a referrer of.
    pub subject: Option<String>,
    /// `manifests[].digest` of an index: its per-platform manifests (and attestations).
    pub children: Vec<String>,
}

impl Manifest {
    /// Reads the links out of a manifest's JSON text; None when it is not JSON.
    pub fn parse(text: &str) -> Option<Manifest> {
        #[derive(Deserialize)]
        struct Descriptor {
            digest: String,
        }
        #[derive(Deserialize)]
        struct Raw {
            subject: Option<Descriptor>,
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let raw: Raw = serde_json::from_str(text).ok()?;
        Some(Manifest {
            subject: raw.subject.map(|s| s.digest),
            children: raw.manifests.into_iter().map(|m| m.digest).collect(),
        })
    }
}

/// Manifests read, by digest. A digest asked for and absent could not be read.
pub type Manifests = BTreeMap<String, Manifest>;

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

impl From<&Settings> for Policy {
    fn from(s: &Settings) -> Self {
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
    /// A manifest (per-platform image, attestation) of a kept index.
    PlatformOfKept,
    /// A referrer of a kept image (its `subject`, or cosign's `sha256-<hex>.sig` tags).
    Referrer,
    /// May be a referrer, and its manifest could not be read: kept rather than guessed.
    UnreadManifest,
}

/// The decision: every image seen is either kept (with its reason) or deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub keep: BTreeMap<String, KeepReason>,
    /// Digests to delete: first the indexes (`delete[..indexes_first]`), then the rest, each
    /// part sorted. ECR refuses to delete a manifest an index still names, so the indexes go
    /// in calls of their own before their children.
    pub delete: Vec<String>,
    pub indexes_first: usize,
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
    pub kept_platform_of_kept: usize,
    pub kept_referrer: usize,
    pub kept_unread_manifest: usize,
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
                KeepReason::PlatformOfKept => c.kept_platform_of_kept += 1,
                KeepReason::Referrer => c.kept_referrer += 1,
                KeepReason::UnreadManifest => c.kept_unread_manifest += 1,
            }
        }
        c
    }

    /// The deletions in the order they must be made: the indexes, then the rest.
    pub fn delete_phases(&self) -> [&[String]; 2] {
        let (indexes, rest) = self.delete.split_at(self.indexes_first);
        [indexes, rest]
    }
}

/// One image per digest, sorted by digest, in place: ECR lists each digest once, but the
/// decision must not depend on that (nor on input order), so duplicates are merged: tags
/// united, the latest push time kept, the kinds united, the smallest subject kept.
pub fn merge_by_digest(images: &mut Vec<Image>) {
    images.sort_unstable_by(|a, b| a.digest.cmp(&b.digest));
    images.dedup_by(|later, kept| {
        if later.digest != kept.digest {
            return false;
        }
        kept.tags.append(&mut later.tags);
        kept.pushed_at = kept.pushed_at.max(later.pushed_at);
        kept.kind = kept.kind.merge(later.kind);
        kept.subject = match (kept.subject.take(), later.subject.take()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        true
    });
    for image in images.iter_mut() {
        if image.tags.len() > 1 {
            image.tags.sort_unstable();
            image.tags.dedup();
        }
    }
}

/// An image that only carries attachment tags (`sha256-<hex>.sig`…) is a signature or an
/// index of referrers, not an image of the app: it does not count among the newest.
fn is_attachment(image: &Image) -> bool {
    !image.tags.is_empty() && image.tags.iter().all(|t| attached_to(t).is_some())
}

/// The first five rules (in use, rollback, newest, protected, recent untagged) over images as
/// [`merge_by_digest`] leaves them.
fn base_reasons(
    images: &[Image],
    in_use: &InUse,
    policy: &Policy,
    now_millis: i64,
) -> Vec<Option<KeepReason>> {
    // The first reason found wins: they are applied in KeepReason's order.
    let mut reasons: Vec<Option<KeepReason>> = vec![None; images.len()];
    for (refs, reason) in [
        (&in_use.running, KeepReason::InUse),
        (&in_use.rollback, KeepReason::Rollback),
    ] {
        if refs.is_empty() {
            continue;
        }
        for (i, image) in images.iter().enumerate() {
            if refs.digests.contains(&image.digest)
                || image.tags.iter().any(|t| refs.tags.contains(t))
            {
                reasons[i].get_or_insert(reason);
            }
        }
    }

    if policy.keep_images > 0 {
        let mut tagged: Vec<u32> = (0..images.len())
            .filter(|&i| !images[i].tags.is_empty() && !is_attachment(&images[i]))
            .map(|i| i as u32)
            .collect();
        // Newest first, ties broken by digest (`images` is sorted by digest): a total order,
        // so selecting the first `keep_images` needs no full sort.
        let newest_first = |&a: &u32, &b: &u32| {
            let pushed = |i: u32| images[i as usize].pushed_at;
            pushed(b).cmp(&pushed(a)).then(a.cmp(&b))
        };
        if tagged.len() > policy.keep_images {
            tagged.select_nth_unstable_by(policy.keep_images, newest_first);
            tagged.truncate(policy.keep_images);
        }
        for i in tagged {
            reasons[i as usize].get_or_insert(KeepReason::Newest);
        }
    }

    for (i, image) in images.iter().enumerate() {
        if image.tags.iter().any(|t| policy.protected_tags.contains(t)) {
            reasons[i].get_or_insert(KeepReason::Protected);
        } else if image.tags.is_empty()
            && now_millis.saturating_sub(image.pushed_at) < policy.untagged_expiry_millis
        {
            reasons[i].get_or_insert(KeepReason::RecentUntagged);
        }
    }
    reasons
}

/// The manifests the decision needs read (BatchGetImage), sorted: every index (its children
/// are kept with it), and every image the first five rules would delete that may be a
/// referrer and whose subject ECR did not already name. Merges `images` in place first
/// ([`merge_by_digest`]), so that [`decide`] need not copy them.
pub fn manifests_to_read(
    images: &mut Vec<Image>,
    in_use: &InUse,
    policy: &Policy,
    now_millis: i64,
) -> Vec<String> {
    merge_by_digest(images);
    let reasons = base_reasons(images, in_use, policy, now_millis);
    images
        .iter()
        .zip(reasons)
        .filter(|(image, reason)| {
            image.is_index()
                || (reason.is_none() && image.subject.is_none() && image.may_be_referrer())
        })
        .map(|(image, _)| image.digest.clone())
        .collect()
}

/// Links between images, by position in the merged listing: `(from, to)` sorted by `from`.
/// Keeping `from` keeps `to`.
struct Links {
    /// Index → its manifests, and subject → its referrers.
    all: Vec<(u32, u32)>,
    /// Index → its manifests only.
    children: Vec<(u32, u32)>,
}

impl Links {
    fn from(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let start = self.all.partition_point(|&(f, _)| (f as usize) < i);
        self.all[start..]
            .iter()
            .take_while(move |&&(f, _)| f as usize == i)
            .map(|&(_, t)| t as usize)
    }
}

/// Keeps everything reachable from a kept image: the manifests of a kept index
/// (`PlatformOfKept`, also when it is a referrer too) and the referrers of a kept image.
fn close(reasons: &mut [Option<KeepReason>], links: &Links) {
    let mut reached: Vec<bool> = reasons.iter().map(Option::is_some).collect();
    let mut queue: Vec<usize> = (0..reasons.len()).filter(|&i| reached[i]).collect();
    while let Some(i) = queue.pop() {
        for next in links.from(i) {
            if !reached[next] {
                reached[next] = true;
                queue.push(next);
            }
        }
    }
    for i in 0..reasons.len() {
        if reached[i] && reasons[i].is_none() {
            reasons[i] = Some(KeepReason::Referrer);
        }
    }
    for &(i, c) in &links.children {
        if reached[i as usize] && reasons[c as usize] == Some(KeepReason::Referrer) {
            reasons[c as usize] = Some(KeepReason::PlatformOfKept);
        }
    }
}

/// Decides which images to keep and which to delete.
///
/// Kept, whatever else holds: every image a reference names, by digest or by a tag it carries
/// (a tag on several images protects them all); the `keep_images` newest tagged images
/// (by push time, ties broken by the smaller digest; attachments such as `sha256-<hex>.sig`
/// do not count); images with a protected tag; untagged images younger than the expiry.
/// Then, transitively from everything kept: the manifests a kept index names, and the
/// referrers of a kept image (by `subject`, from ECR or from `manifests`, or by cosign's tag
/// scheme). An image that may be a referrer and whose manifest is not in `manifests` is kept.
/// Everything else is deleted.
///
/// Memory beyond `images` themselves: a few bytes per image, plus the links found.
pub fn decide(
    mut images: Vec<Image>,
    in_use: &InUse,
    policy: &Policy,
    now_millis: i64,
    manifests: &Manifests,
) -> Plan {
    merge_by_digest(&mut images);
    let mut reasons = base_reasons(&images, in_use, policy, now_millis);

    // `images` is sorted by digest: a digest's position is a binary search away.
    let position = |digest: &str| -> Option<u32> {
        images
            .binary_search_by(|i| i.digest.as_str().cmp(digest))
            .ok()
            .map(|p| p as u32)
    };
    let mut links = Links {
        all: Vec::new(),
        children: Vec::new(),
    };
    // What the manifests read say: walked once, not looked up for each image.
    let mut read = vec![false; images.len()];
    for (digest, m) in manifests {
        let Some(i) = position(digest) else {
            continue;
        };
        read[i as usize] = true;
        if let Some(s) = m.subject.as_deref().and_then(position) {
            links.all.push((s, i));
        }
        for c in m.children.iter().filter_map(|c| position(c)) {
            links.children.push((i, c));
        }
    }
    for (i, image) in images.iter().enumerate() {
        let i = i as u32;
        if let Some(s) = image.subject.as_deref().and_then(position) {
            links.all.push((s, i));
        }
        for tag in &image.tags {
            if let Some(s) = attached_to(tag).as_deref().and_then(position) {
                links.all.push((s, i));
            }
        }
    }
    links.all.extend_from_slice(&links.children);
    links.all.sort_unstable();
    links.all.dedup();
    close(&mut reasons, &links);
    let mut unread = false;
    for (i, image) in images.iter().enumerate() {
        if reasons[i].is_none() && image.subject.is_none() && image.may_be_referrer() && !read[i] {
            reasons[i] = Some(KeepReason::UnreadManifest);
            unread = true;
        }
    }
    if unread {
        // What belongs to an image kept unread is kept too.
        close(&mut reasons, &links);
    }
    drop(links);

    let mut plan = Plan::default();
    let deleted = reasons.iter().filter(|r| r.is_none()).count();
    let indexes = images
        .iter()
        .zip(&reasons)
        .filter(|(image, r)| r.is_none() && image.is_index())
        .count();
    plan.delete = vec![String::new(); deleted];
    plan.indexes_first = indexes;
    let (mut next_index, mut next_rest) = (0, indexes);
    for (image, reason) in images.into_iter().zip(reasons) {
        match reason {
            Some(r) => {
                plan.keep.insert(image.digest, r);
            }
            None if image.is_index() => {
                plan.delete[next_index] = image.digest;
                next_index += 1;
            }
            None => {
                plan.delete[next_rest] = image.digest;
                next_rest += 1;
            }
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
            kind: Kind::of(Some(media::DOCKER_MANIFEST), None),
            ..Image::default()
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

    fn none() -> Manifests {
        Manifests::new()
    }

    fn fifteen() -> Vec<Image> {
        (0..15)
            .map(|i| image(&format!("sha256:{i:02}"), &[&format!("v{i}")], i * 1000))
            .collect()
    }

    #[test]
    fn fifteen_tagged_images_are_pruned_to_the_ten_newest() {
        let plan = decide(
            fifteen(),
            &InUse::default(),
            &policy(10),
            100 * DAY,
            &none(),
        );
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
        let plan = decide(fifteen(), &in_use, &policy(10), 100 * DAY, &none());
        assert_eq!(plan.keep["sha256:00"], KeepReason::InUse);
        assert_eq!(plan.keep["sha256:01"], KeepReason::Rollback);
        let c = plan.counts();
        assert_eq!((c.kept, c.deleted), (12, 3));
        // In use beats every other reason.
        let in_use = InUse {
            running: refs(&[], &["v14"]),
            ..InUse::default()
        };
        let plan = decide(fifteen(), &in_use, &policy(10), 100 * DAY, &none());
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
        let plan = decide(images, &InUse::default(), &p, 10 * DAY, &none());
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
            &none(),
        );
        assert_eq!(plan.delete, vec!["sha256:b"]);
    }

    #[test]
    fn ties_in_push_time_are_broken_by_digest() {
        // moto's imagePushedAt has 1 s resolution: pushes in a burst share a timestamp.
        let images: Vec<Image> = (0..15)
            .map(|i| image(&format!("sha256:{i:02}"), &[&format!("v{i}")], 0))
            .collect();
        let plan = decide(images, &InUse::default(), &policy(10), DAY, &none());
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
        let plan = decide(images, &InUse::default(), &policy(1), 2 * DAY, &none());
        assert_eq!(plan.keep["sha256:a"], KeepReason::Newest);
        assert_eq!(plan.delete, vec!["sha256:b"]);
        // Listings that disagree on the media types: whatever either says it may be, in any
        // order (an index, and a possible referrer whose manifest was not read: kept).
        let docker = Kind::of(Some(media::DOCKER_MANIFEST), None);
        let listings = [
            Image {
                kind: Kind::of(Some(media::OCI_INDEX), None),
                ..image("sha256:c", &[], 0)
            },
            Image {
                kind: docker,
                ..image("sha256:c", &[], 0)
            },
        ];
        for order in [[0, 1], [1, 0]] {
            let mut merged = order.map(|i| listings[i].clone()).to_vec();
            merge_by_digest(&mut merged);
            assert_eq!(merged.len(), 1);
            assert_eq!(
                merged[0].kind,
                Kind {
                    index: true,
                    may_be_referrer: true
                }
            );
            let plan = decide(merged, &InUse::default(), &policy(0), 2 * DAY, &none());
            assert_eq!(plan.keep["sha256:c"], KeepReason::UnreadManifest);
        }
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
                    kind: Kind::of(Some(media::DOCKER_MANIFEST), None),
                    ..Image::default()
                }
            })
            .collect();
        let in_use = InUse {
            running: refs(&[&images[17].digest], &["build-9999"]),
            rollback: refs(&[&images[42].digest], &["build-1", "build-2"]),
        };
        let now = 10_000 * 60_000;
        let started = std::time::Instant::now();
        let plan = decide(images, &in_use, &policy(10), now, &none());
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

    // ---- Indexes and referrers ----

    const IDX: &str = media::OCI_INDEX;
    const OCI: &str = media::OCI_MANIFEST;

    fn typed(digest: &str, tags: &[&str], pushed_at: i64, manifest: &str) -> Image {
        Image {
            kind: Kind::of(Some(manifest), None),
            ..image(digest, tags, pushed_at)
        }
    }

    fn index(children: &[&str]) -> Manifest {
        Manifest {
            subject: None,
            children: children.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn referrer(subject: &str) -> Manifest {
        Manifest {
            subject: Some(subject.into()),
            children: vec![],
        }
    }

    fn manifests(pairs: &[(&str, Manifest)]) -> Manifests {
        pairs
            .iter()
            .map(|(d, m)| (d.to_string(), m.clone()))
            .collect()
    }

    #[test]
    fn attachment_tags_name_their_subject() {
        assert_eq!(
            attached_to("sha256-ab12.sig").as_deref(),
            Some("sha256:ab12")
        );
        assert_eq!(
            attached_to("sha256-ab12.att").as_deref(),
            Some("sha256:ab12")
        );
        assert_eq!(
            attached_to("sha256-ab12.sbom").as_deref(),
            Some("sha256:ab12")
        );
        assert_eq!(attached_to("sha256-ab12").as_deref(), Some("sha256:ab12"));
        for not in [
            "latest",
            "sha256-",
            "sha256-.sig",
            "sha256-XYZ.sig",
            "sha256-ab.tar",
            "v1.sig",
            "sha512-ab.sig",
        ] {
            assert_eq!(attached_to(not), None, "{not}");
        }
    }

    #[test]
    fn media_types_say_what_may_be_a_referrer_and_what_is_an_index() {
        let with = |m: Option<&str>, a: Option<&str>| Image {
            kind: Kind::of(m, a),
            ..Image::default()
        };
        for (m, a, referrer, is_index) in [
            (Some(media::DOCKER_MANIFEST), None, false, false),
            (Some(media::DOCKER_MANIFEST_V1_SIGNED), None, false, false),
            (Some(media::DOCKER_MANIFEST_LIST), None, false, true),
            (Some(OCI), Some(media::OCI_IMAGE_CONFIG), false, false),
            (Some(OCI), Some(media::DOCKER_IMAGE_CONFIG), false, false),
            (
                Some(OCI),
                Some("application/vnd.dev.cosign.artifact.sig.v1+json"),
                true,
                false,
            ),
            (
                Some(OCI),
                Some("application/vnd.oci.empty.v1+json"),
                true,
                false,
            ),
            (Some(OCI), None, true, false),
            (Some(media::OCI_ARTIFACT), None, true, false),
            (Some(IDX), None, true, true),
            (Some("application/x-unknown"), None, true, false),
            (None, None, true, false),
        ] {
            let i = with(m, a);
            assert_eq!(
                (i.may_be_referrer(), i.is_index()),
                (referrer, is_index),
                "{m:?} {a:?}"
            );
        }
    }

    #[test]
    fn manifests_are_read_for_their_subject_and_children() {
        let text = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44","size":2},
            "layers":[],"subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":9}}"#;
        assert_eq!(Manifest::parse(text), Some(referrer("sha256:aa")));
        let text = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"digest":"sha256:01","size":1,"platform":{"os":"linux","architecture":"amd64"}},
                         {"digest":"sha256:02","size":1,"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}"#;
        assert_eq!(
            Manifest::parse(text),
            Some(index(&["sha256:01", "sha256:02"]))
        );
        assert_eq!(
            Manifest::parse(r#"{"schemaVersion":2,"layers":[]}"#),
            Some(Manifest::default())
        );
        assert_eq!(Manifest::parse("not json"), None);
    }

    #[test]
    fn a_kept_index_keeps_its_platform_manifests_a_deleted_one_goes_first() {
        let images = vec![
            typed("sha256:a0", &["v1"], 1, IDX),
            typed("sha256:a1", &[], 1, OCI),
            typed("sha256:a2", &[], 1, OCI),
            typed("sha256:b0", &["v2"], 2, IDX),
            typed("sha256:b1", &[], 2, OCI),
            typed("sha256:b2", &[], 2, OCI),
            typed("sha256:c0", &["v0"], 0, media::DOCKER_MANIFEST),
        ];
        let read = manifests(&[
            ("sha256:a0", index(&["sha256:a1", "sha256:a2", "sha256:zz"])),
            ("sha256:b0", index(&["sha256:b1", "sha256:b2"])),
            ("sha256:a1", Manifest::default()),
            ("sha256:a2", Manifest::default()),
            ("sha256:b1", Manifest::default()),
            ("sha256:b2", Manifest::default()),
        ]);
        let mut p = policy(1);
        p.untagged_expiry_millis = 0;
        let plan = decide(images.clone(), &InUse::default(), &p, 10 * DAY, &read);
        assert_eq!(plan.keep["sha256:b0"], KeepReason::Newest);
        assert_eq!(plan.keep["sha256:b1"], KeepReason::PlatformOfKept);
        assert_eq!(plan.keep["sha256:b2"], KeepReason::PlatformOfKept);
        assert_eq!(
            plan.delete,
            vec!["sha256:a0", "sha256:a1", "sha256:a2", "sha256:c0"]
        );
        assert_eq!(plan.indexes_first, 1);
        let [first, then] = plan.delete_phases();
        assert_eq!((first.len(), then.len()), (1, 3));
        // The index in use keeps its children through the same rule.
        let in_use = InUse {
            running: refs(&["sha256:a0"], &[]),
            ..InUse::default()
        };
        let plan = decide(images, &in_use, &p, 10 * DAY, &read);
        assert_eq!(plan.keep["sha256:a1"], KeepReason::PlatformOfKept);
        assert_eq!(plan.delete, vec!["sha256:c0"]);
        assert_eq!(plan.counts().kept_platform_of_kept, 4);
    }

    #[test]
    fn referrers_of_kept_images_are_kept_transitively_those_of_deleted_ones_are_not() {
        let images = vec![
            typed("sha256:a0", &["v1"], 1, media::DOCKER_MANIFEST),
            // A notation signature (subject from ECR), an SBOM (subject from its manifest),
            // a signature of the SBOM, and a cosign tag-scheme signature.
            Image {
                subject: Some("sha256:a0".into()),
                ..typed("sha256:s1", &[], 1, OCI)
            },
            typed("sha256:s2", &[], 1, OCI),
            typed("sha256:s3", &[], 1, OCI),
            typed("sha256:s4", &["sha256-a0.sig"], 1, OCI),
            typed("sha256:b0", &["v0"], 0, media::DOCKER_MANIFEST),
            typed("sha256:t1", &[], 0, OCI),
            typed("sha256:t2", &["sha256-b0.att"], 0, OCI),
        ];
        let read = manifests(&[
            ("sha256:s2", referrer("sha256:a0")),
            ("sha256:s3", referrer("sha256:s2")),
            ("sha256:s4", Manifest::default()),
            ("sha256:t1", referrer("sha256:b0")),
            ("sha256:t2", Manifest::default()),
        ]);
        let mut p = policy(1);
        p.untagged_expiry_millis = 0;
        let plan = decide(images, &InUse::default(), &p, 10 * DAY, &read);
        for d in ["sha256:s1", "sha256:s2", "sha256:s3", "sha256:s4"] {
            assert_eq!(plan.keep[d], KeepReason::Referrer, "{d}");
        }
        assert_eq!(plan.delete, vec!["sha256:b0", "sha256:t1", "sha256:t2"]);
        assert_eq!(plan.counts().kept_referrer, 4);
    }

    #[test]
    fn attachment_tags_do_not_count_among_the_newest() {
        let images = vec![
            typed("sha256:a0", &["v1"], 1, media::DOCKER_MANIFEST),
            typed("sha256:b0", &["v2"], 2, media::DOCKER_MANIFEST),
            typed("sha256:b1", &["sha256-b0.sig"], 3, OCI),
        ];
        let read = manifests(&[("sha256:b1", Manifest::default())]);
        let plan = decide(images, &InUse::default(), &policy(1), 10 * DAY, &read);
        assert_eq!(plan.keep["sha256:b0"], KeepReason::Newest);
        assert_eq!(plan.keep["sha256:b1"], KeepReason::Referrer);
        assert_eq!(plan.delete, vec!["sha256:a0"]);
    }

    #[test]
    fn what_may_be_a_referrer_and_was_not_read_is_kept() {
        let images = vec![
            typed("sha256:a0", &["v1"], 1, media::DOCKER_MANIFEST),
            typed("sha256:u1", &[], 0, OCI),
            typed("sha256:u2", &[], 0, media::DOCKER_MANIFEST),
            Image {
                subject: Some("sha256:gone".into()),
                ..typed("sha256:u3", &[], 0, OCI)
            },
        ];
        let mut p = policy(1);
        p.untagged_expiry_millis = 0;
        let wanted = manifests_to_read(&mut images.clone(), &InUse::default(), &p, 10 * DAY);
        assert_eq!(
            wanted,
            vec!["sha256:u1"],
            "not u2 (Docker), not u3 (ECR named its subject)"
        );
        let plan = decide(images.clone(), &InUse::default(), &p, 10 * DAY, &none());
        assert_eq!(plan.keep["sha256:u1"], KeepReason::UnreadManifest);
        assert_eq!(plan.delete, vec!["sha256:u2", "sha256:u3"]);
        let read = manifests(&[("sha256:u1", Manifest::default())]);
        let plan = decide(images, &InUse::default(), &p, 10 * DAY, &read);
        assert_eq!(plan.delete, vec!["sha256:u1", "sha256:u2", "sha256:u3"]);
    }

    #[test]
    fn every_index_and_only_undecided_candidates_are_read() {
        let images = vec![
            typed("sha256:i1", &["v1"], 5, IDX),
            typed("sha256:i2", &[], 0, media::DOCKER_MANIFEST_LIST),
            typed("sha256:k1", &["v2"], 6, OCI),
            typed("sha256:c1", &[], 0, OCI),
        ];
        let mut p = policy(2);
        p.untagged_expiry_millis = 0;
        assert_eq!(
            manifests_to_read(&mut images.clone(), &InUse::default(), &p, DAY),
            vec!["sha256:c1", "sha256:i1", "sha256:i2"]
        );
    }

    // ---- Properties ----

    fn arb_image() -> impl Strategy<Value = Image> {
        (0u8..30, proptest::collection::vec(0u8..12, 0..3), 0i64..20).prop_map(|(d, tags, t)| {
            Image {
                digest: format!("sha256:{d:02}"),
                tags: tags.into_iter().map(|t| format!("t{t}")).collect(),
                pushed_at: t * 1000,
                kind: Kind::of(Some(media::DOCKER_MANIFEST), None),
                ..Image::default()
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
            let plan = decide(images.clone(), &in_use, &policy, now, &none());
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
            let plan = decide(images.clone(), &in_use, &policy, now, &none());
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
            let plan = decide(images.clone(), &in_use, &policy, now, &none());
            let mut shuffled = images.clone();
            // A Fisher–Yates shuffle from the seed (a permutation of the input).
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(&plan, &decide(shuffled, &in_use, &policy, now, &none()));
            let mut reversed = images;
            reversed.reverse();
            prop_assert_eq!(plan, decide(reversed, &in_use, &policy, now, &none()));
        }

        #[test]
        fn every_image_is_kept_or_deleted_and_only_the_policy_deletes((images, in_use, policy, now) in arb_case()) {
            let plan = decide(images.clone(), &in_use, &policy, now, &none());
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

    // ---- Properties of indexes and referrers ----

    /// What a digest is, in the generated repository: the same for every listing of it.
    #[derive(Debug, Clone)]
    struct Truth {
        kind: u8,
        ecr_names_subject: bool,
        subject: Option<u8>,
        children: Vec<u8>,
    }

    fn digest(d: u8) -> String {
        format!("sha256:{d:02x}")
    }

    const KINDS: [(Option<&str>, Option<&str>); 6] = [
        (Some(media::DOCKER_MANIFEST), None),
        (Some(media::DOCKER_MANIFEST_LIST), None),
        (Some(media::OCI_MANIFEST), Some(media::OCI_IMAGE_CONFIG)),
        (
            Some(media::OCI_MANIFEST),
            Some("application/vnd.dev.cosign.artifact.sig.v1+json"),
        ),
        (Some(media::OCI_INDEX), None),
        (None, None),
    ];

    fn arb_truth() -> impl Strategy<Value = Truth> {
        (
            0u8..6,
            any::<bool>(),
            proptest::option::of(0u8..26),
            proptest::collection::vec(0u8..24, 0..3),
        )
            .prop_map(|(kind, ecr_names_subject, subject, children)| {
                let (m, a) = KINDS[kind as usize];
                let probe = Image {
                    kind: Kind::of(m, a),
                    ..Image::default()
                };
                Truth {
                    kind,
                    ecr_names_subject,
                    subject: subject.filter(|_| probe.may_be_referrer()),
                    children: if probe.is_index() { children } else { vec![] },
                }
            })
    }

    /// A repository with indexes, referrers (by ECR, by manifest, by cosign tag), the truth
    /// of every manifest, what is in use, the policy and the time.
    fn arb_graph() -> impl Strategy<Value = (Vec<Image>, Manifests, InUse, Policy, i64)> {
        (
            proptest::collection::vec(arb_truth(), 24),
            proptest::collection::vec(
                (
                    0u8..24,
                    proptest::collection::vec(0u8..6, 0..2),
                    proptest::option::of(0u8..24),
                    0i64..20,
                ),
                0..30,
            ),
            arb_refs(),
            0usize..5,
            proptest::collection::btree_set(0u8..6, 0..2),
            0i64..10_000,
            0i64..25_000,
        )
            .prop_map(|(truths, listed, running, keep, protected, expiry, now)| {
                let mut images = Vec::new();
                let mut manifests = Manifests::new();
                for (d, tags, attached, t) in listed {
                    let truth = &truths[d as usize];
                    let (m, a) = KINDS[truth.kind as usize];
                    let mut tags: Vec<String> = tags.into_iter().map(|t| format!("t{t}")).collect();
                    tags.extend(attached.map(|x| format!("sha256-{x:02x}.sig")));
                    images.push(Image {
                        digest: digest(d),
                        tags,
                        pushed_at: t * 1000,
                        kind: Kind::of(m, a),
                        subject: truth
                            .subject
                            .filter(|_| truth.ecr_names_subject)
                            .map(digest),
                    });
                    manifests.insert(
                        digest(d),
                        Manifest {
                            subject: truth.subject.map(digest),
                            children: truth.children.iter().map(|&c| digest(c)).collect(),
                        },
                    );
                }
                let running = References {
                    digests: running
                        .digests
                        .iter()
                        .map(|d| digest(d[7..].parse::<u8>().unwrap() % 26))
                        .collect(),
                    tags: running
                        .tags
                        .iter()
                        .map(|t| format!("t{}", t[1..].parse::<u8>().unwrap() % 6))
                        .collect(),
                };
                let policy = Policy {
                    keep_images: keep,
                    protected_tags: protected.into_iter().map(|t| format!("t{t}")).collect(),
                    untagged_expiry_millis: expiry,
                };
                (
                    images,
                    manifests,
                    InUse {
                        running,
                        rollback: References::default(),
                    },
                    policy,
                    now,
                )
            })
    }

    /// What the pruner reads: the truth of the manifests it asks for, less the unreadable.
    fn as_read(
        images: &[Image],
        truth: &Manifests,
        in_use: &InUse,
        policy: &Policy,
        now: i64,
        unreadable: &BTreeSet<u8>,
    ) -> Manifests {
        manifests_to_read(&mut images.to_vec(), in_use, policy, now)
            .into_iter()
            .filter(|d| !unreadable.iter().any(|u| digest(*u) == *d))
            .filter_map(|d| truth.get(&d).map(|m| (d, m.clone())))
            .collect()
    }

    /// Every subject an image names: ECR's, its manifest's, its attachment tags'.
    fn subjects_of(image: &Image, truth: &Manifests) -> BTreeSet<String> {
        image
            .subject
            .iter()
            .cloned()
            .chain(truth.get(&image.digest).and_then(|m| m.subject.clone()))
            .chain(image.tags.iter().filter_map(|t| attached_to(t)))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(768))]

        /// A digest named by a kept index, or a referrer of a kept image, is never deleted;
        /// nor is anything that may be a referrer and could not be read.
        #[test]
        fn what_belongs_to_a_kept_image_is_never_deleted(
            (images, truth, in_use, policy, now) in arb_graph(),
            unreadable in proptest::collection::btree_set(0u8..24, 0..4),
        ) {
            let read = as_read(&images, &truth, &in_use, &policy, now, &unreadable);
            let plan = decide(images.clone(), &in_use, &policy, now, &read);
            let deleted: BTreeSet<&String> = plan.delete.iter().collect();
            for k in plan.keep.keys() {
                if let Some(m) = read.get(k) {
                    for c in &m.children {
                        prop_assert!(!deleted.contains(c), "{c}: a manifest of kept index {k}");
                    }
                }
            }
            for i in &images {
                let known = i.subject.iter().cloned()
                    .chain(read.get(&i.digest).and_then(|m| m.subject.clone()))
                    .chain(i.tags.iter().filter_map(|t| attached_to(t)));
                for s in known {
                    if plan.keep.contains_key(&s) {
                        prop_assert!(!deleted.contains(&i.digest), "{}: a referrer of kept {s}", i.digest);
                    }
                }
                if i.may_be_referrer() && i.subject.is_none() && !read.contains_key(&i.digest) {
                    prop_assert!(!deleted.contains(&i.digest), "{}: unread", i.digest);
                }
                if in_use.running.digests.contains(&i.digest)
                    || i.tags.iter().any(|t| in_use.running.tags.contains(t) || policy.protected_tags.contains(t))
                {
                    prop_assert!(!deleted.contains(&i.digest), "{}: in use or protected", i.digest);
                }
            }
        }

        /// Reading only what `manifests_to_read` asks for decides as knowing every manifest.
        #[test]
        fn the_manifests_read_are_enough((images, truth, in_use, policy, now) in arb_graph()) {
            let read = as_read(&images, &truth, &in_use, &policy, now, &BTreeSet::new());
            let plan = decide(images.clone(), &in_use, &policy, now, &read);
            prop_assert_eq!(&plan, &decide(images.clone(), &in_use, &policy, now, &truth));
            prop_assert_eq!(plan.counts().kept_unread_manifest, 0);
            // And every subject relation of the truth holds in the plan.
            for i in &images {
                if subjects_of(i, &truth).iter().any(|s| plan.keep.contains_key(s)) {
                    prop_assert!(plan.keep.contains_key(&i.digest), "{}", i.digest);
                }
            }
        }

        /// Every kept image has its reason; the deletions come indexes first, each part sorted;
        /// the plan does not depend on the order of the listing.
        #[test]
        fn reasons_hold_and_the_plan_is_ordered(
            (images, truth, in_use, policy, now) in arb_graph(),
            unreadable in proptest::collection::btree_set(0u8..24, 0..4),
        ) {
            let read = as_read(&images, &truth, &in_use, &policy, now, &unreadable);
            let plan = decide(images.clone(), &in_use, &policy, now, &read);
            let m = merged(&images);
            prop_assert_eq!(plan.keep.len() + plan.delete.len(), m.len());
            let by_digest: BTreeMap<&str, &Image> = images.iter().map(|i| (i.digest.as_str(), i)).collect();
            let [first, then] = plan.delete_phases();
            prop_assert!(first.iter().all(|d| by_digest[d.as_str()].is_index()));
            prop_assert!(then.iter().all(|d| !by_digest[d.as_str()].is_index()));
            prop_assert!(first.windows(2).all(|w| w[0] < w[1]) && then.windows(2).all(|w| w[0] < w[1]));
            for (d, reason) in &plan.keep {
                let i = by_digest[d.as_str()];
                match reason {
                    KeepReason::PlatformOfKept => prop_assert!(
                        plan.keep.iter().any(|(k, _)| read.get(k).is_some_and(|m| m.children.contains(d))),
                        "{d}: no kept index names it"
                    ),
                    KeepReason::Referrer => prop_assert!(
                        images.iter().filter(|j| j.digest == *d)
                            .flat_map(|j| subjects_of(j, &read))
                            .any(|s| plan.keep.contains_key(&s)),
                        "{d}: refers to nothing kept"
                    ),
                    KeepReason::UnreadManifest => prop_assert!(
                        i.may_be_referrer() && !read.contains_key(d)
                    ),
                    _ => {}
                }
            }
            let mut reversed = images.clone();
            reversed.reverse();
            prop_assert_eq!(plan, decide(reversed, &in_use, &policy, now, &read));
        }
    }
}
