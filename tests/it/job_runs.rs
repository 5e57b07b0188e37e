//! The daemon's job slots in the store, on SQLite and PostgreSQL: a slot is claimed once, a
//! live lease keeps others out, a lease that ran out can be taken over, renewal and finishing
//! belong to the holder, a released slot can be claimed again, and pruning keeps each job's
//! latest run; a slot whose lease ran out is abandoned, not running, and is closed as
//! superseded once a later slot of its job was claimed.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use liandong::store::Store;
use liandong::store::ops::{AbandonedSlot, JobOutcome};

use crate::common;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 13, h, m, 0).unwrap()
}

/// What the store says of `job` at `wall`.
async fn state(s: &dyn Store, job: &str, wall: DateTime<Utc>) -> liandong::store::ops::JobState {
    s.job_states(wall)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.job == job)
        .unwrap()
}

async fn slots_are_claimed_once_and_taken_over_only_after_their_lease(s: &dyn Store) {
    let lease = TimeDelta::seconds(600);
    let slot = t(1, 0);
    assert!(
        s.claim_job("evaluate", slot, "a", t(1, 0), lease)
            .await
            .unwrap()
    );
    // B cannot have it while A's lease holds, nor A twice.
    assert!(
        !s.claim_job("evaluate", slot, "b", t(1, 5), lease)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_job("evaluate", slot, "a", t(1, 5), lease)
            .await
            .unwrap()
    );
    // Another job's slot at the same time is its own.
    assert!(
        s.claim_job("notify", slot, "b", t(1, 0), lease)
            .await
            .unwrap()
    );
    // A renews; B still cannot take it when A's first lease would have run out.
    assert!(s.renew_job("evaluate", slot, "a", t(1, 15)).await.unwrap());
    assert!(!s.renew_job("evaluate", slot, "b", t(1, 15)).await.unwrap());
    assert!(
        !s.claim_job("evaluate", slot, "b", t(1, 12), lease)
            .await
            .unwrap()
    );
    let states = s.job_states(t(1, 12)).await.unwrap();
    let ev = states.iter().find(|j| j.job == "evaluate").unwrap();
    assert_eq!(ev.last_slot, None);
    assert_eq!(
        ev.running
            .as_ref()
            .map(|r| (r.slot, r.owner.as_str(), r.lease_until)),
        Some((slot, "a", t(1, 15)))
    );
    // A dies; once its lease ran out, B takes the slot over and finishes it.
    assert!(
        s.claim_job("evaluate", slot, "b", t(1, 16), lease)
            .await
            .unwrap()
    );
    assert!(
        !s.finish_job("evaluate", slot, "a", t(1, 17), JobOutcome::Ok, "late")
            .await
            .unwrap()
    );
    assert!(
        s.finish_job("evaluate", slot, "b", t(1, 17), JobOutcome::Ok, "42 new")
            .await
            .unwrap()
    );
    // Finished: nobody claims it again, however late.
    assert!(
        !s.claim_job("evaluate", slot, "c", t(5, 0), lease)
            .await
            .unwrap()
    );
    let ev = state(s, "evaluate", t(1, 18)).await;
    assert_eq!(ev.last_slot, Some(slot));
    assert_eq!(ev.last_ok_slot, Some(slot));
    assert_eq!(ev.last_outcome.as_deref(), Some("ok"));
    assert_eq!(ev.last_detail.as_deref(), Some("42 new"));
    assert_eq!(ev.last_finished_at, Some(t(1, 17)));
    assert!(ev.running.is_none());

    // A failed later slot: the latest finished slot moves, the latest good one does not.
    assert!(
        s.claim_job("evaluate", t(2, 0), "a", t(2, 0), lease)
            .await
            .unwrap()
    );
    assert!(
        s.finish_job(
            "evaluate",
            t(2, 0),
            "a",
            t(2, 1),
            JobOutcome::Failed,
            "boom"
        )
        .await
        .unwrap()
    );
    let ev = state(s, "evaluate", t(2, 2)).await;
    assert_eq!(ev.last_slot, Some(t(2, 0)));
    assert_eq!(ev.last_ok_slot, Some(slot));
    assert_eq!(ev.last_outcome.as_deref(), Some("failed"));

    // A slot released by a shutdown can be claimed at once by anyone.
    assert!(
        s.claim_job("evaluate", t(3, 0), "a", t(3, 0), lease)
            .await
            .unwrap()
    );
    s.release_job("evaluate", t(3, 0), "b").await.unwrap();
    assert!(
        !s.claim_job("evaluate", t(3, 0), "b", t(3, 1), lease)
            .await
            .unwrap(),
        "only the holder releases"
    );
    s.release_job("evaluate", t(3, 0), "a").await.unwrap();
    assert!(
        s.claim_job("evaluate", t(3, 0), "b", t(3, 1), lease)
            .await
            .unwrap()
    );

    // Pruning keeps each job's latest finished run and live runs; it forgets older finished
    // runs and unfinished ones whose lease ran out long ago.
    assert!(
        s.claim_job("sync:x", t(0, 30), "dead", t(0, 30), lease)
            .await
            .unwrap()
    );
    let pruned = s.prune_job_runs(t(2, 30)).await.unwrap();
    // evaluate@01:00 (older than the latest finished, 02:00), and sync:x@00:30 and
    // notify@01:00, left unfinished with leases that ran out at 00:40 and 01:10.
    assert_eq!(pruned, 3);
    let states = s.job_states(t(3, 2)).await.unwrap();
    let ev = states.iter().find(|j| j.job == "evaluate").unwrap();
    assert_eq!(ev.last_slot, Some(t(2, 0)));
    assert_eq!(ev.last_ok_slot, None, "the good run was pruned");
    assert!(ev.running.is_some(), "the 03:00 run is live");
    assert!(!states.iter().any(|j| j.job == "sync:x"));
    assert!(!states.iter().any(|j| j.job == "notify"));
    s.ping().await.unwrap();
}

