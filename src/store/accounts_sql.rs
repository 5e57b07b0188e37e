//! The accounts' statements of both backends (see `store/accounts.rs`), written once like
//! `shared.rs` (see there).

use super::*;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::accounts::{Accounts, Role, Session, User};
use crate::store::outbox::{from_millis, to_millis};

const USER_COLUMNS: &str = "u.login, u.role, u.unit_id, u.created_at, u.changed_at, u.disabled_at";

fn user_of(r: &<Db as sqlx::Database>::Row) -> StoreResult<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        login: r.try_get("login")?,
        role: Role::parse(&role).ok_or_else(|| {
            crate::store::StoreError::Config(format!("the store holds an unknown role {role:?}"))
        })?,
        unit_id: r.try_get("unit_id")?,
        created_at: from_millis(r.try_get("created_at")?),
        changed_at: from_millis(r.try_get("changed_at")?),
        disabled_at: r.try_get::<Option<i64>, _>("disabled_at")?.map(from_millis),
    })
}

#[async_trait]
impl Accounts for Backend {
    async fn add_user(&self, user: &User, password_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO users (login, role, unit_id, password_hash, created_at, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (login) DO NOTHING",
        )
        .bind(user.login.clone())
        .bind(user.role.as_str())
        .bind(user.unit_id.clone())
        .bind(password_hash.to_string())
        .bind(to_millis(user.created_at))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.login"
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_of).collect()
    }

    async fn user_with_hash(&self, login: &str) -> StoreResult<Option<(User, String)>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.login = $1"
        )))
        .bind(login.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| Ok((user_of(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    async fn set_password(&self, login: &str, hash: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, changed_at = $2 WHERE login = $3")
                .bind(hash.to_string())
                .bind(to_millis(at))
                .bind(login.to_string())
                .execute(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM sessions WHERE login = $1")
            .bind(login.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_user(&self, login: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_at = coalesce(disabled_at, $1), changed_at = $1 WHERE login = $2",
        )
        .bind(to_millis(at))
        .bind(login.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE login = $1")
            .bind(login.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn open_session(
        &self,
        token_hash: &str,
        login: &str,
        csrf: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, login, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash.to_string())
        .bind(login.to_string())
        .bind(csrf.to_string())
        .bind(to_millis(at))
        .bind(to_millis(expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, s.csrf, s.expires_at FROM sessions s \
             JOIN users u ON u.login = s.login \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        )))
        .bind(token_hash.to_string())
        .bind(to_millis(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: user_of(&r)?,
                csrf: r.try_get("csrf")?,
                expires_at: from_millis(r.try_get("expires_at")?),
            })
        })
        .transpose()
    }

    async fn close_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn sign_in_failed(
        &self,
        login: &str,
        address: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let day_ago = to_millis(at - chrono::TimeDelta::days(1));
        sqlx::query("DELETE FROM sign_in_failures WHERE at < $1")
            .bind(day_ago)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(day_ago)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sign_in_failures (login, address, at) VALUES ($1, $2, $3)")
            .bind(login.to_string())
            .bind(address.to_string())
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in_failures(
        &self,
        login: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM sign_in_failures WHERE login = $1 AND at >= $3) AS by_login, \
             (SELECT count(*) FROM sign_in_failures WHERE address = $2 AND at >= $3) AS by_address",
        )
        .bind(login.to_string())
        .bind(address.to_string())
        .bind(to_millis(since))
        .fetch_one(&self.reader)
        .await?;
        Ok((row.try_get("by_login")?, row.try_get("by_address")?))
    }
}
