//! The daemon's scheduler driven by hand: each test chooses the times (`catch_up(t)`,
//! `tick(t)`) instead of waiting on cron seconds, and runs stand-in jobs through the
//! scheduler's `Runner` seam against a real store.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use liandong::app::App;
use liandong::daemon::{Job, JobKind, Runner, Scheduler};
use liandong::domain::case_no::CaseNo;
use liandong::domain::clock::Clock;
use liandong::records::{Feed, Record, Value};
use liandong::schedule::Schedule;
use liandong::store::Store;

use crate::common;

/// 2025-10-13 (a Monday) at `hh:mm` Asia/Shanghai.
fn at(hh_mm: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2025-10-13T{hh_mm}:00+08:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// A job firing every day at 09:00 (or on `cron`): a sync when named `sync:…`, otherwise of the
/// evaluation's kind.
fn job(name: &str, cron: &str) -> Job {
    Job {
        name: name.into(),
        kind: match name.strip_prefix("sync:") {
            Some(source) => JobKind::Sync(source.into()),
            None => JobKind::Evaluate,
        },
        schedule: Schedule::parse(cron).unwrap(),
    }
}

const NINE: &str = "0 0 9 * * *";

/// Stand-in jobs: `boom` panics, `hold` writes a case in an open import and never finishes,
/// `sync:hang-…` waits forever (a department system that never answers), `slow-…` takes 1.5 s
/// and lists its end too, any other succeeds. Every run is listed.
#[derive(Default)]
struct StandIn {
    runs: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl StandIn {
    fn runs(&self) -> Vec<(String, DateTime<Utc>)> {
        self.runs.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Runner for StandIn {
    async fn run(
        &self,
        app: &App,
        job: &Job,
        slot: DateTime<Utc>,
        _stop: Arc<AtomicBool>,
    ) -> anyhow::Result<String> {
        self.runs.lock().unwrap().push((job.name.clone(), slot));
        match job.name.as_str() {
            "boom" => panic!("a bug in the job"),
            "hold" => {
                let mut import = app.store.begin_import("hold", app.clock.wall()).await?;
                let case = Record {
                    feed: Feed::Cases,
                    unit_id: "scjg".into(),
                    unit_known: true,
                    case_no: CaseNo::parse("稻市监罚〔2025〕1号").unwrap(),
                    values: vec![Value::Null; Feed::Cases.fields().len()],
                };
                import.put(vec![case]).await?;
                std::future::pending::<()>().await;
                unreachable!()
            }
            hang if hang.starts_with("sync:hang-") => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            slow if slow.starts_with("slow-") => {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                self.runs
                    .lock()
                    .unwrap()
                    .push((format!("{} done", job.name), slot));
                Ok("evaluated".into())
            }
            _ => Ok(format!("ran {}", job.name)),
        }
    }
}

/// A scheduler over a fresh SQLite store with the given `[run]` table.
async fn scheduler(
    url: &str,
    run: &str,
    jobs: Vec<Job>,
    runner: Arc<StandIn>,
) -> (Scheduler, Arc<dyn Store>) {
    let mut cfg =
        liandong::config::Config::from_toml_str(&format!("[store]\nurl = \"{url}\"\n{run}"))
            .unwrap();
    cfg.units = common::units();
    let store: Arc<dyn Store> = Arc::from(common::open(url).await);
    let app = App {
        cfg,
        store: store.clone(),
        clock: Clock::Fixed(at("10:00")),
    };
    (Scheduler::standalone(app, jobs, runner), store)
}

async fn outcome(store: &dyn Store, job: &str) -> (Option<DateTime<Utc>>, Option<String>, String) {
    let states = store.job_states(Utc::now()).await.unwrap();
    let s = states
        .iter()
        .find(|s| s.job == job)
        .expect("a run recorded");
    (
        s.last_slot,
        s.last_outcome.clone(),
        s.last_detail.clone().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn catch_up_runs_each_missed_slot_once_and_ticks_run_each_new_slot_once() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![job("sync:a", NINE), job("evaluate", NINE)],
        runner.clone(),
    )
    .await;
    // Started at 10:00 with nothing run: both catch up the 09:00 slot, in order.
    assert_eq!(s.catch_up(at("10:00")).await, 2);
    s.idle().await;
    assert_eq!(
        runner.runs(),
        vec![
            ("sync:a".to_string(), at("09:00")),
            ("evaluate".to_string(), at("09:00"))
        ]
    );
    // Ticks before the next firing start nothing; a restart catches up nothing either.
    assert_eq!(s.tick(at("10:01")).await, 0);
    assert_eq!(s.tick(at("23:59")).await, 0);
    s.idle().await;
    assert_eq!(s.catch_up(at("23:59")).await, 0);
    // The next day's 09:00 fires once, however often the clock is looked at.
    let next = at("09:00") + TimeDelta::days(1);
    assert_eq!(s.tick(next).await, 2);
    s.idle().await;
    assert_eq!(s.tick(next).await, 0);
    assert_eq!(s.tick(next + TimeDelta::seconds(30)).await, 0);
    s.idle().await;
    assert_eq!(runner.runs().len(), 4, "{:?}", runner.runs());
    let (slot, ok, detail) = outcome(store.as_ref(), "evaluate").await;
    assert_eq!(slot, Some(next));
    assert_eq!(ok.as_deref(), Some("ok"));
    assert_eq!(detail, "ran evaluate");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_job_is_recorded_as_failed_and_the_scheduler_carries_on() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![job("boom", NINE), job("evaluate", NINE)],
        runner.clone(),
    )
    .await;
    assert_eq!(s.catch_up(at("10:00")).await, 2);
    s.idle().await;
    let (slot, state, detail) = outcome(store.as_ref(), "boom").await;
    assert_eq!(slot, Some(at("09:00")));
    assert_eq!(state.as_deref(), Some("failed"));
    assert!(detail.contains("panicked: a bug in the job"), "{detail}");
    // The job after it ran, and the next day both run again.
    assert_eq!(
        outcome(store.as_ref(), "evaluate").await.1.as_deref(),
        Some("ok")
    );
    let next = at("09:00") + TimeDelta::days(1);
    assert_eq!(s.tick(next).await, 2);
    s.idle().await;
    assert_eq!(outcome(store.as_ref(), "boom").await.0, Some(next));
    assert_eq!(runner.runs().len(), 4, "{:?}", runner.runs());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slot_another_process_claimed_is_not_run_here_until_its_lease_runs_out() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(&ts.url, "", vec![job("evaluate", NINE)], runner.clone()).await;
    // Another replica claimed today's 09:00 slot with a lease of one minute (real time).
    let wall = Utc::now();
    assert!(
        store
            .claim_job(
                "evaluate",
                at("09:00"),
                "other-host:1:abc",
                wall,
                TimeDelta::seconds(60)
            )
            .await
            .unwrap()
    );
    assert_eq!(s.tick(at("09:00")).await, 1, "the firing is tried");
    s.idle().await;
    assert!(runner.runs().is_empty(), "but the claim is the other's");
    // The other replica dies: once its lease has run out, the slot runs here, once.
    sqlx_exec(
        &ts.url,
        "UPDATE job_runs SET lease_until = 0 WHERE owner = 'other-host:1:abc'",
    )
    .await;
    assert_eq!(s.tick(at("09:05")).await, 1);
    s.idle().await;
    assert_eq!(runner.runs(), vec![("evaluate".to_string(), at("09:00"))]);
    assert_eq!(s.tick(at("09:06")).await, 0);
}

async fn sqlx_exec(url: &str, sql: &str) {
    let p = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&p)
        .await
        .unwrap();
    p.close().await;
}

/// On PostgreSQL, where another replica can take a slot over while the job holds a
/// transaction: the next renewal finds the claim gone, the job is cancelled and its
/// transaction rolls back — the case it wrote is not in the store.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_lease_cancels_the_job_and_rolls_its_transaction_back() {
    let Some(db) = common::fresh_pg("the lost-lease test").await else {
        return;
    };
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(
        &db.url,
        "[run]\nlease_secs = 10\n",
        vec![job("hold", NINE)],
        runner.clone(),
    )
    .await;
    assert_eq!(s.tick(at("09:00")).await, 1);
    // The job has claimed its slot and written its case, uncommitted.
    let started = std::time::Instant::now();
    while runner.runs().is_empty() {
        assert!(started.elapsed().as_secs() < 30, "the job never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let taken = sqlx::query(
        "UPDATE job_runs SET owner = 'another-host:1:takeover' WHERE job = 'hold' AND finished_at IS NULL",
    )
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(taken, 1);
    // Renewals come every third of the lease (3.3 s): the job ends within a few seconds.
    tokio::time::timeout(std::time::Duration::from_secs(20), s.idle())
        .await
        .expect("the job was cancelled");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 0);
    let (owner,): (String,) =
        sqlx::query_as("SELECT owner FROM job_runs WHERE job = 'hold' ORDER BY slot DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        owner, "another-host:1:takeover",
        "the slot stays the other's"
    );
    pool.close().await;
    // Rolled back, not left open: the same case can be written and committed at once.
    let again = async {
        let mut import = store.begin_import("again", Utc::now()).await.unwrap();
        import
            .put(vec![Record {
                feed: Feed::Cases,
                unit_id: "scjg".into(),
                unit_known: true,
                case_no: CaseNo::parse("稻市监罚〔2025〕1号").unwrap(),
                values: vec![Value::Null; Feed::Cases.fields().len()],
            }])
            .await
            .unwrap();
        import.commit(None).await.unwrap();
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), again)
        .await
        .expect("no lock left behind");
    assert_eq!(store.record_count(Feed::Cases).await.unwrap(), 1);
}