/// Issue 24 item 4: an unfinished slot is running only while its lease holds; once it ran out
/// the slot is abandoned (who left it, since when), and once a later slot of its job has been
/// claimed it can be closed as superseded — by anyone, but only while it stays abandoned —
/// after which it is finished, shown as such, and never claimed again.
async fn abandoned_slots_are_not_running_and_are_closed_as_superseded(s: &dyn Store) {
    let lease = TimeDelta::minutes(10);
    assert!(
        s.claim_job("sync:x", t(1, 0), "dead", t(1, 0), lease)
            .await
            .unwrap()
    );
    // Under its lease it runs.
    let x = state(s, "sync:x", t(1, 5)).await;
    assert_eq!(x.running.as_ref().map(|r| r.owner.as_str()), Some("dead"));
    assert!(x.abandoned.is_empty());
    // Its lease ran out at 01:10: abandoned, not running; nothing supersedes it yet.
    let x = state(s, "sync:x", t(1, 20)).await;
    assert_eq!(x.running, None, "an abandoned slot shown as running");
    assert_eq!(
        x.abandoned,
        vec![AbandonedSlot {
            slot: t(1, 0),
            owner: "dead".into(),
            since: t(1, 10),
            superseded_by: None,
        }]
    );
    assert_eq!(x.last_slot, None);
    assert!(s.superseded_runs(t(1, 20)).await.unwrap().is_empty());

    // Another process claims the next slot: the abandoned one is superseded by it.
    assert!(
        s.claim_job("sync:x", t(2, 0), "b", t(2, 0), lease)
            .await
            .unwrap()
    );
    let x = state(s, "sync:x", t(2, 1)).await;
    assert_eq!(x.running.as_ref().map(|r| r.slot), Some(t(2, 0)));
    assert_eq!(x.abandoned.len(), 1);
    assert_eq!(x.abandoned[0].superseded_by, Some(t(2, 0)));
    let found = s.superseded_runs(t(2, 1)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0.slot, found[0].0.owner.as_str()),
        (t(1, 0), "dead")
    );
    assert_eq!((found[0].1.slot, found[0].1.owner.as_str()), (t(2, 0), "b"));
    // Closing it holds only for its holder's claim, and only once its lease ran out.
    assert!(
        !s.supersede_job("sync:x", t(1, 0), "b", t(2, 1), "wrong owner")
            .await
            .unwrap()
    );
    assert!(
        !s.supersede_job("sync:x", t(1, 0), "dead", t(1, 5), "lease still held")
            .await
            .unwrap()
    );
    assert!(
        s.supersede_job(
            "sync:x",
            t(1, 0),
            "dead",
            t(2, 1),
            "left by dead; superseded by 02:00"
        )
        .await
        .unwrap()
    );
    assert!(
        !s.supersede_job("sync:x", t(1, 0), "dead", t(2, 2), "twice")
            .await
            .unwrap()
    );
    let x = state(s, "sync:x", t(2, 2)).await;
    assert!(x.abandoned.is_empty(), "{x:?}");
    assert_eq!(x.last_slot, Some(t(1, 0)));
    assert_eq!(x.last_outcome.as_deref(), Some("superseded"));
    assert_eq!(x.last_ok_slot, None);
    let sup = x.last_superseded.expect("the superseded run");
    assert_eq!((sup.slot, sup.owner.as_str()), (t(1, 0), "dead"));
    assert_eq!(sup.finished_at, Some(t(2, 1)));
    assert_eq!(
        sup.detail.as_deref(),
        Some("left by dead; superseded by 02:00")
    );
    // Closed: nobody runs it any more, however late.
    assert!(
        !s.claim_job("sync:x", t(1, 0), "c", t(5, 0), lease)
            .await
            .unwrap()
    );
    // The job's runs from 01:00: the superseded one did not run; the later one runs.
    let runs = s.job_runs("sync:x", t(1, 0)).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(!runs[0].ran() && runs[0].finished_at.is_some());
    assert!(runs[1].live(t(2, 1)) && !runs[1].ran());
    assert!(
        s.finish_job("sync:x", t(2, 0), "b", t(2, 3), JobOutcome::Ok, "3 seen")
            .await
            .unwrap()
    );
    let x = state(s, "sync:x", t(2, 4)).await;
    assert_eq!(
        (x.last_slot, x.last_outcome.as_deref()),
        (Some(t(2, 0)), Some("ok"))
    );
    assert_eq!(
        x.last_superseded.map(|r| r.slot),
        Some(t(1, 0)),
        "the superseded run stays visible"
    );

    // A slot still under its lease is never superseded, a later slot or not; an abandoned one
    // of which no later slot was claimed is not either (it is run again instead).
    assert!(
        s.claim_job("sync:x", t(3, 0), "a", t(3, 0), lease)
            .await
            .unwrap()
    );
    assert!(
        s.claim_job("sync:x", t(3, 5), "b", t(3, 5), lease)
            .await
            .unwrap()
    );
    assert!(s.superseded_runs(t(3, 6)).await.unwrap().is_empty());
    let x = state(s, "sync:x", t(3, 6)).await;
    assert_eq!(x.running.as_ref().map(|r| r.slot), Some(t(3, 5)));
    assert!(x.abandoned.is_empty());
    let found = s.superseded_runs(t(3, 20)).await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|(l, r)| (l.slot, r.slot))
            .collect::<Vec<_>>(),
        vec![(t(3, 0), t(3, 5))],
        "03:05 is the latest: abandoned, not superseded"
    );
    let x = state(s, "sync:x", t(3, 20)).await;
    assert_eq!(x.running, None);
    assert_eq!(
        x.abandoned
            .iter()
            .map(|a| (a.slot, a.superseded_by))
            .collect::<Vec<_>>(),
        vec![(t(3, 0), Some(t(3, 5))), (t(3, 5), None)]
    );
    // A run closed as superseded is a finished run for pruning: older ones go.
    assert!(
        s.supersede_job("sync:x", t(3, 0), "a", t(3, 20), "superseded")
            .await
            .unwrap()
    );
    s.prune_job_runs(t(3, 1)).await.unwrap();
    let runs = s.job_runs("sync:x", t(0, 0)).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.slot).collect::<Vec<_>>(),
        vec![t(3, 0), t(3, 5)],
        "01:00 and 02:00 pruned, the latest finished and the unfinished kept"
    );
}

