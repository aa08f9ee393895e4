//! Leases in Redis on their own (`platform/cache/liveness.rs`): batched renewal keeps owners
//! online, and brings back exactly those whose leases had been swept; leases taken and ended
//! together are applied in their order.

use std::time::Duration;

use simplechat::platform::cache::{
    liveness::{LeaseStep, Liveness, Transition},
    Cache,
};

use crate::helpers::spawn_app;

/// The owners a renewal brought online; the renewal must succeed.
async fn renewed(leases: &Liveness, batch: &[(String, String)]) -> Vec<String> {
    let (came_online, result) = leases.renew(batch).await;
    result.unwrap();
    came_online
}

#[tokio::test]
async fn renewing_in_batches_reports_only_owners_that_had_gone_offline() {
    // The app only lends its Redis prefix, dropped with it; its own presence uses another family.
    let app = spawn_app().await;
    let cache = Cache::new(&app.redis_target(), &app.redis_prefix).unwrap();
    let leases = Liveness::new(cache, "test-leases", Duration::from_secs(60));

    assert!(
        leases.touch("ann", "l1").await.unwrap(),
        "a first lease brings its owner online"
    );
    assert_eq!(
        renewed(&leases, &[("ann".into(), "l1".into())]).await,
        Vec::<String>::new()
    );
    assert_eq!(leases.live(&["ann".into()]).await.unwrap(), vec![true]);

    // As if a sweep had taken the lease while this instance stalled: renewing restores it.
    assert!(leases.release("ann", "l1").await.unwrap().is_some());
    assert_eq!(leases.live(&["ann".into()]).await.unwrap(), vec![false]);
    assert_eq!(
        renewed(&leases, &[("ann".into(), "l1".into())]).await,
        vec!["ann".to_owned()]
    );
    assert_eq!(leases.live(&["ann".into()]).await.unwrap(), vec![true]);

    // More leases than one script call takes: every owner is renewed, each reported once.
    let many: Vec<(String, String)> = (0..1203)
        .map(|n| (format!("owner{n}"), format!("lease{n}")))
        .collect();
    let mut came_online = renewed(&leases, &many).await;
    came_online.sort();
    let mut owners: Vec<String> = many.iter().map(|(owner, _)| owner.clone()).collect();
    owners.sort();
    assert_eq!(came_online, owners);
    assert!(renewed(&leases, &many).await.is_empty());
    let live = leases.live(&owners).await.unwrap();
    assert!(
        live.iter().all(|online| *online),
        "every renewed owner is live"
    );
}

#[tokio::test]
async fn settling_a_going_offline_leaves_a_later_one_of_the_same_owner_owed() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.redis_target(), &app.redis_prefix).unwrap();
    let leases = Liveness::new(cache, "test-owed", Duration::from_secs(60));
    let go_offline = || async {
        leases.touch("ann", "lease").await.unwrap();
        leases.release("ann", "lease").await.unwrap().unwrap()
    };
    let first = go_offline().await;
    // A second going offline, at a later millisecond (as when another instance records it).
    let mut second = go_offline().await;
    while second.at_ms == first.at_ms {
        second = go_offline().await;
    }

    // The instance of the first announces it and settles: the second stays owed.
    leases.settle(&first).await.unwrap();
    assert_eq!(
        leases.take_owed(Duration::ZERO).await.unwrap(),
        vec![second]
    );
    assert!(leases.take_owed(Duration::ZERO).await.unwrap().is_empty());
}

fn take(owner: &str, lease: &str) -> LeaseStep {
    LeaseStep::Take {
        owner: owner.into(),
        lease: lease.into(),
    }
}

fn end(owner: &str, lease: &str) -> LeaseStep {
    LeaseStep::End {
        owner: owner.into(),
        lease: lease.into(),
    }
}

#[tokio::test]
async fn steps_applied_together_tell_each_its_own_transition_in_their_order() {
    let app = spawn_app().await;
    let cache = Cache::new(&app.redis_target(), &app.redis_prefix).unwrap();
    let leases = Liveness::new(cache, "test-steps", Duration::from_secs(60));

    let transitions = leases
        .apply(&[
            take("ann", "a1"),
            take("ann", "a2"),
            end("ann", "a1"),
            end("ann", "a2"),
            take("bob", "b1"),
            end("bob", "b1"),
            take("bob", "b2"),
        ])
        .await
        .unwrap();
    let kinds: Vec<&str> = transitions
        .iter()
        .map(|transition| match transition {
            Transition::None => "none",
            Transition::CameOnline => "online",
            Transition::WentOffline(_) => "offline",
        })
        .collect();
    assert_eq!(
        kinds,
        ["online", "none", "none", "offline", "online", "offline", "online"],
        "only a first lease brings its owner online and only a last one takes them offline"
    );
    let Transition::WentOffline(ann_offline) = &transitions[3] else {
        unreachable!()
    };
    assert_eq!(ann_offline.owner, "ann");
    assert_eq!(
        leases.live(&["ann".into(), "bob".into()]).await.unwrap(),
        [false, true]
    );
    // Both goings offline were recorded as owed; Bob's is owed nothing, as he is back.
    assert_eq!(
        leases.take_owed(Duration::ZERO).await.unwrap(),
        vec![ann_offline.clone()]
    );

    // More steps than one script call takes: every one is applied and answered, in order.
    let many: Vec<LeaseStep> = (0..1203)
        .map(|n| take(&format!("owner{n}"), &format!("lease{n}")))
        .collect();
    let transitions = leases.apply(&many).await.unwrap();
    assert_eq!(transitions.len(), many.len());
    assert!(transitions
        .iter()
        .all(|transition| *transition == Transition::CameOnline));
}
