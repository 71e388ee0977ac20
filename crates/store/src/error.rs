//! Store errors. Callers match on the variant, never on database messages.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (e.g. a business line name in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back as a domain value (a bug or tampering).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The caller passed a record the store refuses to write (a bug in the caller, e.g. a
    /// business refund without its business refund number); nothing was written.
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// The configuration (URL, path) is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing a statement).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }

    /// Whether the error is a transient concurrency failure worth retrying the whole
    /// transaction for (deadlock, serialization failure, SQLite busy).
    pub fn is_retryable(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        matches!(
            db.code().as_deref(),
            // PostgreSQL serialization failure / deadlock
            Some("40001") | Some("40P01")
            // MySQL/MariaDB deadlock / lock wait timeout (SQLSTATE from the driver)
            | Some("1213") | Some("1205")
            // SQLite busy / locked (extended codes included)
            | Some("5") | Some("6") | Some("517") | Some("261")
        )
    }
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a sqlx error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with the message
/// `message` builds; any other error stays a [`StoreError::Database`].
pub(crate) trait ConflictOnUnique<T> {
    /// `Err(Conflict(message()))` on a unique violation, otherwise `self` converted.
    fn conflict_on_unique(self, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ConflictOnUnique<T> for std::result::Result<T, sqlx::Error> {
    fn conflict_on_unique(self, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(message())
            } else {
                e.into()
            }
        })
    }
}
