//! Shared test harness: temporary stores (SQLite file or a fresh PostgreSQL database), the sample
//! units, source and configuration builders, and a fixed clock.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use liandong::config::{Config, SourceConfig, SourceKind, StoreConfig, UnitConfig, UnitKind};
use liandong::records::Feed;
use liandong::store::{self, Store};

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

/// True in CI: an unreachable database server fails the test instead of skipping it.
pub fn require_dbs() -> bool {
    std::env::var("LIANDONG_REQUIRE_DBS").is_ok_and(|v| v == "1")
}

pub fn skip(what: &str, why: &str) {
    assert!(
        !require_dbs(),
        "{what} is required here (LIANDONG_REQUIRE_DBS=1) but {why}"
    );
    eprintln!("SKIPPED {what}: {why} (set LIANDONG_REQUIRE_DBS=1 to make this a failure)");
}

/// A fixed time: 2025-06-30 10:00 Asia/Shanghai.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 30, 2, 0, 0).unwrap()
}

/// The clock of the source tests: standing at [`now`].
pub fn clock() -> liandong::domain::clock::Clock {
    liandong::domain::clock::Clock::Fixed(now())
}

pub fn unit(id: &str, name: &str, aliases: &[&str]) -> UnitConfig {
    UnitConfig {
        id: id.into(),
        name: name.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        kind: UnitKind::Enforcement,
        contacts: vec![],
    }
}

/// The sample county's enforcement units.
pub fn units() -> Vec<UnitConfig> {
    vec![
        unit("scjg", "稻城县市场监督管理局", &["县市场监管局"]),
        unit("zrzy", "稻城县自然资源局", &["县自然资源局"]),
        unit("jtys", "稻城县交通运输局", &["县交通局"]),
        unit("nync", "稻城县农业农村局", &["县农业农村局"]),
    ]
}

pub fn source(name: &str, kind: SourceKind, feeds: Feed) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        kind,
        feeds,
        ..Default::default()
    }
}

pub fn file_source(name: &str, feeds: Feed, path: &Path) -> SourceConfig {
    SourceConfig {
        path: Some(path.to_path_buf()),
        ..source(name, SourceKind::File, feeds)
    }
}

pub fn config(store_url: &str, sources: Vec<SourceConfig>) -> Config {
    Config {
        store: StoreConfig {
            url: liandong::config::DatabaseUrl(store_url.into()),
            ..Default::default()
        },
        units: units(),
        sources,
        ..Default::default()
    }
}

/// A temporary folder with a SQLite store URL inside it.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub url: String,
}

pub fn temp_sqlite() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("liandong.db").display());
    TempStore { dir, url }
}

pub async fn open(url: &str) -> Box<dyn Store> {
    store::open(&StoreConfig {
        url: liandong::config::DatabaseUrl(url.into()),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Which server a test database lives on.
#[derive(Clone, Copy)]
enum Server {
    Postgres,
    MariaDb,
}

/// A fresh database on PostgreSQL or MariaDB, dropped when this guard goes.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
    server: Server,
}

pub type PgDb = TestDb;
pub type MyDb = TestDb;

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name, server) = (self.admin.clone(), self.name.clone(), self.server);
        // Drop runs outside any runtime guarantee: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                match server {
                    Server::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                        }
                    }
                    Server::MariaDb => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                            let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// The admin URL with its database replaced by `name`.
fn with_database(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A new, empty PostgreSQL database, or `None` (after saying so) when the server is unreachable.
pub async fn fresh_pg(what: &str) -> Option<PgDb> {
    use sqlx::Connection;
    let admin = std::env::var("LIANDONG_TEST_PG_URL").unwrap_or_else(|_| PG_DEFAULT.into());
    let mut c = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            skip(what, &format!("PostgreSQL at {admin} is unreachable: {e}"));
            return None;
        }
    };
    let name = unique("liandong_test");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut c)
        .await
        .unwrap();
    Some(TestDb {
        url: with_database(&admin, &name),
        admin,
        name,
        server: Server::Postgres,
    })
}

pub async fn fresh_mysql(what: &str) -> Option<MyDb> {
    use sqlx::Connection;
    let admin = std::env::var("LIANDONG_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_DEFAULT.into());
    let mut c = match sqlx::MySqlConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            skip(
                what,
                &format!("MariaDB/MySQL at {admin} is unreachable: {e}"),
            );
            return None;
        }
    };
    let name = unique("liandong_src");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    Some(TestDb {
        url: with_database(&admin, &name),
        admin,
        name,
        server: Server::MariaDb,
    })
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The `liandong` binary built for these tests.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_liandong"))
}

/// `liandong --config CONFIG ARGS…`, which must succeed: its standard output.
pub fn liandong_ok(config: &Path, args: &[&str]) -> String {
    let o = bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}
