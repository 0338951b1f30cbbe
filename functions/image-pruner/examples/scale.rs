//! The image pruner at ECR's scale: peak RSS and decision time of one prune of a repository of
//! 10,000 and of 100,000 images (ECR's default quota per repository), each in a fresh process.
//!
//! ECR and ECS are answered in-process through aws-smithy-mocks: DescribeImages pages of 1,000
//! images in ECR's JSON wire format (through the SDK's own deserializer), BatchGetImage,
//! BatchDeleteImage and TagResource; the service runs one image by tag and digest and keeps
//! rollback revisions. Run by `make bench`:
//! `cargo run --release -p image-pruner --example scale [-- IMAGES...]`.

use aws_sdk_ecr::operation::batch_delete_image::BatchDeleteImageOutput;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::operation::tag_resource::TagResourceOutput;
use aws_sdk_ecr::types::{Image as EcrImage, ImageIdentifier};
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types::{
    Container, ContainerDefinition, Deployment, Service, Task, TaskDefinition,
};
use aws_smithy_mocks::{
    create_mock_http_client, mock, MockResponse, MockResponseInterceptor, Rule, RuleMode,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use image_pruner::aws::Clients;
use image_pruner::settings::Settings;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Instant;

const REPOSITORY: &str = "sky-high-booker";
const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PER_PAGE: usize = 1000;
/// Push times: one image a minute before NOW.
const NOW_MILLIS: i64 = 1_795_618_474_000;
const FAMILY_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/sky-web";
const CURRENT_REVISION: usize = 42;

/// A digest that looks like ECR's (64 hex digits), different for each image.
fn digest(i: usize) -> String {
    let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut s = String::from("sha256:");
    for _ in 0..4 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let _ = write!(s, "{x:016x}");
    }
    s
}

/// Image `i` of `n` (0 is the oldest): one in ten untagged, one in a hundred a cosign signature
/// of the image before it (tagged `sha256-<hex>.sig`, no subject in DescribeImages: its manifest
/// is read), one in seven with a second tag, the rest runnable images (Docker or OCI).
fn detail(i: usize, n: usize) -> serde_json::Value {
    let pushed = (NOW_MILLIS - ((n - i) as i64) * 60_000) as f64 / 1000.0;
    let signature = i % 100 == 99;
    let tags: Vec<String> = if signature {
        vec![format!("{}.sig", digest(i - 1).replace(':', "-"))]
    } else if i % 10 == 5 {
        vec![]
    } else if i % 7 == 0 {
        vec![format!("build-{i:06}"), format!("release-{i:06}")]
    } else {
        vec![format!("build-{i:06}")]
    };
    let (manifest, artifact) = if signature {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.dev.cosign.artifact.sig.v1+json",
        )
    } else if i % 2 == 0 {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        )
    };
    let mut d = json!({
        "registryId": ACCOUNT,
        "repositoryName": REPOSITORY,
        "imageDigest": digest(i),
        "imageSizeInBytes": 73_400_320 + i,
        "imagePushedAt": pushed,
        "imageManifestMediaType": manifest,
        "artifactMediaType": artifact,
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindingsSummary": {
            "imageScanCompletedAt": pushed + 30.0,
            "vulnerabilitySourceUpdatedAt": pushed - 3600.0,
            "findingSeverityCounts": {"MEDIUM": 3, "LOW": 7, "INFORMATIONAL": 12}
        },
        "lastRecordedPullTime": pushed + 600.0
    });
    if !tags.is_empty() {
        d["imageTags"] = json!(tags);
    }
    d
}

/// An opaque token as long as ECR's.
fn token(page: usize) -> String {
    format!(
        "{}{page:08}",
        "eyJlbmNyeXB0ZWREYXRhIjpbMTIsMzQsNTYsNzgsOTBdLCJ2ZXJzaW9uIjoyfQ".repeat(4)
    )
}

fn page_of(token: Option<&str>) -> usize {
    token.map_or(0, |t| t[t.len() - 8..].parse().unwrap())
}

/// DescribeImages page `page` of a repository of `n` images, as ECR's JSON.
fn describe_images_page(page: usize, n: usize) -> String {
    let start = page * PER_PAGE;
    let end = (start + PER_PAGE).min(n);
    let details: Vec<_> = (start..end).map(|i| detail(i, n)).collect();
    let mut body = json!({ "imageDetails": details });
    if end < n {
        body["nextToken"] = json!(token(page + 1));
    }
    body.to_string()
}

fn ecr_client(n: usize) -> aws_sdk_ecr::Client {
    let describe =
        mock!(aws_sdk_ecr::Client::describe_images).then_compute_response(move |input| {
            let page = page_of(input.next_token());
            MockResponse::Http(HttpResponse::new(
                StatusCode::try_from(200).unwrap(),
                SdkBody::from(describe_images_page(page, n)),
            ))
        });
    let get = mock!(aws_sdk_ecr::Client::batch_get_image).then_compute_output(|input| {
        let images = input
            .image_ids()
            .iter()
            .map(|id| {
                let manifest = json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.dev.cosign.artifact.sig.v1+json", "size": 233, "digest": digest(0)},
                    "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": 250, "digest": digest(1)}]
                });
                EcrImage::builder()
                    .repository_name(REPOSITORY)
                    .image_id(id.clone())
                    .image_manifest(manifest.to_string())
                    .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
                    .build()
            })
            .collect();
        BatchGetImageOutput::builder().set_images(Some(images)).build()
    });
    let delete = mock!(aws_sdk_ecr::Client::batch_delete_image).then_compute_output(|input| {
        let ids: Vec<ImageIdentifier> = input.image_ids().to_vec();
        BatchDeleteImageOutput::builder()
            .set_image_ids(Some(ids))
            .build()
    });
    let tag = mock!(aws_sdk_ecr::Client::tag_resource)
        .then_compute_output(|_| TagResourceOutput::builder().build());
    let interceptor = [describe, get, delete, tag].iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    );
    aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "AKID", "SECRET", None, None, "scale",
            ))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

