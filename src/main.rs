use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use docsession::config::Settings;
use docsession::domain::ids::{hash_api_key, new_api_key};
use docsession::domain::time::{day_from_iso, iso, now_ms};
use docsession::jobs::purge::purge_expired;
use docsession::store::{self, UsageFilter, UsagePeriod, UsageRow};
use docsession::{key_prefix, Application};

/// A self-hosted document-session service speaking the Zoho Office Integrator session API.
/// Settings come from DOCSESSION_* environment variables and a .env file.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve the API with the scheduled purge (the default).
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Delete expired sessions and documents now, and print what was removed.
    Purge,
    /// Copy a SQLite deployment (keys, documents with content, sessions and saves, usage) into an empty
    /// PostgreSQL database, keeping every id. Stop the server first.
    MigrateData {
        /// The SQLite database: `sqlite://PATH` or a path.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: `postgres://…`; created tables must be empty.
        #[arg(long)]
        to: String,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Report opens (API calls) per key per day or month.
    Usage {
        #[arg(long, value_enum, default_value = "month")]
        by: Period,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
        /// Only this key (its id from `keys list`).
        #[arg(long)]
        key: Option<i64>,
        /// Only opens from this UTC day on (YYYY-MM-DD).
        #[arg(long, value_parser = parse_since)]
        since: Option<i64>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// Opens allowed per calendar month (10% grace on top); unlimited when absent.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// List keys (id, name, prefix, limit, created, state).
    List,
    /// Revoke a key, given its id from `keys list` or the key itself.
    Revoke { key: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum Period {
    Day,
    Month,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dotenvy::dotenv().ok();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let default_level = if matches!(command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::from_env()?;

    match command {
        Command::Serve => {
            tracing::info!(?settings, "starting");
            let app = Application::build(settings).await?;
            tracing::info!(
                address = %app.address(),
                base_url = app.base_url(),
                instance = app.instance_id(),
                "serving"
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            store::connect(&settings).await?;
            println!("The database schema is up to date.");
        }
        Command::MigrateData { from, to } => {
            if store::is_postgres_url(&from) || !store::is_postgres_url(&to) {
                bail!(
                    "migrate-data copies a SQLite database (--from) into a PostgreSQL one (--to)"
                );
            }
            let report = store::sqlite_to_postgres(&from, &to).await?;
            println!(
                "Copied {} API keys, {} documents ({} content parts), {} sessions ({} saves) and {} usage rows.",
                report.api_keys,
                report.documents,
                report.contents,
                report.sessions,
                report.saves,
                report.usage_events
            );
        }
        Command::Purge => {
            let store = store::connect(&settings).await?;
            let report = purge_expired(store.as_ref()).await?;
            println!(
                "Removed {} expired sessions and {} expired documents.",
                report.sessions, report.documents
            );
        }
        Command::Keys(KeysCommand::Create { name, limit }) => {
            let store = store::connect(&settings).await?;
            let key = new_api_key();
            let record = store
                .insert_api_key(
                    &name,
                    &hash_api_key(&key),
                    &key_prefix(&key),
                    limit.map(i64::from),
                    now_ms(),
                )
                .await?;
            eprintln!(
                "Created API key {} ({name}). It is shown only this once:",
                record.id
            );
            println!("{key}");
        }
        Command::Keys(KeysCommand::List) => {
            let store = store::connect(&settings).await?;
            println!(
                "{:>4}  {:<20}  {:<8}  {:>8}  {:<20}  state",
                "id", "name", "prefix", "limit", "created"
            );
            for key in store.list_api_keys().await? {
                let limit = key
                    .usage_limit
                    .map_or("none".to_string(), |limit| limit.to_string());
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:>4}  {:<20}  {:<8}  {:>8}  {:<20}  {state}",
                    key.id,
                    key.name,
                    key.prefix,
                    limit,
                    iso(key.created_at)
                );
            }
        }
        Command::Keys(KeysCommand::Revoke { key }) => {
            let store = store::connect(&settings).await?;
            let revoked = store
                .revoke_api_key(key.parse().ok(), &hash_api_key(&key), now_ms())
                .await?;
            if !revoked {
                bail!("no active key matches {key:?}");
            }
            println!("Revoked.");
        }
        Command::Usage {
            by,
            format,
            key,
            since,
        } => {
            let store = store::connect(&settings).await?;
            let period = match by {
                Period::Day => UsagePeriod::Day,
                Period::Month => UsagePeriod::Month,
            };
            let filter = UsageFilter {
                api_key_id: key,
                since_day: since.unwrap_or(0),
            };
            let rows = store.usage_report(period, &filter).await?;
            print!(
                "{}",
                render_usage(&rows, format).context("cannot render the usage report")?
            );
        }
    }
    Ok(())
}

fn parse_since(text: &str) -> Result<i64, String> {
    day_from_iso(text).ok_or_else(|| format!("{text:?} is not a day such as 2026-11-01"))
}

fn render_usage(rows: &[UsageRow], format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => {
            let mut out = format!(
                "{:<10}  {:<20}  {:<8}  {:>8}\n",
                "period", "key", "prefix", "opens"
            );
            for row in rows {
                out += &format!(
                    "{:<10}  {:<20}  {:<8}  {:>8}\n",
                    row.period, row.key_name, row.key_prefix, row.opens
                );
            }
            out
        }
        OutputFormat::Csv => {
            let mut out = String::from("period,key,prefix,opens\n");
            for row in rows {
                out += &format!(
                    "{},{},{},{}\n",
                    row.period,
                    csv_field(&row.key_name),
                    row.key_prefix,
                    row.opens
                );
            }
            out
        }
        OutputFormat::Json => {
            let rows: Vec<_> = rows
                .iter()
                .map(|row| {
                    serde_json::json!({"period": row.period, "key": row.key_name, "prefix": row.key_prefix, "opens": row.opens})
                })
                .collect();
            serde_json::to_string_pretty(&rows)? + "\n"
        }
    })
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}
