//! A test's world: moto, clients for checking its state, a local CloudFormation and the network.

use crate::cfn::{invoke_in_process, Answer, Cfn, Pending};
use crate::ec2::{create_network, Network};
use crate::moto;
use provisioner::clients::Clients;
use provisioner::service::plan::RolloutOutcome;
use provisioner::service::rollout::BoxFuture;
use provisioner::service::{EcsRolloutWatcher, RolloutWatcher};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// A watcher that reports a fixed outcome: moto never finishes a deployment.
pub struct FixedRollout(pub RolloutOutcome);

impl RolloutWatcher for FixedRollout {
    fn wait<'a>(
        &'a self,
        _ecs: &'a aws_sdk_ecs::Client,
        _cluster: &'a str,
        _service: &'a str,
        _task_definition: &'a str,
        _until: Instant,
    ) -> BoxFuture<'a, provisioner::error::Result<RolloutOutcome>> {
        let outcome = self.0.clone();
        Box::pin(async move { Ok(outcome) })
    }
}

pub struct World {
    pub endpoint: String,
    pub clients: Clients,
    pub cfn: Cfn,
    /// Short and unique: keeps names apart when tests share one moto.
    pub id: String,
    network: OnceCell<Network>,
}

static WORLDS: AtomicU32 = AtomicU32::new(0);