/// The weekly report of a slot reads what that slot's evaluation wrote: fired together, the
/// report (in the other lane) waits until the evaluation has finished.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_slot_runs_after_the_evaluation_of_its_slot() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let report = Job {
        name: "report:weekly".into(),
        kind: JobKind::Report,
        schedule: Schedule::parse(NINE).unwrap(),
    };
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![report, job("slow-evaluate", NINE)],
        runner.clone(),
    )
    .await;
    s.tick(at("08:59")).await;
    assert_eq!(s.tick(at("09:00")).await, 2);
    s.idle().await;
    let names: Vec<String> = runner.runs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["slow-evaluate", "slow-evaluate done", "report:weekly"],
        "the report started only once the evaluation had finished"
    );
    let (slot, outcome, detail) = outcome(store.as_ref(), "report:weekly").await;
    assert_eq!((slot, outcome.as_deref()), (Some(at("09:00")), Some("ok")));
    assert_eq!(detail, "ran report:weekly", "it did not run past its wait");
}

/// An evaluation reads what its slot's syncs wrote: fired together, it waits for them — also
/// when the sync is this process's own, in the lane the evaluation would hold.
#[tokio::test(flavor = "multi_thread")]
async fn an_evaluation_slot_runs_after_the_syncs_of_its_slot() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let sync = Job {
        name: "slow-sync".into(),
        kind: JobKind::Sync("slow-sync".into()),
        schedule: Schedule::parse(NINE).unwrap(),
    };
    // The evaluation listed first, so that it would take the lane first without its wait.
    let (mut s, _store) = scheduler(
        &ts.url,
        "",
        vec![job("evaluate", NINE), sync],
        runner.clone(),
    )
    .await;
    s.tick(at("08:59")).await;
    assert_eq!(s.tick(at("09:00")).await, 2);
    s.idle().await;
    let names: Vec<String> = runner.runs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["slow-sync", "slow-sync done", "evaluate"]);
}

