//! refinery migrations run through a sqlx connection.
//!
//! refinery has no sqlx driver, and its rusqlite driver would link a second SQLite, so this adapts
//! refinery-core's async traits to each sqlx connection type.

use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use refinery_core::Migration;
use sqlx::{Connection, Executor, PgConnection, Row, SqliteConnection};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn decode_error(cause: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(cause))
}

macro_rules! migration_connection {
    ($name:ident, $connection:ty) => {
        pub struct $name<'c>(pub &'c mut $connection);

        impl AsyncTransaction for $name<'_> {
            type Error = sqlx::Error;

            async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
                &'a mut self,
                queries: T,
            ) -> Result<usize, Self::Error> {
                let mut transaction = self.0.begin().await?;
                let mut count = 0;
                for query in queries {
                    transaction.execute(sqlx::raw_sql(query)).await?;
                    count += 1;
                }
                transaction.commit().await?;
                Ok(count)
            }
        }

        impl AsyncQuery<Vec<Migration>> for $name<'_> {
            async fn query<'a>(
                &'a mut self,
                query: &'a str,
            ) -> Result<Vec<Migration>, Self::Error> {
                let rows = sqlx::query(query).fetch_all(&mut *self.0).await?;
                rows.iter()
                    .map(|row| {
                        let applied_on: String = row.try_get(2)?;
                        let checksum: String = row.try_get(3)?;
                        Ok(Migration::applied(
                            row.try_get(0)?,
                            row.try_get(1)?,
                            OffsetDateTime::parse(&applied_on, &Rfc3339).map_err(decode_error)?,
                            checksum.parse().map_err(decode_error)?,
                        ))
                    })
                    .collect()
            }
        }

        impl AsyncMigrate for $name<'_> {}
    };
}

migration_connection!(SqliteMigrations, SqliteConnection);
migration_connection!(PgMigrations, PgConnection);
