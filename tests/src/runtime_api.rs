//! A local Lambda Runtime API: runs a function's real binary the way Lambda does, handing it
//! events through `GET /2018-06-01/runtime/invocation/next` and collecting what it posts back.

use crate::http::{HttpRequest, HttpResponse, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// What the function posted for one invocation: its response, or its error.
pub type Outcome = Result<Value, Value>;

struct Invocation {
    id: String,
    event: Value,
    deadline_ms: u128,
}

#[derive(Default)]
struct Shared {
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    first_next: Option<Instant>,
    init_error: Option<String>,
}

pub struct RuntimeApi {
    server: Server,
    queue: mpsc::UnboundedSender<Invocation>,
    shared: Arc<Mutex<Shared>>,
    counter: Mutex<u64>,
}

async fn route(
    req: HttpRequest,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    shared: Arc<Mutex<Shared>>,
) -> HttpResponse {
    let path = req.path.trim_start_matches("/2018-06-01/runtime/");
    if req.method == "GET" && path == "invocation/next" {
        shared
            .lock()
            .unwrap()
            .first_next
            .get_or_insert_with(Instant::now);
        let Some(inv) = rx.lock().await.recv().await else {
            return HttpResponse::status(500);
        };
        return HttpResponse::ok(inv.event.to_string())
            .header("lambda-runtime-aws-request-id", inv.id)
            .header("lambda-runtime-deadline-ms", inv.deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:local",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .header("content-type", "application/json");
    }
    if req.method == "POST" && path == "init/error" {
        shared.lock().unwrap().init_error = Some(String::from_utf8_lossy(&req.body).into_owned());
        return HttpResponse::status(202);
    }
    if let Some(rest) = path.strip_prefix("invocation/") {
        let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let outcome = match kind {
            "response" => Ok(body),
            "error" => Err(body),
            _ => return HttpResponse::status(404),
        };
        if let Some(tx) = shared.lock().unwrap().waiting.remove(id) {
            let _ = tx.send(outcome);
        }
        return HttpResponse::status(202);
    }
    HttpResponse::status(404)
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        let server = Server::start(move |req| route(req, rx.clone(), s.clone()))
            .await
            .expect("bind a loopback port");
        RuntimeApi {
            server,
            queue,
            shared,
            counter: Mutex::new(0),
        }
    }

    /// The value of AWS_LAMBDA_RUNTIME_API for the function.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// When the function first asked for an event (its init is done by then).
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().unwrap().first_next
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared.lock().unwrap().init_error.clone()
    }

    /// Queues one event and waits for the function's answer, within `timeout`.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Option<Outcome> {
        let id = {
            let mut n = self.counter.lock().unwrap();
            *n += 1;
            format!("00000000-0000-4000-8000-{:012}", *n)
        };
        let (tx, rx) = oneshot::channel();
        self.shared.lock().unwrap().waiting.insert(id.clone(), tx);
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        self.queue
            .send(Invocation {
                id,
                event,
                deadline_ms,
            })
            .ok()?;
        tokio::time::timeout(timeout + Duration::from_secs(5), rx)
            .await
            .ok()?
            .ok()
    }
}

/// `program` with nothing of this process's environment but PATH, and what Lambda's
/// environment gives every function: the Runtime API's address, the function's name, memory,
/// version and log names. The caller adds the function's own variables.
pub fn lambda_command(program: &Path, name: &str, runtime: &RuntimeApi) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local");
    command
}

/// A function process served by a [`RuntimeApi`].
pub struct LambdaProcess {
    pub child: Child,
    pub started: Instant,
    pub runtime: RuntimeApi,
}

/// The lines a function wrote to stdout (its log lines, its EMF documents), kept as they come.
#[derive(Clone, Default)]
pub struct Stdout(Arc<Mutex<Vec<String>>>);

impl Stdout {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl LambdaProcess {
    /// Starts `binary` as Lambda would, with `env` added (AWS settings, function settings, the
    /// log variables of its `LoggingConfig`: `stack::lambda_log_env`); its stdout is this one's.
    /// `FUNCTION_LOG`, when set, replaces the level: RUST_LOG directives, `info,aws_smithy_runtime=debug`.
    pub async fn start(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
    ) -> std::io::Result<LambdaProcess> {
        Ok(Self::spawn(binary, name, env, false).await?.0)
    }

    /// [`start`](Self::start), its stdout kept instead of shown.
    pub async fn start_capturing(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
    ) -> std::io::Result<(LambdaProcess, Stdout)> {
        Self::spawn(binary, name, env, true).await
    }

    async fn spawn(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        capture: bool,
    ) -> std::io::Result<(LambdaProcess, Stdout)> {
        use tokio::io::AsyncBufReadExt;
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let mut command = lambda_command(binary, name, &runtime);
        command
            // Without AWS_LAMBDA_LOG_LEVEL in `env` (a function started without its template).
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true);
        if let Ok(directives) = std::env::var("FUNCTION_LOG") {
            command
                .env_remove("AWS_LAMBDA_LOG_LEVEL")
                .env("RUST_LOG", directives);
        }
        let mut child = command.spawn()?;
        let stdout = Stdout::default();
        if let Some(out) = child.stdout.take() {
            let mut lines = tokio::io::BufReader::new(out).lines();
            let sink = stdout.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.0.lock().unwrap().push(line);
                }
            });
        }
        let process = LambdaProcess {
            child,
            started,
            runtime,
        };
        Ok((process, stdout))
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