/// A source whose system never answers (issue 22 item 8) holds back no other source and no
/// sender, at start-up or later: the other source's sync and the alerts run at once, the other
/// source's next slot runs on time, and only the evaluation of its slot waits for it (the
/// source's own deadline, `run_timeout_secs`, ends that wait: `daemon::a_source_that_never_answers_…`).
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_that_hangs_holds_back_no_other_source_and_no_sender() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let alerts = Job {
        name: "alerts".into(),
        kind: JobKind::Alerts,
        schedule: Schedule::parse(NINE).unwrap(),
    };
    let every_minute = "0 * * * * *";
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![
            job("sync:hang-api", NINE),
            job("sync:files", every_minute),
            job("evaluate", NINE),
            alerts,
        ],
        runner.clone(),
    )
    .await;
    let names = || -> Vec<String> { runner.runs().into_iter().map(|(n, _)| n).collect() };
    // Started at 09:00:30 with nothing run: every job catches its 09:00 slot up.
    assert_eq!(s.catch_up(at("09:00") + TimeDelta::seconds(30)).await, 4);
    eventually("the other source and the alerts run", || {
        let n = names();
        n.contains(&"sync:files".to_string()) && n.contains(&"alerts".to_string())
    })
    .await;
    // The other source's next slot is not skipped behind the hung one.
    assert_eq!(s.tick(at("09:01")).await, 1);
    eventually("the other source's 09:01 slot runs", || {
        runner
            .runs()
            .contains(&("sync:files".to_string(), at("09:01")))
    })
    .await;
    let started = std::time::Instant::now();
    loop {
        let (slot, ran, _) = outcome(store.as_ref(), "sync:files").await;
        if slot == Some(at("09:01")) {
            assert_eq!(ran.as_deref(), Some("ok"));
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "the 09:01 slot's end");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The evaluation of 09:00 waits for the hung source of its slot: it has not run.
    assert!(
        !names().contains(&"evaluate".to_string()),
        "the evaluation ran before the syncs of its slot: {:?}",
        names()
    );
    assert!(!s.finish(std::time::Duration::from_millis(200)).await);
}

