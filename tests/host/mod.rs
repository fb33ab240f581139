//! A host application's save endpoint for tests: a real HTTP server on 127.0.0.1:0 that records every
//! request (method, headers, form fields, files) and answers as scripted.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_multipart::Multipart;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::{StreamExt, TryStreamExt};

#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Waits before answering; the request is recorded on arrival.
    Slow(Duration, u16),
}

#[derive(Debug, Clone)]
pub struct RecordedFile {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub fields: HashMap<String, String>,
    pub files: HashMap<String, RecordedFile>,
}

impl Recorded {
    pub fn content(&self) -> &RecordedFile {
        self.files
            .get("content")
            .expect("the save carries the file in the field content")
    }
}

struct Script {
    replies: VecDeque<Reply>,
    then: Reply,
    requests: Vec<Recorded>,
}

pub struct Host {
    /// The save URL to put in `callback_settings.save_url`.
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl Host {
    /// Answers with `replies` in turn, then with `then` for ever.
    pub async fn start(replies: Vec<Reply>, then: Reply) -> Host {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            then,
            requests: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the host");
        let url = format!("http://{}/save", listener.local_addr().unwrap());
        let data = web::Data::new(script.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Host { url, script }
    }

    /// A host that answers every request with `status`.
    pub async fn always(status: u16) -> Host {
        Host::start(Vec::new(), Reply::Status(status)).await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().unwrap().requests.clone()
    }

    /// Waits (bounded) until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Recorded> {
        for _ in 0..200 {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the host received {} requests, expected {count}",
            self.requests().len()
        );
    }
}

async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    script: web::Data<Arc<Mutex<Script>>>,
) -> HttpResponse {
    let mut recorded = Recorded {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        ..Recorded::default()
    };
    let mut multipart = Multipart::new(req.headers(), payload);
    while let Ok(Some(mut field)) = multipart.try_next().await {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let content_type = field.content_type().map(|mime| mime.to_string());
        let mut bytes = Vec::new();
        while let Some(Ok(chunk)) = field.next().await {
            bytes.extend_from_slice(&chunk);
        }
        if filename.is_some() {
            recorded.files.insert(
                name,
                RecordedFile {
                    filename,
                    content_type,
                    bytes,
                },
            );
        } else {
            recorded
                .fields
                .insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let reply = {
        let mut script = script.lock().unwrap();
        script.requests.push(recorded);
        let then = script.then;
        script.replies.pop_front().unwrap_or(then)
    };
    let status = match reply {
        Reply::Status(status) => status,
        Reply::Slow(delay, status) => {
            tokio::time::sleep(delay).await;
            status
        }
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
