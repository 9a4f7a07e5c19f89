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

/// The default of `--db-acquire-timeout-secs`.
pub const DEFAULT_ACQUIRE_TIMEOUT_SECS: u64 = 5;
/// `/readyz` answers within this even when the database does not.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    pub sqlite_sync: SqliteSync,
    /// How long a request waits for a connection before it is answered 503: during an outage
    /// this is how long calls hang.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            sqlite_sync: SqliteSync::default(),
            acquire_timeout: Duration::from_secs(DEFAULT_ACQUIRE_TIMEOUT_SECS),
        }
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
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sync).await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // Statement journals (a multi-row insert's undo within its transaction)
                        // in memory rather than in temporary files: one write system call per
                        // page less for every batch the usage writer commits.
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
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

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads
    /// and then writes fails with SQLITE_BUSY_SNAPSHOT when the usage writer commits in
    /// between, and console changes read the row they change first (for the audit's old value).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        }
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        self.migrator().run(&self.pool).await.map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }

    /// Whether the database answers and every migration this build knows has been applied
    /// (`/readyz`); `Err` says what is wrong.
    pub async fn readiness(&self) -> Result<(), String> {
        let wanted = self.migrator().iter().filter(|m| m.migration_type.is_up_migration()).count() as i64;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool);
        let applied: i64 = tokio::time::timeout(READINESS_TIMEOUT, count)
            .await
            .map_err(|_| "database unreachable: no answer within 1 s".to_owned())?
            .map_err(|e| format!("database unreachable: {e}"))?;
        if applied < wanted {
            return Err(format!("{applied} of {wanted} migrations applied"));
        }
        Ok(())
    }
}

/// Whether an error means the database could not be reached or was too busy (an outage the
/// caller should retry: 503), rather than a statement that failed (a bug: 500).
pub fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| outage_code(&code)),
        _ => false,
    }
}

/// PostgreSQL's connection exceptions (class 08) and operator interventions such as a
/// shutdown (57P0x, e.g. 57P01 admin_shutdown); SQLite's BUSY and LOCKED codes (5, 6 and
/// their extended forms, such as 517 BUSY_SNAPSHOT) after the busy timeout.
fn outage_code(code: &str) -> bool {
    if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
        return true;
    }
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
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
    fn outages_are_connection_and_busy_codes() {
        for code in ["08006", "08001", "57P01", "57P03", "53300", "5", "6", "517", "261"] {
            assert!(outage_code(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "19", "1", "2067"] {
            assert!(!outage_code(code), "{code}");
        }
        assert!(is_outage(&sqlx::Error::PoolTimedOut));
        assert!(is_outage(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))));
        assert!(!is_outage(&sqlx::Error::RowNotFound));
    }

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