/// Waits (up to 10 s) until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(started.elapsed().as_secs() < 10, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `liandong status` on the store at `url`: its JSON's `jobs`, and its text.
fn status(url: &str) -> (serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write(
        dir.path(),
        "liandong.toml",
        format!("[store]\nurl = \"{url}\"\n"),
    );
    let run = |args: &[&str]| common::liandong_ok(&config, &[&["status"], args].concat());
    let json: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    (json["jobs"].clone(), run(&[]))
}

/// `job`'s entry in `status --format json`'s `jobs`.
fn status_of<'a>(jobs: &'a serde_json::Value, job: &str) -> &'a serde_json::Value {
    jobs.as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == job)
        .unwrap_or_else(|| panic!("{job} in {jobs:#}"))
}

/// What the store says of `job` now.
async fn state_of(store: &dyn Store, job: &str) -> liandong::store::ops::JobState {
    store
        .job_states(Utc::now())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.job == job)
        .expect("a run recorded")
}

/// The owner a killed replica leaves on its claims.
const DEAD: &str = "dead-host:4242:killed";

/// A replica (`DEAD`) claimed `job`'s `slot` at `wall` with a lease of `lease_secs`, and died.
async fn claimed_by_the_dead(
    store: &dyn liandong::store::Store,
    job: &str,
    slot: DateTime<Utc>,
    wall: DateTime<Utc>,
    lease_secs: i64,
) {
    assert!(
        store
            .claim_job(job, slot, DEAD, wall, TimeDelta::seconds(lease_secs))
            .await
            .unwrap(),
        "the dead replica's claim of {job}"
    );
}

const HOURLY: &str = "0 0 * * * *";

/// A sync job named `name` (a stand-in: `slow-…` takes 1.5 s) firing on `cron`.
fn sync_job(name: &str, cron: &str) -> Job {
    Job {
        name: name.into(),
        kind: JobKind::Sync(name.into()),
        schedule: Schedule::parse(cron).unwrap(),
    }
}

