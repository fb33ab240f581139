//! docsession: a self-hosted document-session service speaking the Zoho Office Integrator session API.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod store;
mod telemetry;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::api::AppState;
use crate::config::Settings;
use crate::domain::ids::{hash_api_key, new_instance_id};
use crate::store::Store;

/// A bound, ready-to-run docsession: migrations done, port bound (port 0 picks a free one).
pub struct Application {
    server: Server,
    address: SocketAddr,
    base_url: String,
    store: Arc<dyn Store>,
    settings: Settings,
    instance_id: String,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = store::connect(&settings).await?;
        if let Some(key) = &settings.dev_apikey {
            store
                .ensure_api_key(
                    "dev",
                    &hash_api_key(key),
                    &key_prefix(key),
                    domain::time::now_ms(),
                )
                .await
                .context("cannot create the development API key")?;
        }
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let fetcher = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .context("cannot build the HTTP client")?;
        let save_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        let state = web::Data::new(AppState {
            store: store.clone(),
            base_url: base_url.clone(),
            session_ttl: settings.session_ttl,
            max_upload: settings.max_upload,
            fetcher,
            save_client,
            frame_ancestors: settings.frame_ancestors.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<telemetry::RequestSpan>::new())
                .app_data(state.clone())
                .configure(api::configure)
        })
        .listen(listener)?
        .run();
        Ok(Application {
            server,
            address,
            base_url,
            store,
            settings,
            instance_id: new_instance_id(),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// This instance's name as the owner of cluster-wide leases.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Serves, with the purge job beside it unless it is off, until the server stops (SIGINT or SIGTERM:
    /// graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some(interval) = self.settings.purge_interval else {
            return self.server.await;
        };
        let purge = jobs::purge::run_every(self.store.clone(), interval, self.instance_id);
        tokio::select! {
            result = self.server => result,
            () = purge => Ok(()),
        }
    }
}

/// Enough of a key to recognise it in `keys list`; never enough to use it.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(8).collect()
}
