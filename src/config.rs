//! Settings from the environment (and a `.env` file, loaded by the binary).

use std::fmt;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/docsession.sqlite";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_MAX_UPLOAD: usize = 100 * 1024 * 1024;
const DEFAULT_OPEN_BATCH: usize = 128;

/// How hard SQLite syncs on commit. `Normal` (WAL) survives a process crash; `Full` also survives power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen: String,
    /// Base of every URL we hand out; `None` means `http://` + the bound address.
    pub public_url: Option<String>,
    pub session_ttl: Duration,
    /// `None`: no scheduled purge in this process (`DOCSESSION_PURGE_INTERVAL=off`), for deployments that run
    /// `docsession purge` from a scheduler of their own.
    pub purge_interval: Option<Duration>,
    pub max_upload: usize,
    pub fetch_timeout: Duration,
    pub sqlite_synchronous: SqliteSynchronous,
    /// SQLite: the most opens committed in one transaction (group commit); 1 commits each open on its own.
    pub open_batch: usize,
    pub dev_apikey: Option<String>,
    /// Who may frame the session pages: the CSP `frame-ancestors` sources, space-separated.
    pub frame_ancestors: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            listen: DEFAULT_LISTEN.to_string(),
            public_url: None,
            session_ttl: Duration::from_secs(6 * 3600),
            purge_interval: Some(Duration::from_secs(6 * 3600)),
            max_upload: DEFAULT_MAX_UPLOAD,
            fetch_timeout: Duration::from_secs(30),
            sqlite_synchronous: SqliteSynchronous::Normal,
            open_batch: DEFAULT_OPEN_BATCH,
            dev_apikey: None,
            frame_ancestors: "*".to_string(),
        }
    }
}

impl Settings {
    /// Reads every `DOCSESSION_*` variable; unset ones keep their defaults.
    pub fn from_env() -> anyhow::Result<Settings> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let mut settings = Settings::default();
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(url) = var("DOCSESSION_DATABASE_URL") {
            settings.database_url = url;
        }
        if let Some(listen) = var("DOCSESSION_LISTEN") {
            settings.listen = listen;
        }
        settings.public_url =
            var("DOCSESSION_PUBLIC_URL").map(|url| url.trim_end_matches('/').to_string());
        if let Some(ttl) = var("DOCSESSION_SESSION_TTL") {
            settings.session_ttl = parse_duration("DOCSESSION_SESSION_TTL", &ttl)?;
        }
        if let Some(interval) = var("DOCSESSION_PURGE_INTERVAL") {
            settings.purge_interval = match interval.trim() {
                "off" => None,
                interval => Some(parse_duration("DOCSESSION_PURGE_INTERVAL", interval)?),
            };
        }
        if let Some(timeout) = var("DOCSESSION_FETCH_TIMEOUT") {
            settings.fetch_timeout = parse_duration("DOCSESSION_FETCH_TIMEOUT", &timeout)?;
        }
        if let Some(max) = var("DOCSESSION_MAX_UPLOAD") {
            settings.max_upload = max.trim().parse().with_context(|| {
                format!("DOCSESSION_MAX_UPLOAD must be a number of bytes, got {max:?}")
            })?;
        }
        if let Some(mode) = var("DOCSESSION_SQLITE_SYNCHRONOUS") {
            settings.sqlite_synchronous = match mode.trim().to_ascii_lowercase().as_str() {
                "normal" => SqliteSynchronous::Normal,
                "full" => SqliteSynchronous::Full,
                other => {
                    bail!("DOCSESSION_SQLITE_SYNCHRONOUS must be normal or full, got {other:?}")
                }
            };
        }
        if let Some(batch) = var("DOCSESSION_OPEN_BATCH") {
            settings.open_batch = match batch.trim().parse() {
                Ok(batch) if batch > 0 => batch,
                _ => bail!("DOCSESSION_OPEN_BATCH must be a whole number from 1 up, got {batch:?}"),
            };
        }
        settings.dev_apikey = var("DOCSESSION_DEV_APIKEY");
        if let Some(sources) = var("DOCSESSION_FRAME_ANCESTORS") {
            settings.frame_ancestors = parse_frame_ancestors(&sources)?;
        }
        Ok(settings)
    }
}