impl World {
    pub async fn new() -> World {
        // The functions' log lines, shown for failing tests (RUST_LOG=info to see them all).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let endpoint = moto::endpoint().await.to_string();
        let config = moto::sdk_config(&endpoint);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let id = format!(
            "{:04x}{}",
            (nanos ^ std::process::id()) & 0xffff,
            WORLDS.fetch_add(1, Ordering::SeqCst)
        );
        World {
            clients: Clients::new(&config),
            cfn: Cfn::new(&format!("stack-{id}")).await,
            endpoint,
            id,
            network: OnceCell::new(),
        }
    }

    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.id)
    }

    pub async fn network(&self) -> &Network {
        self.network
            .get_or_init(|| async { create_network(&self.endpoint, &self.name("net")).await })
            .await
    }

    /// Hands one request to the provisioner and returns its (single) answer.
    pub async fn send(&self, pending: &Pending) -> Answer {
        self.send_with(
            pending,
            Box::new(EcsRolloutWatcher::default()),
            Duration::from_secs(120),
        )
        .await
    }

    pub async fn send_with(
        &self,
        pending: &Pending,
        rollouts: Box<dyn RolloutWatcher>,
        limit: Duration,
    ) -> Answer {
        let before = self.cfn.answers(pending).len();
        invoke_in_process(pending, self.clients.clone(), rollouts, limit)
            .await
            .expect("the answer is delivered");
        let answers = self.cfn.answers(pending);
        assert_eq!(
            answers.len(),
            before + 1,
            "exactly one answer per invocation"
        );
        let answer = answers.last().cloned().expect("an answer");
        assert_eq!(
            answer.received.content_type.as_deref(),
            Some(""),
            "S3 needs an empty Content-Type"
        );
        assert_eq!(
            answer.received.content_length,
            Some(answer.received.raw_len)
        );
        assert!(answer.received.raw_len <= 4096);
        assert!(
            !answer.physical_id.is_empty(),
            "PhysicalResourceId is never empty"
        );
        answer
    }

    pub async fn create(&self, resource_type: &str, logical: &str, props: &Value) -> Answer {
        let p = self
            .cfn
            .request("Create", resource_type, logical, props, None, None);
        self.send(&p).await
    }

    pub async fn update(
        &self,
        resource_type: &str,
        logical: &str,
        physical: &str,
        old: &Value,
        new: &Value,
    ) -> Answer {
        let p = self.cfn.request(
            "Update",
            resource_type,
            logical,
            new,
            Some(physical),
            Some(old),
        );
        self.send(&p).await
    }

    pub async fn delete(
        &self,
        resource_type: &str,
        logical: &str,
        physical: &str,
        props: &Value,
    ) -> Answer {
        let p = self.cfn.request(
            "Delete",
            resource_type,
            logical,
            props,
            Some(physical),
            None,
        );
        self.send(&p).await
    }

    // Properties as template.yaml would pass them, with this world's names.

    pub fn repository_props(&self) -> Value {
        json!({"RepositoryName": self.name("sky-high-booker")})
    }

    pub fn cluster_props(&self) -> Value {
        json!({"ClusterName": self.name("sky"),
               "CapacityProviderStrategy": [
                   {"CapacityProvider": "FARGATE", "Weight": 50, "Base": 20},
                   {"CapacityProvider": "FARGATE_SPOT", "Weight": 50}]})
    }

    pub async fn load_balancer_props(&self) -> Value {
        let n = self.network().await;
        json!({"Name": self.name("sky"), "VpcId": n.vpc_id, "Subnets": n.public_subnets,
               "SecurityGroups": [n.alb_security_group], "HealthCheckPath": "/", "TargetPort": 80})
    }

    pub async fn service_props(&self, repository_uri: &str, target_group_arn: &str) -> Value {
        let n = self.network().await;
        json!({"ClusterName": self.name("sky"), "ServiceName": self.name("web"),
               "RepositoryUri": repository_uri, "ImageTag": "latest",
               "Cpu": 512, "Memory": 1024, "ContainerPort": 80,
               "DesiredCount": 2, "MinCapacity": 1, "MaxCapacity": 5,
               "Subnets": n.private_subnets, "SecurityGroups": [n.task_security_group],
               "TargetGroupArn": target_group_arn,
               "ExecutionRoleArn": "arn:aws:iam::123456789012:role/sky-high-booker-execution",
               "Environment": {"NODE_ENV": "production"},
               "WaitForSteadyState": false})
    }

    /// What a service stands on, made through the provisioner (repository, cluster, load
    /// balancer); returns the repository's name and URI and the service's properties.
    pub async fn foundations(&self) -> (String, String, Value) {
        let repo = self
            .create("Custom::Repository", "Repository", &self.repository_props())
            .await;
        let cluster = self
            .create("Custom::Cluster", "Cluster", &self.cluster_props())
            .await;
        let lb = self
            .create(
                "Custom::LoadBalancer",
                "LoadBalancer",
                &self.load_balancer_props().await,
            )
            .await;
        for made in [&repo, &cluster, &lb] {
            assert!(made.is_success(), "{}", made.reason);
        }
        let uri = repo.data("RepositoryUri");
        let props = self.service_props(&uri, &lb.data("TargetGroupArn")).await;
        (repo.data("RepositoryName"), uri, props)
    }

    /// Creates the service through the provisioner; returns its answer.
    pub async fn create_service(&self, props: &Value) -> Answer {
        let service = self.create("Custom::Service", "Service", props).await;
        assert!(service.is_success(), "{}", service.reason);
        service
    }

    /// An ACM certificate ARN that moto knows (HTTPS listeners need one).
    pub async fn request_certificate(&self, domain: &str) -> String {
        let out = crate::ec2::json_call(
            &self.endpoint,
            "acm",
            "CertificateManager.RequestCertificate",
            json!({"DomainName": domain, "ValidationMethod": "DNS"}),
        )
        .await;
        out["CertificateArn"]
            .as_str()
            .expect("a certificate ARN")
            .to_string()
    }

    /// Pushes an image to moto's ECR with an explicit digest (moto's own collide).
    pub async fn push_image(&self, repository: &str, tag: &str, seed: u32) -> String {
        push_image(self.clients.ecr(), repository, tag, seed).await
    }

    /// Pushes images `seeds`, tagged `{prefix}{seed}`, from `workers` concurrent workers
    /// (moto serves requests on threads: thousands of pushes go much faster).
    pub async fn push_images(
        &self,
        repository: &str,
        prefix: &str,
        seeds: std::ops::Range<u32>,
        workers: u32,
    ) {
        let mut set = tokio::task::JoinSet::new();
        for worker in 0..workers {
            let (ecr, repository, prefix) = (
                self.clients.ecr().clone(),
                repository.to_string(),
                prefix.to_string(),
            );
            let seeds = (seeds.start + worker..seeds.end).step_by(workers as usize);
            set.spawn(async move {
                for seed in seeds {
                    push_image(&ecr, &repository, &format!("{prefix}{seed}"), seed).await;
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("a push worker");
        }
    }
}

/// Pushes an image to moto's ECR with an explicit digest derived from `seed` (moto's own
/// digests collide); returns the digest.
pub async fn push_image(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    tag: &str,
    seed: u32,
) -> String {
    let digest = format!("sha256:{:064x}", u64::from(seed) * 0x9e37_79b9 + 1);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": digest, "size": seed, "mediaType": "application/vnd.docker.container.image.v1+json"},
        "layers": []});
    ecr.put_image()
        .repository_name(repository)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .image_digest(&digest)
        .send()
        .await
        .expect("put_image");
    digest
}
