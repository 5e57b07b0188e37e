//! The outbox of the store.
//!
//! The [`Outbox`] contract (queue with dedupe, claim under a lease, complete with an audit row,
//! cancel what was closed before it left), written once as `async fn(&dyn Store)` cases and run
//! against a temporary SQLite file and a fresh PostgreSQL database by the `outbox_cases!` macro
//! below. PostgreSQL tests print SKIPPED when the server is unreachable (and fail instead under
//! LIANDONG_REQUIRE_DBS=1). The last test, two claimers racing over one PostgreSQL database, runs
//! on PostgreSQL only.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use liandong::store::outbox::{Completion, NewMessage, NoticeKey, OutboxMessage};
use liandong::store::{EvaluatedFinding, FindingFilter, Store};

use crate::common;

/// 2025-10-13 09:00 Asia/Shanghai.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, 13, 1, 0, 0).unwrap()
}

/// The fixed test time plus `secs` seconds.
fn t(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn lease() -> TimeDelta {
    TimeDelta::seconds(60)
}

/// A notice about a finding (`Some(key)`) or an obligation (`None`).
fn notice(key: &str, finding: Option<&str>) -> NoticeKey {
    NoticeKey {
        key: key.to_string(),
        item: match finding {
            Some(f) => format!("finding:{f}"),
            None => "obligation:report:scjg:2025-09".to_string(),
        },
        finding_key: finding.map(str::to_string),
        stage: "due_soon".to_string(),
    }
}

/// A digest e-mail to the head of the market regulator, leaving at `not_before`.
fn message(dedupe: &str, not_before: DateTime<Utc>, notices: Vec<NoticeKey>) -> NewMessage {
    NewMessage {
        dedupe_key: dedupe.to_string(),
        channel: "email".to_string(),
        address: "juzhang@scjg.example.gov.cn".to_string(),
        recipient: "王局长（县市场监管局）".to_string(),
        unit_id: Some("scjg".to_string()),
        kind: "digest".to_string(),
        subject: format!("府检联动提醒 {dedupe}"),
        body: format!("正文「{dedupe}」 'q' \"d\""),
        payload: Some(format!("<p>{dedupe}</p>")),
        not_before,
        notices,
    }
}

fn keys(ks: &[&str]) -> Vec<String> {
    ks.iter().map(|k| k.to_string()).collect()
}

fn set(ks: &[&str]) -> HashSet<String> {
    ks.iter().map(|k| k.to_string()).collect()
}

/// Every message, newest first.
async fn all_messages(store: &dyn Store) -> Vec<OutboxMessage> {
    store.outbox_messages(None, 10_000).await.unwrap()
}

async fn get(store: &dyn Store, id: i64) -> OutboxMessage {
    all_messages(store)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .unwrap_or_else(|| panic!("no message {id}"))
}

async fn state_of(store: &dyn Store, id: i64) -> String {
    get(store, id).await.state
}

async fn counts(store: &dyn Store) -> Vec<(String, i64)> {
    store.outbox_counts().await.unwrap()
}

fn pairs(ps: &[(&str, i64)]) -> Vec<(String, i64)> {
    ps.iter().map(|(s, n)| (s.to_string(), *n)).collect()
}

/// Enqueues messages that must go in without a race and returns their ids.
async fn enqueue_ok(store: &dyn Store, messages: &[NewMessage], at: DateTime<Utc>) -> Vec<i64> {
    let e = store.enqueue(messages, at).await.unwrap();
    assert!(!e.raced, "unexpected race enqueuing {messages:?}");
    assert_eq!(e.ids.len(), messages.len());
    e.ids
}

async fn claim(store: &dyn Store, owner: &str, now: DateTime<Utc>) -> Vec<OutboxMessage> {
    store
        .claim_messages(owner, now, now, lease(), 10)
        .await
        .unwrap()
}

fn ids(ms: &[OutboxMessage]) -> Vec<i64> {
    ms.iter().map(|m| m.id).collect()
}

// ---------------------------------------------------------------------------------------------
// The cases.

async fn enqueue_writes_once_and_a_race_writes_nothing(store: &dyn Store) {
    assert!(store.queued_notices(&[]).await.unwrap().is_empty());
    let m1 = message(
        "d1",
        t(0),
        vec![
            notice("n1a", Some("R1|scjg|K9")),
            notice("n1b", Some("R1|scjg|K11")),
        ],
    );
    let m2 = message("d2", t(30), vec![notice("n2a", None)]);
    let e = store
        .enqueue(&[m1.clone(), m2.clone()], t(-5))
        .await
        .unwrap();
    assert!(!e.raced);
    assert_eq!(e.ids.len(), 2);
    assert_ne!(e.ids[0], e.ids[1]);
    let (id1, id2) = (e.ids[0], e.ids[1]);

    assert_eq!(
        store
            .queued_notices(&keys(&["n1a", "n1b", "n2a", "unknown"]))
            .await
            .unwrap(),
        set(&["n1a", "n1b", "n2a"])
    );
    assert!(
        store
            .queued_notices(&keys(&["unknown"]))
            .await
            .unwrap()
            .is_empty()
    );

    // What was written reads back, newest first.
    let listed = all_messages(store).await;
    assert_eq!(ids(&listed), [id2, id1]);
    let r1 = &listed[1];
    assert_eq!(r1.dedupe_key, "d1");
    assert_eq!(
        (r1.channel.as_str(), r1.address.as_str()),
        ("email", "juzhang@scjg.example.gov.cn")
    );
    assert_eq!(r1.recipient, m1.recipient);
    assert_eq!(r1.unit_id.as_deref(), Some("scjg"));
    assert_eq!(r1.kind, "digest");
    assert_eq!((&r1.subject, &r1.body), (&m1.subject, &m1.body));
    assert_eq!(r1.payload.as_deref(), Some("<p>d1</p>"));
    assert_eq!(r1.items, 2);
    assert_eq!(r1.state, "pending");
    assert_eq!(r1.attempts, 0);
    assert_eq!(r1.not_before, t(0));
    assert_eq!((r1.created_at, r1.updated_at), (t(-5), t(-5)));
    assert_eq!(
        (
            &r1.lease_owner,
            r1.lease_until,
            &r1.last_error,
            &r1.provider_id,
            r1.sent_at
        ),
        (&None, None, &None, &None, None)
    );
    assert_eq!(listed[0].items, 1);
    assert_eq!(listed[0].not_before, t(30));

    // The same dedupe key again: raced, nothing written, not even its fresh notice.
    let again = message("d1", t(0), vec![notice("n9", Some("R1|scjg|K9"))]);
    let e = store.enqueue(&[again], t(1)).await.unwrap();
    assert!(e.raced);
    assert!(e.ids.is_empty());
    assert_eq!(all_messages(store).await.len(), 2);
    assert!(
        store
            .queued_notices(&keys(&["n9"]))
            .await
            .unwrap()
            .is_empty()
    );

    // A fresh dedupe key carrying a notice already queued: raced, the whole transaction undone.
    let overlap = message(
        "d3",
        t(0),
        vec![notice("n3a", None), notice("n1a", Some("R1|scjg|K9"))],
    );
    let e = store.enqueue(&[overlap], t(2)).await.unwrap();
    assert!(e.raced);
    assert!(e.ids.is_empty());
    assert_eq!(
        store.queued_notices(&keys(&["n3a", "n1a"])).await.unwrap(),
        set(&["n1a"])
    );
    assert_eq!(ids(&all_messages(store).await), [id2, id1]);

    // A clean message before a racing one in the same batch is rolled back with it.
    let clean = message("d4", t(0), vec![notice("n4a", None)]);
    let dup = message("d2", t(0), vec![notice("n4b", None)]);
    let e = store.enqueue(&[clean.clone(), dup], t(3)).await.unwrap();
    assert!(e.raced);
    assert!(e.ids.is_empty());
    assert!(
        store
            .queued_notices(&keys(&["n4a", "n4b"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(all_messages(store).await.len(), 2);
    assert_eq!(counts(store).await, pairs(&[("pending", 2)]));

    // After the races, the store still takes new messages.
    let ids4 = enqueue_ok(store, &[clean], t(4)).await;
    assert!(ids4[0] != id1 && ids4[0] != id2);
    assert_eq!(
        store.queued_notices(&keys(&["n4a"])).await.unwrap(),
        set(&["n4a"])
    );
    assert!(store.enqueue(&[], t(5)).await.unwrap().ids.is_empty());
    assert_eq!(counts(store).await, pairs(&[("pending", 3)]));
}

async fn a_claim_holds_a_lease_that_only_its_owner_may_complete(store: &dyn Store) {
    let first = message("c1", t(-10), vec![notice("c1n", None)]);
    let earlier = message("c2", t(-20), vec![notice("c2n", None)]);
    let future = message("c3", t(3600), vec![notice("c3n", None)]);
    let q = enqueue_ok(store, &[first, earlier, future], t(-30)).await;
    let (id1, id2, id3) = (q[0], q[1], q[2]);

    // Due messages, earliest first; the future one stays.
    let a = claim(store, "a", t(0)).await;
    assert_eq!(ids(&a), [id2, id1]);
    for m in &a {
        assert_eq!(m.state, "sending");
        assert_eq!(m.attempts, 1);
        assert_eq!(m.lease_owner.as_deref(), Some("a"));
        assert_eq!(m.lease_until, Some(t(60)));
        assert_eq!(m.updated_at, t(0));
    }
    assert_eq!(state_of(store, id3).await, "pending");
    assert_eq!(get(store, id1).await, a[1]);
    assert_eq!(
        counts(store).await,
        pairs(&[("pending", 1), ("sending", 2)])
    );

    // Under a's lease, b gets nothing; not even one second before it ends.
    assert!(claim(store, "b", t(0)).await.is_empty());
    assert!(claim(store, "b", t(59)).await.is_empty());

    // Once it expired, b takes both over: a second attempt.
    let b = claim(store, "b", t(61)).await;
    assert_eq!(ids(&b), [id2, id1]);
    for m in &b {
        assert_eq!(m.state, "sending");
        assert_eq!(m.attempts, 2);
        assert_eq!(m.lease_owner.as_deref(), Some("b"));
        assert_eq!(m.lease_until, Some(t(121)));
    }
    assert_eq!(state_of(store, id3).await, "pending");

    // a lost its lease: its completion is refused and leaves no trace.
    let sent_x = Completion::Sent {
        provider_id: Some("x".into()),
    };
    assert!(
        !store
            .complete_message(&a[1], "a", t(0), &sent_x, t(62))
            .await
            .unwrap()
    );
    assert!(store.deliveries(id1).await.unwrap().is_empty());
    assert_eq!(get(store, id1).await, b[1]);

    // b holds it.
    assert!(
        store
            .complete_message(&b[1], "b", t(61), &sent_x, t(63))
            .await
            .unwrap()
    );
    let m = get(store, id1).await;
    assert_eq!(m.state, "sent");
    assert_eq!(m.sent_at, Some(t(63)));
    assert_eq!(m.provider_id.as_deref(), Some("x"));
    assert_eq!(m.attempts, 2);
    assert_eq!((m.lease_owner, m.lease_until), (None, None));
    assert_eq!(m.last_error, None);
    assert_eq!(m.updated_at, t(63));
    let d = store.deliveries(id1).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message_id, id1);
    assert_eq!(d[0].outcome, "sent");
    assert_eq!(d[0].attempt, 2);
    assert_eq!(d[0].owner, "b");
    assert_eq!(d[0].provider_id.as_deref(), Some("x"));
    assert_eq!(d[0].error, None);
    assert_eq!((d[0].started_at, d[0].finished_at), (t(61), t(63)));
    assert_eq!(
        (d[0].channel.as_str(), d[0].address.as_str()),
        ("email", "juzhang@scjg.example.gov.cn")
    );

    // Completing it again, even by its last owner, is refused: it is no longer sending.
    assert!(
        !store
            .complete_message(&b[1], "b", t(61), &sent_x, t(64))
            .await
            .unwrap()
    );
    assert_eq!(store.deliveries(id1).await.unwrap().len(), 1);

    // A sent message is never claimed again, a due one with its lease expired is.
    let later = claim(store, "c", t(200)).await;
    assert_eq!(ids(&later), [id2]);
    assert_eq!(later[0].attempts, 3);
    assert_eq!(
        counts(store).await,
        pairs(&[("pending", 1), ("sending", 1), ("sent", 1)])
    );
}

async fn completions_retry_dead_and_defer(store: &dyn Store) {
    let q = enqueue_ok(
        store,
        &[
            message("r", t(0), vec![notice("rn", None)]),
            message("x", t(0), vec![notice("xn", None)]),
            message("f", t(0), vec![notice("fn", None)]),
        ],
        t(-1),
    )
    .await;
    let (retry, dead, defer) = (q[0], q[1], q[2]);
    let claimed = claim(store, "a", t(0)).await;
    assert_eq!(ids(&claimed), [retry, dead, defer]);

    let retry_at = t(600);
    let defer_at = t(3600);
    let outcomes = [
        Completion::Retry {
            at: retry_at,
            error: "connection reset".into(),
        },
        Completion::Dead {
            error: "550 no such mailbox".into(),
        },
        Completion::Defer {
            at: defer_at,
            reason: "outside the SMS window".into(),
        },
    ];
    for (m, c) in claimed.iter().zip(&outcomes) {
        assert!(store.complete_message(m, "a", t(0), c, t(1)).await.unwrap());
    }

    let r = get(store, retry).await;
    assert_eq!(r.state, "failed");
    assert_eq!(r.not_before.timestamp_millis(), retry_at.timestamp_millis());
    assert_eq!(r.last_error.as_deref(), Some("connection reset"));
    assert_eq!(r.attempts, 1);
    assert_eq!(
        (r.lease_owner, r.lease_until, r.sent_at),
        (None, None, None)
    );

    let x = get(store, dead).await;
    assert_eq!(x.state, "dead");
    assert_eq!(x.last_error.as_deref(), Some("550 no such mailbox"));
    assert_eq!(x.attempts, 1);
    assert_eq!(x.not_before, t(0));

    let f = get(store, defer).await;
    assert_eq!(f.state, "pending");
    assert_eq!(f.attempts, 0, "a deferral is not an attempt");
    assert_eq!(f.not_before.timestamp_millis(), defer_at.timestamp_millis());
    assert_eq!(f.last_error.as_deref(), Some("outside the SMS window"));
    assert_eq!((f.lease_owner, f.lease_until), (None, None));

    let outcome = |d: &liandong::store::outbox::Delivery| {
        (
            d.outcome.clone(),
            d.attempt,
            d.error.clone(),
            d.owner.clone(),
        )
    };
    let dd = store.deliveries(defer).await.unwrap();
    assert_eq!(
        dd.iter().map(outcome).collect::<Vec<_>>(),
        [(
            "deferred".to_string(),
            1,
            Some("outside the SMS window".to_string()),
            "a".to_string()
        )]
    );
    let dx = store.deliveries(dead).await.unwrap();
    assert_eq!(
        dx.iter().map(outcome).collect::<Vec<_>>(),
        [(
            "dead".to_string(),
            1,
            Some("550 no such mailbox".to_string()),
            "a".to_string()
        )]
    );
    assert_eq!(
        counts(store).await,
        pairs(&[("dead", 1), ("failed", 1), ("pending", 1)])
    );

    // The retry is due at its instant, not a second before.
    assert!(claim(store, "a", t(599)).await.is_empty());
    let again = claim(store, "a", retry_at).await;
    assert_eq!(ids(&again), [retry]);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("connection reset"));
    assert_eq!(
        counts(store).await,
        pairs(&[("dead", 1), ("pending", 1), ("sending", 1)])
    );
    assert!(
        store
            .complete_message(
                &again[0],
                "a",
                retry_at,
                &Completion::Sent { provider_id: None },
                t(601)
            )
            .await
            .unwrap()
    );
    let r = get(store, retry).await;
    assert_eq!(r.state, "sent");
    assert_eq!(r.provider_id, None);
    assert_eq!(r.sent_at, Some(t(601)));
    assert_eq!(
        store
            .deliveries(retry)
            .await
            .unwrap()
            .iter()
            .map(|d| (d.outcome.as_str(), d.attempt))
            .collect::<Vec<_>>(),
        [("failed", 1), ("sent", 2)]
    );

    // The deferred one leaves at its instant, and its first real attempt is attempt 1.
    assert!(claim(store, "a", t(3599)).await.is_empty());
    let deferred = claim(store, "a", defer_at).await;
    assert_eq!(ids(&deferred), [defer]);
    assert_eq!(deferred[0].attempts, 1);

    // The dead one is never claimed again.
    let much_later = t(30 * 86_400);
    assert!(
        claim(store, "z", much_later)
            .await
            .iter()
            .all(|m| m.id != dead)
    );
    assert_eq!(state_of(store, dead).await, "dead");
    assert_eq!(
        counts(store).await,
        pairs(&[("dead", 1), ("sending", 1), ("sent", 1)])
    );
}

async fn sent_since_counts_sent_deliveries_of_one_channel_and_address(store: &dyn Store) {
    let to = |dedupe: &str, channel: &str, address: &str| NewMessage {
        channel: channel.into(),
        address: address.into(),
        ..message(dedupe, t(0), vec![])
    };
    let q = enqueue_ok(
        store,
        &[
            to("s1", "sms", "13800000000"),
            to("s2", "sms", "13800000000"),
            to("s3", "sms", "13900000000"),
            to("s4", "email", "13800000000"),
            to("s5", "sms", "13800000000"),
            to("s6", "sms", "13800000000"),
        ],
        t(-1),
    )
    .await;
    let claimed = claim(store, "a", t(0)).await;
    assert_eq!(ids(&claimed), q);
    let sent = |p: &str| Completion::Sent {
        provider_id: Some(p.into()),
    };
    let plan = [
        (sent("p1"), t(60)),
        (
            Completion::Retry {
                at: t(300),
                error: "throttled".into(),
            },
            t(120),
        ),
        (sent("p3"), t(180)),
        (sent("p4"), t(240)),
        (
            Completion::Defer {
                at: t(86_400),
                reason: "daily limit".into(),
            },
            t(250),
        ),
        (
            Completion::Dead {
                error: "invalid number".into(),
            },
            t(260),
        ),
    ];
    for (m, (c, at)) in claimed.iter().zip(&plan) {
        assert!(store.complete_message(m, "a", t(0), c, *at).await.unwrap());
    }
    // s2 goes out on its second attempt.
    let retried = claim(store, "a", t(300)).await;
    assert_eq!(ids(&retried), [q[1]]);
    assert!(
        store
            .complete_message(&retried[0], "a", t(300), &sent("p2"), t(360))
            .await
            .unwrap()
    );

    let since = |channel: &'static str, address: &'static str, at: DateTime<Utc>| async move {
        store.sent_since(channel, address, at).await.unwrap()
    };
    assert_eq!(since("sms", "13800000000", t(0)).await, 2);
    assert_eq!(since("sms", "13800000000", t(60)).await, 2, "inclusive");
    assert_eq!(
        since("sms", "13800000000", t(60) + TimeDelta::milliseconds(1)).await,
        1
    );
    assert_eq!(since("sms", "13800000000", t(360)).await, 1);
    assert_eq!(since("sms", "13800000000", t(361)).await, 0);
    assert_eq!(since("sms", "13900000000", t(0)).await, 1);
    assert_eq!(since("email", "13800000000", t(0)).await, 1);
    assert_eq!(since("robot", "13800000000", t(0)).await, 0);
    assert_eq!(since("sms", "13700000000", t(0)).await, 0);
}

fn finding(key: &str, state: &str, due_day: u32) -> EvaluatedFinding {
    EvaluatedFinding {
        key: key.to_string(),
        rule: key.split('|').next().unwrap().to_string(),
        unit_id: "scjg".into(),
        case_key: Some(format!("K{due_day}")),
        case_no: Some(format!("稻市监罚〔2025〕{due_day}号")),
        due: Utc.with_ymd_and_hms(2025, 10, due_day, 16, 0, 0).unwrap(),
        arose_at: "2025-09-01T00:00:00+08:00".parse().unwrap(),
        satisfied_at: None,
        violated: false,
        state: state.into(),
        facts: "{}".into(),
        link: Some("none".into()),
    }
}

async fn cancel_closed_cancels_digests_whose_findings_all_closed(store: &dyn Store) {
    const A: &str = "R1|scjg|K9";
    const B: &str = "R1|scjg|K11";
    const C: &str = "R1|scjg|K12";
    store
        .apply_findings(
            &[
                finding(A, "due_soon", 9),
                finding(B, "upcoming", 11),
                finding(C, "overdue", 12),
            ],
            t(-100),
        )
        .await
        .unwrap();
    let open = store.findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(open.len(), 3);
    let id_a = open.iter().find(|f| f.key == A).unwrap().id;

    let later = t(3600);
    let alert = NewMessage {
        kind: "alert".into(),
        ..message("alert", later, vec![])
    };
    let q = enqueue_ok(
        store,
        &[
            message("mA", later, vec![notice("kA", Some(A))]),
            message("mB", later, vec![notice("kB", Some(B))]),
            message("mObl", later, vec![notice("kO", None)]),
            message(
                "mAB",
                later,
                vec![notice("kAB.a", Some(A)), notice("kAB.b", Some(B))],
            ),
            message(
                "mAO",
                later,
                vec![notice("kAO.a", Some(A)), notice("kAO.o", None)],
            ),
            message("mC", later, vec![notice("kC", Some(C))]),
            alert,
            // Two about A that leave now: one will fail, one stays in flight.
            message("mAfail", t(0), vec![notice("kAf", Some(A))]),
            message("mAsend", t(0), vec![notice("kAs", Some(A))]),
        ],
        t(-50),
    )
    .await;
    let (m_a, m_b, m_obl, m_ab, m_ao, m_c, m_alert, m_afail, m_asend) =
        (q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8]);

    let claimed = claim(store, "a", t(0)).await;
    assert_eq!(ids(&claimed), [m_afail, m_asend]);
    assert!(
        store
            .complete_message(
                &claimed[0],
                "a",
                t(0),
                &Completion::Retry {
                    at: t(7200),
                    error: "timeout".into()
                },
                t(1)
            )
            .await
            .unwrap()
    );

    // Every finding is open: nothing to cancel.
    assert_eq!(store.cancel_closed(t(2)).await.unwrap(), 0);

    // A is waived: the pending and the failed digest about A alone are cancelled.
    assert!(
        store
            .waive_finding(id_a, "tester", "why", t(10))
            .await
            .unwrap()
    );
    assert_eq!(store.cancel_closed(t(20)).await.unwrap(), 2);
    for id in [m_a, m_afail] {
        let m = get(store, id).await;
        assert_eq!(m.state, "cancelled", "{}", m.dedupe_key);
        assert_eq!(m.updated_at, t(20));
        assert!(
            m.last_error.as_deref().unwrap().contains("waived"),
            "{:?}",
            m.last_error
        );
    }
    for id in [m_b, m_obl, m_ab, m_ao, m_c, m_alert] {
        let m = get(store, id).await;
        assert_eq!(m.state, "pending", "{}", m.dedupe_key);
    }
    assert_eq!(state_of(store, m_asend).await, "sending");
    // Done is done.
    assert_eq!(store.cancel_closed(t(21)).await.unwrap(), 0);

    // B is resolved by the data (A stays waived, C open): the digests about B, or A and B, go.
    store
        .apply_findings(
            &[finding(B, "resolved", 11), finding(C, "overdue", 12)],
            t(30),
        )
        .await
        .unwrap();
    assert_eq!(store.cancel_closed(t(40)).await.unwrap(), 2);
    let states: Vec<(String, String)> = all_messages(store)
        .await
        .into_iter()
        .rev()
        .map(|m| (m.dedupe_key, m.state))
        .collect();
    let expected = [
        ("mA", "cancelled"),
        ("mB", "cancelled"),
        ("mObl", "pending"),
        ("mAB", "cancelled"),
        ("mAO", "pending"),
        ("mC", "pending"),
        ("alert", "pending"),
        ("mAfail", "cancelled"),
        // In flight: not pending or failed, so not cancelled.
        ("mAsend", "sending"),
    ];
    assert_eq!(
        states,
        expected
            .iter()
            .map(|(k, s)| (k.to_string(), s.to_string()))
            .collect::<Vec<_>>()
    );

    // However late, an alert without notices and a digest with an obligation stay.
    assert_eq!(store.cancel_closed(t(86_400)).await.unwrap(), 0);
    assert_eq!(
        counts(store).await,
        pairs(&[("cancelled", 4), ("pending", 4), ("sending", 1)])
    );

    // Cancelled messages never leave; the rest do once due (m_asend's lease has expired).
    let left: HashSet<i64> = store
        .claim_messages("a", t(86_400), t(86_400), lease(), 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, HashSet::from([m_obl, m_ao, m_c, m_alert, m_asend]));
}

macro_rules! outbox_cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    let tmp = crate::common::temp_sqlite();
                    let store = crate::common::open(&tmp.url).await;
                    assert_eq!(store.backend(), "sqlite");
                    super::$case(store.as_ref()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    let what = concat!("outbox store on PostgreSQL: ", stringify!($case));
                    let Some(db) = crate::common::fresh_pg(what).await else {
                        return;
                    };
                    // Declared after `db`, so the pool closes before the database is dropped.
                    let store = crate::common::open(&db.url).await;
                    assert_eq!(store.backend(), "postgres");
                    super::$case(store.as_ref()).await;
                }
            )*
        }
    };
}

