//! The HTTP surface: one module per surface, each with `configure`.

mod callback;
mod content;
pub mod form;
mod open;
mod pages;
mod plan;
mod render;
mod save;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest};

use crate::domain::ids::hash_api_key;
use crate::domain::Editor;
use crate::error::{ApiError, ErrorKind};
use crate::store::{ApiKey, Store};

pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Base of every URL we return, without a trailing slash.
    pub base_url: String,
    pub session_ttl: Duration,
    pub max_upload: usize,
    pub fetcher: reqwest::Client,
    /// Posts saves to the hosts: no redirects (a multipart body cannot follow one), a timeout per save.
    pub save_client: reqwest::Client,
    /// The CSP `frame-ancestors` sources of the session pages.
    pub frame_ancestors: String,
}

pub type State = web::Data<AppState>;

/// Looks up the caller's API key: from the query string, or from a form field (raw-HTTP clients).
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    form_apikey: Option<&str>,
    editor: Editor,
) -> Result<ApiKey, ApiError> {
    let invalid = || ApiError::new(ErrorKind::InvalidApiKey, editor).parameter("apikey");
    let apikey = form::query_apikey(req)
        .or_else(|| form_apikey.map(str::to_string))
        .ok_or_else(invalid)?;
    state
        .store
        .find_api_key(&hash_api_key(&apikey))
        .await
        .map_err(|err| ApiError::internal(editor, err))?
        .ok_or_else(invalid)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    open::configure(cfg);
    sessions::configure(cfg);
    pages::configure(cfg);
    content::configure(cfg);
    save::configure(cfg);
    plan::configure(cfg);
}