#[tokio::test]
async fn sqlite_abandoned_slots() {
    let tmp = common::temp_sqlite();
    let s = common::open(&tmp.url).await;
    abandoned_slots_are_not_running_and_are_closed_as_superseded(s.as_ref()).await;
}

#[tokio::test]
async fn postgres_abandoned_slots() {
    let Some(db) = common::fresh_pg("the PostgreSQL abandoned slots").await else {
        return;
    };
    let s = common::open(&db.url).await;
    abandoned_slots_are_not_running_and_are_closed_as_superseded(s.as_ref()).await;
}

#[tokio::test]
async fn sqlite_job_slots() {
    let tmp = common::temp_sqlite();
    let s = common::open(&tmp.url).await;
    slots_are_claimed_once_and_taken_over_only_after_their_lease(s.as_ref()).await;
}

#[tokio::test]
async fn postgres_job_slots() {
    let Some(db) = common::fresh_pg("the PostgreSQL job slots").await else {
        return;
    };
    let s = common::open(&db.url).await;
    slots_are_claimed_once_and_taken_over_only_after_their_lease(s.as_ref()).await;
}

#[tokio::test]
async fn postgres_replicas_racing_for_one_slot_get_it_once() {
    let Some(db) = common::fresh_pg("the PostgreSQL slot race").await else {
        return;
    };
    let first = common::open(&db.url).await;
    drop(first);
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(std::sync::Arc::<dyn Store>::from(
            common::open(&db.url).await,
        ));
    }
    for round in 0..20u32 {
        let slot = t(1, 0) + TimeDelta::minutes(i64::from(round));
        let tasks: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.claim_job(
                        "evaluate",
                        slot,
                        &format!("r{i}"),
                        slot,
                        TimeDelta::seconds(600),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "round {round}: {won} replicas claimed one slot");
    }
}