fn image_of_revision(revision: usize, n: usize) -> String {
    // The current revision runs the newest build, each earlier one the build before.
    let mut i = n - 1 - (CURRENT_REVISION - revision);
    while i % 10 == 5 || i % 100 == 99 {
        i -= 1;
    }
    format!("{HOST}/{REPOSITORY}:build-{i:06}")
}

fn ecs_client(n: usize) -> aws_sdk_ecs::Client {
    let current = format!("{FAMILY_ARN}:{CURRENT_REVISION}");
    let services = {
        let current = current.clone();
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .service_name("web")
                        .status("ACTIVE")
                        .task_definition(&current)
                        .deployments(Deployment::builder().task_definition(&current).build())
                        .build(),
                )
                .build()
        })
    };
    let tasks = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(|_| {
        ListTasksOutput::builder()
            .task_arns("arn:aws:ecs:us-east-1:123456789012:task/sky/0123456789abcdef")
            .build()
    });
    let described = {
        let current = current.clone();
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |_| {
            DescribeTasksOutput::builder()
                .tasks(
                    Task::builder()
                        .task_definition_arn(&current)
                        .containers(
                            Container::builder()
                                .image(image_of_revision(CURRENT_REVISION, n))
                                .image_digest(digest(n - 1))
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
    };
    let revisions = mock!(aws_sdk_ecs::Client::list_task_definitions).then_compute_output(|_| {
        let arns = (30..=CURRENT_REVISION)
            .rev()
            .map(|r| format!("{FAMILY_ARN}:{r}"))
            .collect();
        ListTaskDefinitionsOutput::builder()
            .set_task_definition_arns(Some(arns))
            .build()
    });
    let definition =
        mock!(aws_sdk_ecs::Client::describe_task_definition).then_compute_output(move |input| {
            let td = input.task_definition().unwrap_or_default();
            let revision: usize = td.rsplit(':').next().unwrap().parse().unwrap();
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .task_definition_arn(td)
                        .container_definitions(
                            ContainerDefinition::builder()
                                .name("web")
                                .image(image_of_revision(revision, n))
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let interceptor = [services, tasks, described, revisions, definition]
        .iter()
        .fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
            |i, r: &Rule| i.with_rule(r),
        );
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "AKID", "SECRET", None, None, "scale",
            ))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

/// Peak resident set size of this process so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One prune of `n` images in this process; prints one JSON line.
async fn prune(n: usize) {
    let clients = Clients {
        ecr: ecr_client(n),
        ecs: ecs_client(n),
    };
    let settings = Settings {
        cluster_name: "sky".into(),
        service_name: "web".into(),
        repository_name: REPOSITORY.into(),
        keep_images: 10,
        keep_rollback_revisions: 3,
        protected_tags: Default::default(),
        untagged_expiry_days: 1,
        dry_run: false,
        delete_calls_in_flight: 4,
    };
    let event = json!({
        "version": "0", "id": "scale", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-11-27T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/prune"], "detail": {}
    });
    let started = Instant::now();
    let outcome = image_pruner::handle_until(
        &event,
        &clients,
        &settings,
        NOW_MILLIS,
        // The function's timeout (template.yaml: 300 s).
        Some(NOW_MILLIS + 300_000),
        "arn:aws:lambda:us-east-1:123456789012:function:sky-ImagePruner",
    )
    .await
    .expect("the prune succeeds");
    let prune_millis = started.elapsed().as_secs_f64() * 1000.0;
    let line = json!({
        "images": n,
        "peak_rss_kib": peak_rss_kib(),
        "decision_micros": outcome.decision_micros,
        "prune_millis": prune_millis.round(),
        "seen": outcome.counts.seen,
        "kept": outcome.counts.kept,
        "deleted": outcome.counts.deleted,
        "delete_calls": outcome.deletion.calls.len(),
        "left": outcome.deletion.left,
        "manifests_read": outcome.manifests_read,
    });
    println!("{line}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice() {
        if flag == "--one" {
            let n: usize = n.parse().expect("a number of images");
            tokio::runtime::Runtime::new().unwrap().block_on(prune(n));
            return;
        }
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![10_000, 100_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("a number of images"))
            .collect()
    };
    let me = std::env::current_exe().unwrap();
    for n in sizes {
        // A fresh process per size: VmHWM is the whole process's high-water mark.
        let out = std::process::Command::new(&me)
            .args(["--one", &n.to_string()])
            .output()
            .expect("the measurement runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
        println!(
            "image-pruner at {:>7} images: peak RSS {:5.1} MiB, decision {:6.1} ms, prune {:6} ms \
             (mocked AWS), deleted {} in {} BatchDeleteImage calls ({} left), {} manifests read",
            n,
            v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["decision_micros"].as_f64().unwrap_or(0.0) / 1000.0,
            v["prune_millis"],
            v["deleted"],
            v["delete_calls"],
            v["left"],
            v["manifests_read"],
        );
    }
}