/// Thousands of messages are queued a few statements at a time (more messages than one
/// statement carries, more notices than one chunk, a body past the byte budget): each comes
/// back with its own id, text and notices; one message whose notice was queued before, deep in
/// such a batch, undoes the whole batch.
async fn a_batch_of_thousands_is_queued_whole_or_not_at_all(store: &dyn Store) {
    let big_body = "长".repeat(3_000_000);
    let batch: Vec<NewMessage> = (0..1_203)
        .map(|i| {
            let notices = if i == 600 {
                (0..2_500)
                    .map(|n| notice(&format!("b{i}:{n}"), None))
                    .collect()
            } else {
                vec![
                    notice(&format!("b{i}:a"), Some(&format!("R1|scjg|B{i}"))),
                    notice(&format!("b{i}:b"), None),
                ]
            };
            let mut m = message(&format!("batch{i}"), t(i), notices);
            if i % 400 == 7 {
                m.body = big_body.clone();
                m.payload = None;
                m.unit_id = None;
            }
            m
        })
        .collect();
    // First a race deep in it: message 1,000 carries a notice queued before.
    enqueue_ok(
        store,
        &[message("early", t0(), vec![notice("b1000:b", None)])],
        t0(),
    )
    .await;
    let e = store.enqueue(&batch, t(1)).await.unwrap();
    assert!(e.raced);
    assert!(e.ids.is_empty());
    assert_eq!(all_messages(store).await.len(), 1);
    assert!(
        store
            .queued_notices(&keys(&["b0:a", "b600:0", "b1202:b"]))
            .await
            .unwrap()
            .is_empty()
    );

    // Without it, every message goes in, in order, each with its own notices.
    let mut batch = batch;
    batch[1000].notices.pop();
    let ids = enqueue_ok(store, &batch, t(2)).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), batch.len());
    let stored: std::collections::HashMap<i64, OutboxMessage> = all_messages(store)
        .await
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    for (m, id) in batch.iter().zip(&ids) {
        let s = &stored[id];
        assert_eq!(
            (
                &s.dedupe_key,
                &s.body,
                &s.payload,
                &s.unit_id,
                s.items,
                s.not_before
            ),
            (
                &m.dedupe_key,
                &m.body,
                &m.payload,
                &m.unit_id,
                m.notices.len() as i64,
                m.not_before
            )
        );
    }
    let all_keys: Vec<String> = batch
        .iter()
        .flat_map(|m| m.notices.iter().map(|n| n.key.clone()))
        .collect();
    assert_eq!(all_keys.len(), 1_202 * 2 - 1 + 2_500);
    assert_eq!(
        store.queued_notices(&all_keys).await.unwrap().len(),
        all_keys.len()
    );
}

