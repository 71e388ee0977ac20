//! The only places where the SQL dialects differ: placeholders and how a write
//! transaction begins. Statements are written once with `?` and rewritten for
//! PostgreSQL when the store is built, not per call.

/// A database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL, MariaDB or TiDB.
    MySql,
}

impl Backend {
    /// A short name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// Picks the backend from a database URL.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            _ => None,
        }
    }

    /// Rewrites `?` placeholders to this backend's form (`$1, $2, ...` on PostgreSQL).
    /// Statements in this crate contain no `?` inside string literals.
    pub fn placeholders(self, sql: &str) -> String {
        if self != Backend::Postgres {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            Backend::Postgres.placeholders("a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(Backend::MySql.placeholders("a = ?"), "a = ?");
        assert_eq!(Backend::from_url("postgres://x"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://x"), Some(Backend::MySql));
        assert_eq!(Backend::from_url("sqlite:x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("redis://x"), None);
    }
}