/// Issue 24 item 4 (a): a replica claimed 09:00 and was killed. While its lease holds the slot
/// is running; once the lease ran out `status` says abandoned — who left it, since when — and
/// never running; the next slot, run here, closes it as superseded, naming who left it and
/// which slot superseded it, and it is not run again.
#[tokio::test(flavor = "multi_thread")]
async fn a_slot_left_unfinished_is_abandoned_not_running_and_the_next_slot_supersedes_it() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(&ts.url, "", vec![job("sync:a", HOURLY)], runner.clone()).await;
    claimed_by_the_dead(store.as_ref(), "sync:a", at("09:00"), Utc::now(), 2).await;
    let (jobs, text) = status(&ts.url);
    assert_eq!(status_of(&jobs, "sync:a")["running"][1], DEAD, "{jobs:#}");
    assert!(
        text.contains("running the slot of 2025-10-13 09:00 in dead-host"),
        "{text}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let (jobs, text) = status(&ts.url);
    let a = status_of(&jobs, "sync:a");
    assert!(
        a["running"].is_null(),
        "an abandoned slot shown running: {a:#}"
    );
    assert_eq!(a["abandoned"].as_array().map(Vec::len), Some(1), "{a:#}");
    assert_eq!(a["abandoned"][0]["owner"], DEAD);
    assert!(a["abandoned"][0]["since"].is_string(), "{a:#}");
    assert!(a["abandoned"][0]["superseded_by"].is_null(), "{a:#}");
    assert!(!text.contains("running the slot"), "{text}");
    assert!(
        text.contains(&format!(
            "abandoned: the slot of 2025-10-13 09:00, left unfinished by {DEAD}"
        )) && text.contains("not run again yet"),
        "{text}"
    );

    // The 10:00 slot runs here; 09:00 is not run again but closed as superseded.
    assert_eq!(s.tick(at("10:00")).await, 1);
    s.idle().await;
    assert_eq!(runner.runs(), vec![("sync:a".to_string(), at("10:00"))]);
    let st = state_of(store.as_ref(), "sync:a").await;
    assert_eq!(st.running, None);
    assert!(st.abandoned.is_empty(), "{st:?}");
    assert_eq!(
        (st.last_slot, st.last_outcome.as_deref()),
        (Some(at("10:00")), Some("ok"))
    );
    let sup = st.last_superseded.expect("09:00 closed as superseded");
    assert_eq!(sup.slot, at("09:00"));
    assert_eq!(sup.outcome.as_deref(), Some("superseded"));
    let detail = sup.detail.unwrap_or_default();
    assert!(
        detail.contains(&format!("left unfinished by {DEAD}"))
            && detail.contains("superseded by the slot of 2025-10-13 10:00:00"),
        "{detail}"
    );
    let (jobs, text) = status(&ts.url);
    let a = status_of(&jobs, "sync:a");
    assert!(
        a["running"].is_null() && a["abandoned"] == serde_json::json!([]),
        "{a:#}"
    );
    assert_eq!(a["last_superseded"]["outcome"], "superseded", "{a:#}");
    assert!(
        text.contains(&format!(
            "superseded: the slot of 2025-10-13 09:00: left unfinished by {DEAD}"
        )),
        "{text}"
    );
    assert_eq!(s.tick(at("10:30")).await, 0);
    s.idle().await;
    assert_eq!(runner.runs().len(), 1, "{:?}", runner.runs());
}

