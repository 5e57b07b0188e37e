//! The daemon's job slots in the store, on SQLite and PostgreSQL: a slot is claimed once, a
//! live lease keeps others out, a lease that ran out can be taken over, renewal and finishing
//! belong to the holder, a released slot can be claimed again, and pruning keeps each job's
//! latest run.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use liandong::store::Store;
use liandong::store::ops::JobOutcome;

use crate::common;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 13, h, m, 0).unwrap()
}

/// What the store says of `job`.
async fn state(s: &dyn Store, job: &str) -> liandong::store::ops::JobState {
    s.job_states()
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
    let states = s.job_states().await.unwrap();
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
    let ev = state(s, "evaluate").await;
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
    let ev = state(s, "evaluate").await;
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
    let states = s.job_states().await.unwrap();
    let ev = states.iter().find(|j| j.job == "evaluate").unwrap();
    assert_eq!(ev.last_slot, Some(t(2, 0)));
    assert_eq!(ev.last_ok_slot, None, "the good run was pruned");
    assert!(ev.running.is_some(), "the 03:00 run is live");
    assert!(!states.iter().any(|j| j.job == "sync:x"));
    assert!(!states.iter().any(|j| j.job == "notify"));
    s.ping().await.unwrap();
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