fn parse_duration(name: &str, value: &str) -> anyhow::Result<Duration> {
    let duration = humantime::parse_duration(value.trim()).map_err(|err| {
        anyhow!("{name} must be a duration such as 6h, 30m or 2s, got {value:?}: {err}")
    })?;
    if duration.is_zero() {
        bail!("{name} must be longer than zero");
    }
    Ok(duration)
}

/// CSP source expressions separated by spaces or commas. Each goes into a response header verbatim, so
/// anything that could end the directive or the header is refused.
fn parse_frame_ancestors(value: &str) -> anyhow::Result<String> {
    let sources: Vec<&str> = value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|source| !source.is_empty())
        .collect();
    let valid = |source: &&str| {
        source
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '"'))
    };
    if sources.is_empty() || !sources.iter().all(valid) {
        bail!(
            "DOCSESSION_FRAME_ANCESTORS must list CSP sources such as * or 'self' https://crm.example.com, got {value:?}"
        );
    }
    Ok(sources.join(" "))
}

/// Hides the password of a database URL (`postgres://user:secret@host/db`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("session_ttl", &self.session_ttl)
            .field("purge_interval", &self.purge_interval)
            .field("max_upload", &self.max_upload)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("open_batch", &self.open_batch)
            .field("dev_apikey", &self.dev_apikey.as_ref().map(|_| "***"))
            .field("frame_ancestors", &self.frame_ancestors)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert_eq!(s.session_ttl, Duration::from_secs(21600));
        assert_eq!(s.purge_interval, Some(Duration::from_secs(21600)));
        assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Normal);
        assert_eq!(s.open_batch, DEFAULT_OPEN_BATCH);
    }

    #[test]
    fn humantime_durations_and_modes_parse() {
        let s = settings(&[
            ("DOCSESSION_SESSION_TTL", "30m"),
            ("DOCSESSION_PURGE_INTERVAL", "2s"),
            ("DOCSESSION_SQLITE_SYNCHRONOUS", "FULL"),
            ("DOCSESSION_MAX_UPLOAD", "1024"),
            ("DOCSESSION_PUBLIC_URL", "https://oi.example.com/"),
            ("DOCSESSION_OPEN_BATCH", "1"),
        ])
        .unwrap();
        assert_eq!(s.open_batch, 1);
        assert_eq!(s.session_ttl, Duration::from_secs(1800));
        assert_eq!(s.purge_interval, Some(Duration::from_secs(2)));
        assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(s.max_upload, 1024);
        assert_eq!(s.public_url.as_deref(), Some("https://oi.example.com"));
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        let err = settings(&[("DOCSESSION_SESSION_TTL", "soon")]).unwrap_err();
        assert!(err.to_string().contains("DOCSESSION_SESSION_TTL"));
        assert!(settings(&[("DOCSESSION_SQLITE_SYNCHRONOUS", "off")]).is_err());
        assert!(settings(&[("DOCSESSION_SESSION_TTL", "0s")]).is_err());
        assert!(settings(&[("DOCSESSION_OPEN_BATCH", "0")]).is_err());
        assert!(settings(&[("DOCSESSION_PURGE_INTERVAL", "never")]).is_err());
        let no_purge = settings(&[("DOCSESSION_PURGE_INTERVAL", "off")]).unwrap();
        assert_eq!(no_purge.purge_interval, None);
    }

    #[test]
    fn frame_ancestors_default_to_any_and_take_a_list() {
        assert_eq!(settings(&[]).unwrap().frame_ancestors, "*");
        let s = settings(&[(
            "DOCSESSION_FRAME_ANCESTORS",
            " 'self', https://crm.example.com  https://*.example.org ",
        )])
        .unwrap();
        assert_eq!(
            s.frame_ancestors,
            "'self' https://crm.example.com https://*.example.org"
        );
        let err =
            settings(&[("DOCSESSION_FRAME_ANCESTORS", "https://a; script-src *")]).unwrap_err();
        assert!(err.to_string().contains("DOCSESSION_FRAME_ANCESTORS"));
        assert!(settings(&[("DOCSESSION_FRAME_ANCESTORS", "https://a\u{7f}")]).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            ("DOCSESSION_DATABASE_URL", "postgres://app:hunter2@db/docs"),
            ("DOCSESSION_DEV_APIKEY", "abcdef0123"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("abcdef0123"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db/docs"), "{shown}");
    }
}
