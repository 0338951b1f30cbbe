use super::Response;
use std::sync::OnceLock;
use std::time::Duration;

/// The response could not be delivered after every attempt.
#[derive(Debug, thiserror::Error)]
#[error("could not deliver the response to CloudFormation after {attempts} attempts: {last_error}")]
pub struct SendError {
    pub attempts: u32,
    pub last_error: String,
}

/// PUTs responses to the presigned ResponseURL, a bounded number of times, each with a timeout.
#[derive(Debug, Clone)]
pub struct ResponseSender {
    pub attempts: u32,
    pub attempt_timeout: Duration,
    pub backoff: Duration,
}

impl Default for ResponseSender {
    fn default() -> Self {
        // Worst case about 3 × 10 s + 1 s + 2 s: the runner keeps that much of the deadline free.
        ResponseSender {
            attempts: 3,
            attempt_timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
        }
    }
}

/// The HTTPS client, built on first use: building it reads the trust store.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTPS client with default settings always builds")
    })
}

impl ResponseSender {
    /// The longest `send` can take.
    pub fn worst_case(&self) -> Duration {
        let backoffs: Duration = (1..self.attempts)
            .map(|i| self.backoff * 2u32.pow(i - 1))
            .sum();
        self.attempt_timeout * self.attempts + backoffs
    }

    pub async fn send(&self, url: &str, response: &Response) -> Result<(), SendError> {
        let body = response.to_body();
        let mut last_error = String::new();
        for attempt in 1..=self.attempts {
            // S3 checks the presigned signature against an EMPTY Content-Type.
            let result = client()
                .put(url)
                .header(reqwest::header::CONTENT_TYPE, "")
                .header(reqwest::header::CONTENT_LENGTH, body.len())
                .body(body.clone())
                .timeout(self.attempt_timeout)
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(
                        status = ?response.status,
                        physical_resource_id = %response.physical_resource_id,
                        reason = response.reason.as_deref().unwrap_or(""),
                        attempt,
                        "answered CloudFormation"
                    );
                    return Ok(());
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    last_error = format!(
                        "HTTP {status}: {}",
                        text.chars().take(300).collect::<String>()
                    );
                }
                Err(e) => last_error = format!("{e}"),
            }
            tracing::warn!(attempt, attempts = self.attempts, error = %last_error, "response PUT failed");
            if attempt < self.attempts {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
        }
        tracing::error!(error = %last_error, "gave up answering CloudFormation");
        Err(SendError {
            attempts: self.attempts,
            last_error,
        })
    }
}
