//! The save callback to the host (reference §11) as plain data: what to send, where, how often.

use std::time::Duration;

use serde_json::Value;

use super::params::Object;
use super::Format;

/// Used when `callback_settings.timeout` is absent.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Used when `callback_settings.retries` is absent: a failed save is reported at once, and the edit stays
/// stored, so the user or the host can simply save again.
const DEFAULT_RETRIES: u32 = 0;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// A session's `callback_settings`, once it names a `save_url`.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    pub url: String,
    pub method: Method,
    pub retries: u32,
    pub timeout: Duration,
    /// `save_url_params`, values as text, placeholders not yet filled in.
    pub params: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The format the host asked for. We do not convert: the stored bytes go out in their own format.
    pub save_format: Option<String>,
}

impl Callback {
    /// `None` when there is no `save_url`. The settings were checked when the session was opened.
    pub fn from_settings(settings: Option<&Object>) -> Option<Callback> {
        let settings = settings?;
        let url = settings.get("save_url")?.as_str()?.to_string();
        let method = match settings.get("http_method_type").and_then(Value::as_str) {
            Some(method) if method.eq_ignore_ascii_case("put") => Method::Put,
            _ => Method::Post,
        };
        let retries = settings
            .get("retries")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_RETRIES, |retries| retries.min(10) as u32);
        let timeout = settings
            .get("timeout")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        let pairs = |key: &str| -> Vec<(String, String)> {
            settings
                .get(key)
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .map(|(name, value)| {
                            let text = match value {
                                Value::String(text) => text.clone(),
                                other => other.to_string(),
                            };
                            (name.clone(), text)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(Callback {
            url,
            method,
            retries,
            timeout,
            params: pairs("save_url_params"),
            headers: pairs("save_url_headers"),
            save_format: settings
                .get("save_format")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// How long to wait before retry number `retry` (1-based): doubling from half a second, at most 8 s.
    pub fn backoff(retry: u32) -> Duration {
        FIRST_BACKOFF
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(MAX_BACKOFF)
    }
}

/// What the callback sends as the file and what its placeholders stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveFile {
    /// `$filename`: the document name.
    pub name: String,
    /// `$format`: the stored format. We do not convert, so `save_format` never changes it.
    pub format: Format,
    /// `$session_id`.
    pub session_id: String,
}

impl SaveFile {
    /// The file name of the `content` part.
    pub fn file_name(&self) -> String {
        file_name(&self.name, self.format)
    }

    /// Replaces `$format`, `$filename` and `$session_id` in one pass, so a value that itself contains a
    /// placeholder name is never replaced again.
    pub fn fill(&self, template: &str) -> String {
        let placeholders = [
            ("$format", self.format.extension()),
            ("$filename", self.name.as_str()),
            ("$session_id", self.session_id.as_str()),
        ];
        let mut filled = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            filled.push_str(&rest[..at]);
            rest = &rest[at..];
            match placeholders.iter().find(|(name, _)| rest.starts_with(name)) {
                Some((name, value)) => {
                    filled.push_str(value);
                    rest = &rest[name.len()..];
                }
                None => {
                    filled.push('$');
                    rest = &rest[1..];
                }
            }
        }
        filled.push_str(rest);
        filled
    }
}

/// A document name with the format's extension, unless it already ends with it.
pub fn file_name(name: &str, format: Format) -> String {
    let extension = format.extension();
    let has_extension = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case(extension));
    if has_extension {
        name.to_string()
    } else {
        format!("{name}.{extension}")
    }
}

/// How a save to the host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// The host answered, with a status other than 2xx.
    Refused,
    /// The host could not be reached, or did not answer within the timeout.
    Unreachable,
}

impl SaveOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SaveOutcome::Saved => "saved",
            SaveOutcome::Refused => "refused",
            SaveOutcome::Unreachable => "unreachable",
        }
    }

    pub fn parse(value: &str) -> Option<SaveOutcome> {
        [
            SaveOutcome::Saved,
            SaveOutcome::Refused,
            SaveOutcome::Unreachable,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn no_save_url_means_no_callback() {
        assert_eq!(Callback::from_settings(None), None);
        assert_eq!(
            Callback::from_settings(Some(&settings(json!({"retries": 2})))),
            None
        );
    }

    #[test]
    fn settings_become_a_callback_with_defaults() {
        let callback = Callback::from_settings(Some(&settings(json!({
            "save_url": "https://host/save", "http_method_type": "PUT", "retries": 2, "timeout": 1500,
            "save_url_params": {"id": 123, "ext": "$format", "flag": true}, "save_url_headers": {"x-token": "t"}
        }))))
        .unwrap();
        assert_eq!(callback.method, Method::Put);
        assert_eq!(callback.retries, 2);
        assert_eq!(callback.timeout, Duration::from_millis(1500));
        assert!(callback.params.contains(&("id".into(), "123".into())));
        assert!(callback.params.contains(&("flag".into(), "true".into())));
        assert_eq!(callback.headers, vec![("x-token".into(), "t".into())]);
        assert_eq!(callback.save_format, None);
        let plain =
            Callback::from_settings(Some(&settings(json!({"save_url": "http://h/s"})))).unwrap();
        assert_eq!(
            (plain.method, plain.retries, plain.timeout),
            (Method::Post, DEFAULT_RETRIES, DEFAULT_TIMEOUT)
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(Callback::backoff(1), Duration::from_millis(500));
        assert_eq!(Callback::backoff(2), Duration::from_secs(1));
        assert_eq!(Callback::backoff(5), MAX_BACKOFF);
        assert_eq!(Callback::backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn placeholders_are_filled_once() {
        let file = SaveFile {
            name: "Plan $format".into(),
            format: Format::Txt,
            session_id: "abc".into(),
        };
        assert_eq!(
            file.fill("$filename.$format by $session_id costs $5"),
            "Plan $format.txt by abc costs $5"
        );
        assert_eq!(file.file_name(), "Plan $format.txt");
        let named = SaveFile {
            name: "notes.TXT".into(),
            ..file
        };
        assert_eq!(named.file_name(), "notes.TXT");
    }

    #[test]
    fn outcomes_round_trip() {
        for outcome in [
            SaveOutcome::Saved,
            SaveOutcome::Refused,
            SaveOutcome::Unreachable,
        ] {
            assert_eq!(SaveOutcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