/// The killed replica held 09:00 while this one ran 10:00 (its lease still held then): once
/// that lease runs out, `status` shows 09:00 abandoned with the slot that supersedes it, and
/// the next tick closes it — nothing is left "running" for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_slot_whose_holder_died_after_a_later_slot_ran_is_closed_at_the_next_tick() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(&ts.url, "", vec![job("sync:a", HOURLY)], runner.clone()).await;
    claimed_by_the_dead(store.as_ref(), "sync:a", at("09:00"), Utc::now(), 3).await;
    assert_eq!(s.tick(at("10:00")).await, 1);
    s.idle().await;
    let st = state_of(store.as_ref(), "sync:a").await;
    assert_eq!(st.last_slot, Some(at("10:00")));
    assert_eq!(
        st.running.as_ref().map(|r| (r.slot, r.owner.as_str())),
        Some((at("09:00"), DEAD)),
        "still under its lease: running"
    );
    assert!(st.last_superseded.is_none(), "a live slot was superseded");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;

    let (jobs, text) = status(&ts.url);
    let a = status_of(&jobs, "sync:a");
    assert!(a["running"].is_null(), "{a:#}");
    assert_eq!(a["abandoned"][0]["owner"], DEAD, "{a:#}");
    assert!(a["abandoned"][0]["superseded_by"].is_string(), "{a:#}");
    assert!(
        text.contains("the slot of 2025-10-13 10:00 was claimed since"),
        "{text}"
    );
    // The next tick (no slot due) closes it; it is not run.
    assert_eq!(s.tick(at("10:01")).await, 0);
    s.idle().await;
    let st = state_of(store.as_ref(), "sync:a").await;
    assert!(st.running.is_none() && st.abandoned.is_empty(), "{st:?}");
    assert_eq!(
        (st.last_slot, st.last_outcome.as_deref()),
        (Some(at("10:00")), Some("ok"))
    );
    let sup = st.last_superseded.expect("09:00 closed");
    assert_eq!(sup.slot, at("09:00"));
    assert!(
        sup.detail.as_deref().is_some_and(|d| d.contains(DEAD)),
        "{sup:?}"
    );
    assert_eq!(runner.runs(), vec![("sync:a".to_string(), at("10:00"))]);
}

/// The killed replica held 09:00, still the job's latest slot: `status` says abandoned, not
/// running, until the lease ran out and a tick here runs it again — once, its detail saying who
/// left it — after which nothing is abandoned or running.
#[tokio::test(flavor = "multi_thread")]
async fn a_slot_left_unfinished_that_is_its_jobs_latest_is_run_again_once() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(&ts.url, "", vec![job("sync:a", HOURLY)], runner.clone()).await;
    claimed_by_the_dead(store.as_ref(), "sync:a", at("09:00"), Utc::now(), 2).await;
    assert_eq!(s.tick(at("09:00")).await, 1, "the firing is tried");
    s.idle().await;
    assert!(runner.runs().is_empty(), "the claim is the other's");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (jobs, _) = status(&ts.url);
    let a = status_of(&jobs, "sync:a");
    assert!(a["running"].is_null(), "{a:#}");
    assert_eq!(a["abandoned"][0]["owner"], DEAD, "{a:#}");

    assert_eq!(s.tick(at("09:05")).await, 1);
    s.idle().await;
    assert_eq!(runner.runs(), vec![("sync:a".to_string(), at("09:00"))]);
    let st = state_of(store.as_ref(), "sync:a").await;
    assert_eq!(
        (st.last_slot, st.last_outcome.as_deref()),
        (Some(at("09:00")), Some("ok"))
    );
    assert!(
        st.last_detail
            .as_deref()
            .is_some_and(|d| d.contains(&format!("run again: {DEAD} left it unfinished"))),
        "{st:?}"
    );
    assert!(st.running.is_none() && st.abandoned.is_empty() && st.last_superseded.is_none());
    assert_eq!(s.tick(at("09:06")).await, 0);
    s.idle().await;
    assert_eq!(runner.runs().len(), 1);
    let (jobs, text) = status(&ts.url);
    let a = status_of(&jobs, "sync:a");
    assert!(
        a["running"].is_null() && a["abandoned"] == serde_json::json!([]),
        "{a:#}"
    );
    assert!(
        !text.contains("abandoned") && !text.contains("running the slot"),
        "{text}"
    );
}