/// A planner that queues one message per open finding it is shown, whose notices are new.
struct OnePerFinding {
    seen: std::sync::Mutex<Vec<String>>,
}

impl liandong::store::outbox::Planner for OnePerFinding {
    fn due(&self, open: &[liandong::store::StoredFinding]) -> Vec<String> {
        *self.seen.lock().unwrap() = open.iter().map(|f| f.key.clone()).collect();
        open.iter().map(|f| format!("n:{}", f.key)).collect()
    }

    fn messages(
        &self,
        open: &[liandong::store::StoredFinding],
        queued: &HashSet<String>,
    ) -> Result<Vec<NewMessage>, String> {
        Ok(open
            .iter()
            .filter(|f| !queued.contains(&format!("n:{}", f.key)))
            .map(|f| {
                message(
                    &format!("m:{}", f.key),
                    t0(),
                    vec![notice(&format!("n:{}", f.key), Some(&f.key))],
                )
            })
            .collect())
    }
}

async fn an_evaluation_queues_its_notices_in_its_own_transaction(store: &dyn Store) {
    use liandong::store::Evaluation;
    let planner = OnePerFinding {
        seen: Default::default(),
    };
    let apply = |findings: Vec<EvaluatedFinding>| Evaluation {
        findings: Box::leak(findings.into_boxed_slice()),
        scope: None,
        at: t0(),
        due_soon: TimeDelta::days(3),
        pool: &[],
        seekers: &[],
        state: None,
        planner: Some(&planner),
    };
    store
        .apply_evaluation(&apply(vec![
            finding("R1|scjg|K9", "due_soon", 9),
            finding("R1|scjg|K11", "upcoming", 11),
        ]))
        .await
        .unwrap();
    // The planner saw the findings as the evaluation left them, inside its transaction.
    let mut seen = planner.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["R1|scjg|K11", "R1|scjg|K9"]);
    let queued = all_messages(store).await;
    assert_eq!(queued.len(), 2);
    assert_eq!(
        store
            .queued_notices(&keys(&["n:R1|scjg|K9", "n:R1|scjg|K11"]))
            .await
            .unwrap(),
        set(&["n:R1|scjg|K9", "n:R1|scjg|K11"])
    );
    // Again, with one finding resolved (no longer produced) and a new one: only the new one is
    // queued; the resolved one is not shown to the planner.
    store
        .apply_evaluation(&apply(vec![
            finding("R1|scjg|K9", "due_soon", 9),
            finding("R1|scjg|K12", "overdue", 12),
        ]))
        .await
        .unwrap();
    let mut seen = planner.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["R1|scjg|K12", "R1|scjg|K9"]);
    let queued = all_messages(store).await;
    assert_eq!(queued.len(), 3);
    assert!(queued.iter().any(|m| m.dedupe_key == "m:R1|scjg|K12"));
}

