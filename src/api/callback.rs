//! Sends a document to the host's save URL (reference §11): multipart, the file in the field `content`,
//! `save_url_params` as form fields, `save_url_headers` as headers, retried with backoff.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use crate::domain::callback::{Callback, Method, SaveFile, SaveOutcome};

/// Tries once, then once per retry while the failure may pass (no answer, 5xx, 408, 429): exactly
/// `retries + 1` attempts at most, with a growing pause between them.
pub async fn send(
    client: &reqwest::Client,
    callback: &Callback,
    file: &SaveFile,
    bytes: &[u8],
) -> SaveOutcome {
    let mut retry = 0;
    loop {
        let (outcome, transient) = attempt(client, callback, file, bytes).await;
        if outcome == SaveOutcome::Saved || !transient || retry == callback.retries {
            return outcome;
        }
        retry += 1;
        tokio::time::sleep(Callback::backoff(retry)).await;
    }
}

/// One request; returns the outcome and whether trying again may help.
async fn attempt(
    client: &reqwest::Client,
    callback: &Callback,
    file: &SaveFile,
    bytes: &[u8],
) -> (SaveOutcome, bool) {
    let url = callback.url.as_str();
    let part = Part::bytes(bytes.to_vec())
        .file_name(file.file_name())
        .mime_str(file.format.mime());
    let part = match part {
        Ok(part) => part,
        Err(err) => {
            tracing::error!(error = %err, "a stored format has an invalid mime type");
            return (SaveOutcome::Unreachable, false);
        }
    };
    let form = callback
        .params
        .iter()
        .fold(Form::new(), |form, (name, value)| {
            form.text(name.clone(), file.fill(value))
        })
        .part("content", part);
    let mut request = match callback.method {
        Method::Post => client.post(url),
        Method::Put => client.put(url),
    }
    .timeout(callback.timeout);
    for (name, value) in &callback.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => request = request.header(name, value),
            _ => {
                tracing::info!(%url, header = %name, "save_url_headers holds a header that cannot be sent");
                return (SaveOutcome::Unreachable, false);
            }
        }
    }
    match request.multipart(form).send().await {
        Ok(response) if response.status().is_success() => (SaveOutcome::Saved, false),
        Ok(response) => {
            let status = response.status();
            tracing::info!(%url, %status, "the host refused a save");
            let transient = status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS;
            (SaveOutcome::Refused, transient)
        }
        Err(err) => {
            tracing::info!(%url, error = %err, "posting a save to the host failed");
            (SaveOutcome::Unreachable, true)
        }
    }
}
