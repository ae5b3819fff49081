//! What the PostgreSQL idempotency store and the outbox share: connecting, and table names.

/// Connects with a libpq-style `config` (`host=127.0.0.1 user=postgres dbname=test`) and
/// drives the connection on a task of its own; `what` names it in the log line when it ends.
pub(crate) async fn connect(
    config: &str,
    what: &'static str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "{what} connection to PostgreSQL ended");
        }
    });
    Ok(client)
}

/// `name` when it is a plain SQL identifier (letters, digits and `_`, not starting with a
/// digit, at most 63 bytes), which is safe to write into a statement unquoted.
pub(crate) fn identifier(name: &str) -> Result<&str, String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "`{name}` is not a plain SQL identifier (letters, digits and _, at most 63 bytes)"
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_plain() {
        assert!(super::identifier("schemactl_outbox").is_ok());
        assert!(super::identifier("_t1").is_ok());
        for bad in ["1t", "t; DROP TABLE x", "t-1", "", &"t".repeat(64)] {
            assert!(super::identifier(bad).is_err(), "{bad}");
        }
    }
}