outbox_cases!(
    an_evaluation_queues_its_notices_in_its_own_transaction,
    enqueue_writes_once_and_a_race_writes_nothing,
    a_claim_holds_a_lease_that_only_its_owner_may_complete,
    completions_retry_dead_and_defer,
    sent_since_counts_sent_deliveries_of_one_channel_and_address,
    cancel_closed_cancels_digests_whose_findings_all_closed,
    a_batch_of_thousands_is_queued_whole_or_not_at_all,
);

/// Claims batches of 7 until none is left, completing each message as sent; returns the ids.
async fn drain(store: Box<dyn Store>, owner: &'static str) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let batch = store
            .claim_messages(owner, t(0), t(0), lease(), 7)
            .await
            .unwrap();
        if batch.is_empty() {
            return mine;
        }
        assert!(batch.len() <= 7, "{owner} claimed {}", batch.len());
        for m in &batch {
            assert_eq!(m.lease_owner.as_deref(), Some(owner));
            let sent = Completion::Sent {
                provider_id: Some(format!("{owner}-{}", m.id)),
            };
            assert!(
                store
                    .complete_message(m, owner, t(0), &sent, t(1))
                    .await
                    .unwrap(),
                "{owner} lost the lease of {}",
                m.id
            );
            mine.push(m.id);
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_claimers_never_take_the_same_message() {
    let Some(db) = common::fresh_pg("outbox store on PostgreSQL: two concurrent claimers").await
    else {
        return;
    };
    let store = common::open(&db.url).await;
    assert_eq!(store.backend(), "postgres");
    let messages: Vec<NewMessage> = (0..200)
        .map(|i| message(&format!("m{i}"), t(0), vec![notice(&format!("k{i}"), None)]))
        .collect();
    let all: HashSet<i64> = enqueue_ok(store.as_ref(), &messages, t(-1))
        .await
        .into_iter()
        .collect();
    assert_eq!(all.len(), 200);

    let one = common::open(&db.url).await;
    let two = common::open(&db.url).await;
    let a = tokio::spawn(drain(one, "host-a:1"));
    let b = tokio::spawn(drain(two, "host-b:2"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    eprintln!("claimer a took {}, claimer b took {}", a.len(), b.len());

    let sa: HashSet<i64> = a.iter().copied().collect();
    let sb: HashSet<i64> = b.iter().copied().collect();
    assert_eq!(sa.len(), a.len(), "a claimed a message twice");
    assert_eq!(sb.len(), b.len(), "b claimed a message twice");
    assert!(
        sa.is_disjoint(&sb),
        "claimed by both: {:?}",
        sa.intersection(&sb).collect::<Vec<_>>()
    );
    let union: HashSet<i64> = sa.union(&sb).copied().collect();
    assert_eq!(union.len(), 200);
    assert_eq!(union, all);

    assert_eq!(
        store.outbox_counts().await.unwrap(),
        pairs(&[("sent", 200)])
    );
    for m in store.outbox_messages(None, 1000).await.unwrap() {
        assert_eq!(m.state, "sent");
        assert_eq!(m.attempts, 1);
        let d = store.deliveries(m.id).await.unwrap();
        assert_eq!(d.len(), 1, "message {}", m.id);
        assert_eq!(d[0].outcome, "sent");
        assert_eq!(d[0].provider_id, m.provider_id);
        let owner = if sa.contains(&m.id) {
            "host-a:1"
        } else {
            "host-b:2"
        };
        assert_eq!(d[0].owner, owner);
    }
}
