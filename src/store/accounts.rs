//! The web console's accounts (SPEC §10): people with a role (and, for a department's clerk, a
//! unit), their Argon2id password hashes, their sessions, and the failed sign-ins that throttle
//! guessing. In the store, so that sessions survive a restart and work across replicas.
//! Implemented once for both backends in `accounts_sql.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreResult;

/// What an account may do (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Operations: sources, quarantine, the outbox, users; reads every unit.
    Admin,
    /// The liaison office: reads and writes everything of every unit, waives findings.
    Liaison,
    /// The procuratorate: reads every unit; records recommendations and opinions.
    Procuratorate,
    /// The justice bureau: reads every unit; draws samples and records reviews.
    Justice,
    /// A department's clerk: its own unit only; replies to what is addressed to it.
    Unit,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Liaison,
        Role::Procuratorate,
        Role::Justice,
        Role::Unit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Liaison => "liaison",
            Role::Procuratorate => "procuratorate",
            Role::Justice => "justice",
            Role::Unit => "unit",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The role's name as the console shows it.
    pub fn zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::Liaison => "府检联动办公室",
            Role::Procuratorate => "检察院",
            Role::Justice => "司法局",
            Role::Unit => "执法单位",
        }
    }
}

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub login: String,
    pub role: Role,
    /// The unit of a `unit` account; `None` for the others.
    pub unit_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A signed-in session, found by the hash of its cookie's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// The token every form of this session carries back (CSRF).
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait Accounts: Send + Sync {
    /// Adds an account; `false` when the login is taken.
    async fn add_user(&self, user: &User, password_hash: &str) -> StoreResult<bool>;
    /// Every account, by login.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// An account and its password hash.
    async fn user_with_hash(&self, login: &str) -> StoreResult<Option<(User, String)>>;
    /// Sets a new password hash and ends the account's sessions; `false` when there is no such
    /// account.
    async fn set_password(&self, login: &str, hash: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Disables an account and ends its sessions; `false` when there is no such account.
    async fn disable_user(&self, login: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Opens a session for `login`, stored by the hash of its token.
    async fn open_session(
        &self,
        token_hash: &str,
        login: &str,
        csrf: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The session of a token's hash, if it has not expired at `now` and its account is enabled.
    async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<Session>>;
    /// Ends a session (signing out).
    async fn close_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Records a failed sign-in for `login` from `address`, and forgets failures and sessions
    /// older than a day.
    async fn sign_in_failed(
        &self,
        login: &str,
        address: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Failed sign-ins since `since`: (for this login, from this address).
    async fn sign_in_failures(
        &self,
        login: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)>;
}