/// Issue 24 item 4 (b): an earlier run of the sync, abandoned by a killed replica, is not
/// the sync of the evaluation's slot under way: the evaluation waits for its slot's sync
/// (claimed after it began to wait), and runs after it.
#[tokio::test(flavor = "multi_thread")]
async fn an_evaluation_waits_for_its_slots_sync_though_an_earlier_run_of_it_was_abandoned() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![job("evaluate", NINE), sync_job("slow-sync", "0 50 8 * * *")],
        runner.clone(),
    )
    .await;
    // Yesterday's 08:50 sync was left unfinished an hour ago.
    let yesterday = at("08:50") - TimeDelta::days(1);
    claimed_by_the_dead(
        store.as_ref(),
        "slow-sync",
        yesterday,
        Utc::now() - TimeDelta::hours(1),
        60,
    )
    .await;
    // 09:00: the evaluation fires; today's 08:50 sync never ran, so it runs now too.
    assert_eq!(s.tick(at("09:00")).await, 2);
    s.idle().await;
    assert_eq!(
        runner.runs(),
        vec![
            ("slow-sync".to_string(), at("08:50")),
            ("slow-sync done".to_string(), at("08:50")),
            ("evaluate".to_string(), at("09:00")),
        ],
        "the evaluation ran before its slot's sync had finished"
    );
    assert_eq!(outcome(store.as_ref(), "evaluate").await.2, "ran evaluate");
    let st = state_of(store.as_ref(), "slow-sync").await;
    assert_eq!(st.last_superseded.map(|r| r.slot), Some(yesterday));
}

/// Another replica may run the slot this one skipped because its earlier run still ran here:
/// the evaluation waits for that earlier run, then for its own slot's sync (run here by the
/// next tick once the earlier run has finished), instead of taking the slot for skipped.
#[tokio::test(flavor = "multi_thread")]
async fn an_evaluation_waits_for_its_slots_sync_while_an_earlier_run_of_it_goes_on() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, _store) = scheduler(
        &ts.url,
        "",
        vec![job("evaluate", NINE), sync_job("slow-sync", HOURLY)],
        runner.clone(),
    )
    .await;
    assert_eq!(s.tick(at("08:00")).await, 1);
    // 09:00 while 08:00's sync still runs: its 09:00 slot is skipped here, the evaluation waits.
    assert_eq!(s.tick(at("09:00")).await, 1);
    eventually("the 08:00 sync's end", || {
        runner
            .runs()
            .contains(&("slow-sync done".to_string(), at("08:00")))
    })
    .await;
    assert_eq!(s.tick(at("09:00") + TimeDelta::seconds(30)).await, 1);
    s.idle().await;
    assert_eq!(
        runner.runs(),
        vec![
            ("slow-sync".to_string(), at("08:00")),
            ("slow-sync done".to_string(), at("08:00")),
            ("slow-sync".to_string(), at("09:00")),
            ("slow-sync done".to_string(), at("09:00")),
            ("evaluate".to_string(), at("09:00")),
        ]
    );
}

/// The sync of the evaluation's slot was claimed by a replica that died: the evaluation waits
/// through the lease, the take-over here and the run again, and runs after it.
#[tokio::test(flavor = "multi_thread")]
async fn an_evaluation_waits_for_its_slots_sync_through_a_take_over_after_a_kill() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let (mut s, store) = scheduler(
        &ts.url,
        "",
        vec![job("evaluate", NINE), sync_job("slow-sync", NINE)],
        runner.clone(),
    )
    .await;
    claimed_by_the_dead(store.as_ref(), "slow-sync", at("09:00"), Utc::now(), 2).await;
    assert_eq!(s.tick(at("09:00")).await, 2);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(runner.runs().is_empty(), "{:?}", runner.runs());
    assert_eq!(s.tick(at("09:01")).await, 1, "the sync is taken over");
    s.idle().await;
    assert_eq!(
        runner.runs(),
        vec![
            ("slow-sync".to_string(), at("09:00")),
            ("slow-sync done".to_string(), at("09:00")),
            ("evaluate".to_string(), at("09:00")),
        ]
    );
    assert_eq!(outcome(store.as_ref(), "evaluate").await.2, "ran evaluate");
    assert!(
        outcome(store.as_ref(), "slow-sync")
            .await
            .2
            .contains("run again"),
    );
}

