//! The local AWS: moto server on 127.0.0.1 behind the strict layer (`crate::strict`). Uses
//! `MOTO_URL` when set; otherwise starts moto for this process, which dies with it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::{Credentials, SharedCredentialsProvider};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

static MOTO: OnceCell<String> = OnceCell::const_new();
/// The watchdog shell around a moto server this process started.
static WATCHDOG: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);

/// The workspace root (where `.venv` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts moto_server under a watchdog that stops it when this process exits.
fn spawn_moto() -> String {
    let binary = std::env::var("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join(".venv/bin/moto_server"));
    assert!(
        binary.exists(),
        "moto server not found at {}: run `make tools` (or `make test`, which installs it)",
        binary.display()
    );
    let port = free_port();
    // The shell stops moto when this process is gone, or at once on SIGTERM (see `stop`).
    let script = format!(
        "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         trap 'kill $m; wait $m; exit 0' TERM; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5 & wait $!; done; kill $m; wait $m",
        binary.display(),
        parent = std::process::id()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .expect("start moto server");
    *WATCHDOG.lock().unwrap() = Some(child);
    format!("http://127.0.0.1:{port}")
}

/// Stops the moto server this process started (if any) and waits until it is gone.
pub fn stop() {
    if let Some(mut child) = WATCHDOG.lock().unwrap().take() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }
}

/// SDK configuration for moto: explicit endpoint, region and dummy credentials, and nothing
/// read from the environment or a developer's ~/.aws. The SDK's own HTTP client (tests/Cargo.toml
/// enables it for the harness): operator_common::http's is one per process, and a test's
/// runtime ending would take that pool's connections with it ("runtime dropped the dispatch
/// task" in the next test).
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
        .build()
}

/// SDK configuration signing with `access_key`: the identity the strict layer authorizes
/// (see `strict::bind`).
pub fn sdk_config_as(endpoint: &str, access_key: &str) -> SdkConfig {
    let credentials = Credentials::new(access_key, "local-secret", None, None, "strict-layer");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// The local AWS every test, function and the demo talks to: the strict layer's proxy in
/// front of moto (one per process).
pub async fn endpoint() -> &'static str {
    // STRICT_LAYER=off: moto itself (to tell the layer's doing from moto's, or to time it).
    if std::env::var("STRICT_LAYER").as_deref() == Ok("off") {
        return backend().await;
    }
    crate::strict::start(backend().await)
}

/// moto itself, ready (the first ECS call takes seconds, so readiness is a real call). Only
/// the strict layer and the harness's own look-ups behind it talk to moto directly.
pub async fn backend() -> &'static str {
    MOTO.get_or_init(|| async {
        let url = std::env::var("MOTO_URL").unwrap_or_else(|_| spawn_moto());
        let ecs = aws_sdk_ecs::Client::new(&sdk_config(&url));
        let started = Instant::now();
        loop {
            match ecs.list_clusters().send().await {
                Ok(_) => break,
                Err(e) if started.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("moto server at {url} did not answer: {e:?}"),
            }
        }
        url
    })
    .await
}

/// The environment a function process needs to talk to moto.
pub fn process_env(endpoint: &str, home: &std::path::Path) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("HOME", home.to_str().unwrap_or("/nonexistent")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
