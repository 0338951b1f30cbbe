//! The HTTP proxy in front of moto: each call is named, recorded, possibly faulted, checked
//! by the strict rules, then forwarded. It runs on a runtime of its own (a thread), so that it
//! outlives every test's runtime in the process, like moto itself.

use super::errors::{self, Answer};
use super::faults::{FaultKind, Faults};
use super::request;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};

/// Dropping the connection without an answer (`FaultKind::LostResponse`).
#[derive(Debug, thiserror::Error)]
#[error("the strict layer dropped this response on purpose")]
pub struct Dropped;

pub struct State {
    pub backend: String,
    pub http: reqwest::Client,
    pub faults: Mutex<Faults>,
    pub rules: super::Rules,
}

const HOP_BY_HOP: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

/// Forwards the call to moto as it came.
pub async fn forward(
    state: &State,
    method: &hyper::Method,
    path: &str,
    headers: &hyper::HeaderMap,
    body: Bytes,
) -> Answer {
    let mut out = state
        .http
        .request(method.clone(), format!("{}{path}", state.backend));
    for (k, v) in headers {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out = out.header(k, v);
        }
    }
    match out.body(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Answer {
                status,
                headers,
                body,
            }
        }
        Err(e) => errors::error(
            request::Protocol::Json,
            502,
            "BadGateway",
            &format!("the strict layer could not reach moto: {e}"),
        ),
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let call = request::identify(
        &path,
        |name| parts.headers.get(name).and_then(|v| v.to_str().ok()),
        &body,
    );
    let action = call.action();
    let fault = state.faults.lock().unwrap().on_call(&action, &call.text);
    let answer = match fault {
        Some(FaultKind::Throttle) => errors::throttle(call.protocol),
        Some(FaultKind::ServerError) => errors::server_error(call.protocol),
        _ => match state.rules.before(&state, &call, &body).await {
            Some(refused) => refused,
            None => {
                let answer =
                    if call.protocol == request::Protocol::Cbor && call.service == "cloudwatch" {
                        let auth = parts
                            .headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok());
                        super::cbor::forward(&state, &call.operation, auth, &body).await
                    } else if call.action() == "application-autoscaling:DescribeScalingActivities" {
                        no_scaling_activities()
                    } else {
                        forward(&state, &parts.method, &path, &parts.headers, body.clone()).await
                    };
                state.rules.after(&state, &call, &body, answer).await
            }
        },
    };
    if fault == Some(FaultKind::LostResponse) {
        return Err(Dropped);
    }
    Ok(respond(answer))
}

/// moto 5.2 has no DescribeScalingActivities; nothing scales the service on the local AWS but
/// the functions, so Application Auto Scaling's own history is empty (authorized first, above).
fn no_scaling_activities() -> Answer {
    Answer {
        status: 200,
        headers: vec![("content-type".into(), "application/x-amz-json-1.1".into())],
        body: br#"{"ScalingActivities":[]}"#.to_vec(),
    }
}

fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        response = response.header(k, v);
    }
    response
        .body(Full::new(Bytes::from(answer.body)))
        .expect("a valid response")
}

/// Serves the proxy on a free loopback port from a thread of its own; returns its URL.
pub fn spawn(state: Arc<State>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the strict proxy");
    let url = format!("http://{}", listener.local_addr().expect("a local address"));
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::Builder::new()
        .name("strict-proxy".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("strict-proxy")
                .enable_all()
                .build()
                .expect("the strict proxy's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                while let Ok((stream, _)) = listener.accept().await {
                    let state = state.clone();
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |req| handle(state.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })
        .expect("start the strict proxy's thread");
    url
}