/// The notifications of a slot wait for its evaluation also while that evaluation, not yet
/// claimed, waits for a sync a dead replica holds — past the 10 s a slot nobody claims is
/// waited for: the notify runs last, with what the evaluation found.
#[tokio::test(flavor = "multi_thread")]
async fn a_notify_waits_for_its_slots_evaluation_while_that_waits_for_a_sync() {
    let ts = common::temp_sqlite();
    let runner = Arc::new(StandIn::default());
    let notify = Job {
        name: "notify".into(),
        kind: JobKind::Notify,
        schedule: Schedule::parse(NINE).unwrap(),
    };
    let (mut s, store) = scheduler(
        &ts.url,
        "[run]\nlease_secs = 60\n",
        vec![notify, job("evaluate", NINE), sync_job("sync:a", NINE)],
        runner.clone(),
    )
    .await;
    // A replica claimed the 09:00 sync, renewed its lease for 12 s more, and died.
    claimed_by_the_dead(store.as_ref(), "sync:a", at("09:00"), Utc::now(), 12).await;
    assert_eq!(s.tick(at("09:00")).await, 3);
    tokio::time::sleep(std::time::Duration::from_millis(12_500)).await;
    assert!(runner.runs().is_empty(), "{:?}", runner.runs());
    assert_eq!(s.tick(at("09:01")).await, 1, "the sync is taken over");
    tokio::time::timeout(std::time::Duration::from_secs(60), s.idle())
        .await
        .expect("all ran");
    let names: Vec<String> = runner.runs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["sync:a", "evaluate", "notify"]);
    assert_eq!(outcome(store.as_ref(), "notify").await.2, "ran notify");
}

/// Where a predecessor's slot stands, case by case (`daemon::scheduler::predecessor`).
#[test]
fn a_predecessors_slot_is_done_coming_or_unclaimed() {
    use liandong::daemon::scheduler::{Predecessor, predecessor};
    use liandong::store::ops::JobRun;
    let wall = Utc::now();
    let run = |slot: &str, lease_secs: i64, outcome: Option<&str>| JobRun {
        job: "sync:a".into(),
        slot: at(slot),
        owner: "o".into(),
        started_at: wall,
        lease_until: wall + TimeDelta::seconds(lease_secs),
        finished_at: outcome.map(|_| wall),
        outcome: outcome.map(str::to_string),
        detail: None,
    };
    let s = at("09:00");
    let cases: Vec<(Vec<JobRun>, Predecessor, &str)> = vec![
        (vec![], Predecessor::Unclaimed, "nothing"),
        (
            vec![run("08:00", -60, None)],
            Predecessor::Unclaimed,
            "an earlier run abandoned is not under way",
        ),
        (
            vec![run("08:00", 60, None)],
            Predecessor::Coming,
            "an earlier run under way",
        ),
        (
            vec![run("09:00", 60, None)],
            Predecessor::Coming,
            "under way",
        ),
        (
            vec![run("09:00", -60, None)],
            Predecessor::Coming,
            "abandoned: run again or superseded soon",
        ),
        (vec![run("09:00", 60, Some("ok"))], Predecessor::Done, "ran"),
        (
            vec![run("09:00", 60, Some("failed"))],
            Predecessor::Done,
            "failed",
        ),
        (
            vec![
                run("09:00", -60, Some("superseded")),
                run("10:00", 60, None),
            ],
            Predecessor::Coming,
            "superseded: the later run stands for it",
        ),
        (
            vec![
                run("09:00", -60, Some("superseded")),
                run("10:00", 60, Some("ok")),
            ],
            Predecessor::Done,
            "the later run ran",
        ),
        (
            vec![run("08:00", 60, None), run("09:00", 60, Some("ok"))],
            Predecessor::Coming,
            "ran, but an earlier run still goes on",
        ),
        (
            vec![run("08:00", -60, None), run("09:00", 60, Some("ok"))],
            Predecessor::Done,
            "ran; the earlier one is abandoned",
        ),
    ];
    for (runs, want, what) in cases {
        assert_eq!(predecessor(&runs, s, wall), want, "{what}");
    }
}
