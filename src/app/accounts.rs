//! The web console's accounts: adding and changing them (`liandong user …`), signing in with
//! throttling, and sessions. Passwords are hashed with Argon2id (PHC strings) on a blocking
//! thread; a session's cookie carries a random token whose SHA-256 alone is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest as _, Sha256};

use super::App;
use crate::store::accounts::{Role, Session, User};

/// Failed sign-ins in the last minute after which a login is refused (the next try is the sixth).
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// The same for one address (guessing across many logins).
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A login: 1–64 of ASCII letters, digits and `.`, `_`, `-`, `@`.
pub fn check_login(login: &str) -> Result<(), String> {
    let ok = !login.is_empty()
        && login.len() <= 64
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a login is 1 to 64 ASCII letters, digits and . _ - @ (found {login:?})"
        ))
    }
}

/// A new password: at least [`MIN_PASSWORD_CHARS`] characters, not the login.
pub fn check_password(login: &str, password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.eq_ignore_ascii_case(login) {
        return Err("a password must not be the login".into());
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), on a blocking thread.
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    let password = password.to_string();
    let salt = crate::random::secret_bytes::<16>()
        .ok_or_else(|| anyhow::anyhow!("the kernel gave no random bytes for a salt"))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
    })
    .await?
}

/// Whether `password` matches the PHC string `hash` (false for a hash that does not parse).
async fn verify_password(password: &str, hash: String) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Adds an account; `unit` is required for the `unit` role (a configured unit's id) and refused
/// for the others.
pub async fn add_user(
    app: &App,
    login: &str,
    role: Role,
    unit: Option<&str>,
    password: &str,
) -> anyhow::Result<User> {
    check_login(login).map_err(anyhow::Error::msg)?;
    let unit_id = match (role, unit) {
        (Role::Unit, None) => anyhow::bail!("a unit account needs --unit UNIT_ID"),
        (Role::Unit, Some(u)) => {
            if !app.cfg.units.iter().any(|c| c.id == u) {
                let ids: Vec<&str> = app.cfg.units.iter().map(|c| c.id.as_str()).collect();
                anyhow::bail!("no unit has the id {u:?} (units: {})", ids.join(", "));
            }
            Some(u.to_string())
        }
        (_, Some(_)) => anyhow::bail!(
            "--unit is for unit accounts only; a {} account reads every unit",
            role.as_str()
        ),
        (_, None) => None,
    };
    check_password(login, password).map_err(anyhow::Error::msg)?;
    let hash = hash_password(password).await?;
    let at = app.clock.wall();
    let user = User {
        login: login.to_string(),
        role,
        unit_id,
        created_at: at,
        changed_at: at,
        disabled_at: None,
    };
    if !app.store.add_user(&user, &hash).await? {
        anyhow::bail!("the login {login:?} is taken");
    }
    Ok(user)
}

/// Sets a new password (and ends the account's sessions).
pub async fn set_password(app: &App, login: &str, password: &str) -> anyhow::Result<()> {
    check_password(login, password).map_err(anyhow::Error::msg)?;
    let hash = hash_password(password).await?;
    if !app
        .store
        .set_password(login, &hash, app.clock.wall())
        .await?
    {
        anyhow::bail!("no account has the login {login:?}");
    }
    Ok(())
}

/// How a sign-in went.
#[derive(Debug)]
pub enum SignIn {
    /// The cookie's token and the session it opened.
    Opened { token: String, session: Session },
    /// Wrong login or password (which, is not said).
    Refused,
    /// Too many failures in the last minute for this login or from this address.
    Throttled,
}

/// The SHA-256 of a session token, as the store keeps it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (32 bytes, hex).
pub fn new_token() -> anyhow::Result<String> {
    crate::random::secret_bytes::<32>()
        .map(hex::encode)
        .ok_or_else(|| anyhow::anyhow!("the kernel gave no random bytes for a token"))
}

/// Signs `login` in from `address` with `password`, for `hours`: throttled after
/// [`MAX_FAILURES_PER_LOGIN`] failures of the login or [`MAX_FAILURES_PER_ADDRESS`] from the
/// address in the last minute (even with the right password), so guessing is slow.
pub async fn sign_in(
    app: &App,
    login: &str,
    password: &str,
    address: &str,
    hours: u32,
) -> anyhow::Result<SignIn> {
    let now = app.clock.wall();
    let (by_login, by_address) = app
        .store
        .sign_in_failures(login, address, now - TimeDelta::minutes(1))
        .await?;
    if by_login >= MAX_FAILURES_PER_LOGIN || by_address >= MAX_FAILURES_PER_ADDRESS {
        app.store.sign_in_failed(login, address, now).await?;
        tracing::warn!(
            address,
            "sign-in throttled: too many failures in the last minute"
        );
        return Ok(SignIn::Throttled);
    }
    let found = app.store.user_with_hash(login).await?;
    // An unknown login costs the same time as a wrong password.
    let hash = found.as_ref().map_or_else(dummy_hash, |(_, h)| h.clone());
    let matches = verify_password(password, hash).await;
    let user = match found {
        Some((u, _)) if matches && u.disabled_at.is_none() => u,
        _ => {
            app.store.sign_in_failed(login, address, now).await?;
            tracing::info!(address, "sign-in refused");
            return Ok(SignIn::Refused);
        }
    };
    let token = new_token()?;
    let csrf = new_token()?;
    let expires_at = expiry(now, hours);
    app.store
        .open_session(&token_hash(&token), &user.login, &csrf, now, expires_at)
        .await?;
    tracing::info!(login = %user.login, role = user.role.as_str(), "signed in");
    Ok(SignIn::Opened {
        token,
        session: Session {
            user,
            csrf,
            expires_at,
        },
    })
}

/// The session a cookie's token opens at the wall clock's now.
pub async fn session(app: &App, token: &str) -> anyhow::Result<Option<Session>> {
    Ok(app
        .store
        .session(&token_hash(token), app.clock.wall())
        .await?)
}

/// Ends the session of a cookie's token.
pub async fn sign_out(app: &App, token: &str) -> anyhow::Result<()> {
    Ok(app.store.close_session(&token_hash(token)).await?)
}

/// A valid Argon2id hash of a password nobody has, so that an unknown login takes as long as a
/// known one.
fn dummy_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        SaltString::encode_b64(b"liandong-no-user")
            .ok()
            .and_then(|salt| {
                argon2::Argon2::default()
                    .hash_password(b"no account has this password", &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
    .clone()
}

/// When a session started now for `hours` ends.
pub fn expiry(now: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    now + TimeDelta::hours(i64::from(hours.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", h.clone()).await);
        assert!(!verify_password("correct horse batterY", h).await);
        assert!(!verify_password("x", "not a hash".into()).await);
        assert!(!verify_password("x", dummy_hash()).await);
    }

    #[test]
    fn logins_and_passwords_are_checked() {
        assert!(check_login("scjg.li").is_ok());
        assert!(check_login("").is_err());
        assert!(check_login("李四").is_err());
        assert!(check_login(&"a".repeat(65)).is_err());
        assert!(check_password("li", "short").is_err());
        assert!(check_password("longlogin1", "LONGLOGIN1").is_err());
        assert!(check_password("li", "ten chars!").is_ok());
    }
}
