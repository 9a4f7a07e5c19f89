//! The database handle. Both backends go through sqlx's `Any` driver with the same SQL
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING` mean the same in SQLite and PostgreSQL);
//! what differs — migrations and SQLite's connection pragmas — is kept in this file.

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(format!("unsupported DATABASE_URL {url:?}: use sqlite://<file> or postgres://…"))
        }
    }
}

impl Backend {
    /// The backend behind a connection of the `Any` driver.
    pub fn of_connection(conn: &AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Self::Sqlite
        } else {
            Self::Postgres
        }
    }

    /// `(…), (…), …`: `rows` tuples of `width` placeholders for a multi-row statement.
    /// SQLite gets anonymous `?`: sqlx resolves every `$n` by name, and SQLite finds a name
    /// by scanning all of them, which makes a thousand-parameter batch quadratic.
    pub fn values_list(self, rows: usize, width: usize) -> String {
        let placeholder = |k: usize| match self {
            Self::Sqlite => "?".to_owned(),
            Self::Postgres => format!("${k}"),
        };
        (0..rows)
            .map(|r| format!("({})", (1..=width).map(|k| placeholder(r * width + k)).collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How SQLite syncs commits to disk (PRAGMA synchronous). In WAL mode `normal` survives an
/// application crash but may lose the last commits on power loss; `full` survives both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    Normal,
    #[default]
    Full,
}

impl FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            other => Err(format!("sqlite synchronous must be 'normal' or 'full', not {other:?}")),
        }
    }
}

/// A connection pool and the backend behind it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    pub sqlite_sync: SqliteSync,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 16, sqlite_sync: SqliteSync::default() }
    }
}

impl Db {
    /// Connects, creating an SQLite file if it does not exist, and runs the migrations.
    pub async fn connect(options: &DbOptions) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(&options.url).map_err(|m| sqlx::Error::Configuration(m.into()))?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating_file(&options.url),
            Backend::Postgres => options.url.clone(),
        };
        if backend == Backend::Sqlite {
            // WAL is a property of the file, set once; it lets readers run beside the writer.
            let mut conn = AnyConnection::connect(&url).await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }
        let sync = match options.sqlite_sync {
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
            SqliteSync::Full => "PRAGMA synchronous = FULL",
        };
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sync).await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let db = Self { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.pool).await.map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }
}

/// `sqlite://file.db` → `sqlite://file.db?mode=rwc`, unless a mode is already given.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_backends_and_adds_create_mode() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Ok(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/db"), Ok(Backend::Postgres));
        assert!(Backend::of_url("mysql://h").is_err());
        assert_eq!(sqlite_url_creating_file("sqlite://x.db"), "sqlite://x.db?mode=rwc");
        assert_eq!(sqlite_url_creating_file("sqlite://x.db?mode=ro"), "sqlite://x.db?mode=ro");
        assert_eq!(Backend::Postgres.values_list(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(Backend::Sqlite.values_list(2, 2), "(?, ?), (?, ?)");
    }
}
