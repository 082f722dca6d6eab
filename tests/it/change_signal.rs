//! The change signal between processes: a long-lived library verifier that decides from
//! its cache, and `tokenctl` commands run beside it, finished or killed at any moment.

use std::time::Duration;

use tokenctl::store::signal::ChangeSignal;
use tokenctl::{Decision, DenyReason, OpenMode, Question, Store, Verifier};

use crate::common::TestEnv;

fn decided(v: &mut Verifier, secret: &str) -> Option<DenyReason> {
    match v.verify(&Question::new(secret)).unwrap() {
        Decision::Allowed(_) => None,
        Decision::Denied(d) => Some(d.reason),
    }
}

/// Each credential change made by another process (`revoke`, `suspend`, `resume`,
/// `rotate` without grace) is seen by the very next verification of a verifier that was
/// deciding from its cache, without a pause.
#[test]
fn every_change_by_another_process_reaches_the_next_verification() {
    let env = TestEnv::sqlite();
    let a = env.create("a", &["cases:read"], &[]);
    let b = env.create("b", &["cases:read"], &[]);
    let c = env.create("c", &["cases:read"], &[]);
    let mut v = Verifier::open(env.db()).unwrap();
    let warm = |v: &mut Verifier| {
        for _ in 0..1_000 {
            assert_eq!(decided(v, &a.secret), None);
        }
    };
    warm(&mut v);
    assert!(ChangeSignal::path_for(env.db()).exists());
    env.run(&["suspend", &b.id]).success();
    assert_eq!(decided(&mut v, &b.secret), Some(DenyReason::Suspended));
    warm(&mut v);
    env.run(&["resume", &b.id]).success();
    assert_eq!(decided(&mut v, &b.secret), None);
    warm(&mut v);
    env.run(&["rotate", &c.id, "--grace", "0", "--json"])
        .success();
    assert_eq!(decided(&mut v, &c.secret), Some(DenyReason::Revoked));
    warm(&mut v);
    env.run(&["revoke", &a.id, "--yes"]).success();
    assert_eq!(decided(&mut v, &a.secret), Some(DenyReason::Revoked));
}

/// `tokenctl revoke` killed (SIGKILL) at random moments, from before it opens the
/// database to after it commits: whenever the killed process left the token revoked, the
/// verifier denies it on its very next verification, and never allows it again.
#[test]
fn revokers_killed_at_any_moment_never_leave_a_revoked_token_allowed() {
    let env = TestEnv::sqlite();
    let tokens: Vec<_> = (0..24)
        .map(|i| env.create(&format!("t{i}"), &["cases:read"], &[]))
        .collect();
    let mut v = Verifier::open(env.db()).unwrap();
    let truth = Store::open(env.db(), OpenMode::Existing).unwrap();
    let mut killed_revoked = 0;
    for (i, t) in tokens.iter().enumerate() {
        for _ in 0..100 {
            assert_eq!(decided(&mut v, &t.secret), None);
        }
        let mut revoke = env.std_cmd();
        revoke
            .args(["revoke", &t.id, "--yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = revoke.spawn().unwrap();
        // From 0 to 23 ms: start-up, opening, the transaction, and after it.
        std::thread::sleep(Duration::from_micros(1_000 * i as u64));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let revoked = truth
            .token(&t.id)
            .unwrap()
            .expect("the token")
            .revoked_at
            .is_some();
        let expected = revoked.then_some(DenyReason::Revoked);
        for _ in 0..3 {
            assert_eq!(decided(&mut v, &t.secret), expected, "{status:?}");
        }
        if revoked && !status.success() {
            killed_revoked += 1;
        }
    }
    // Finished revocations: every token not yet revoked is denied at once.
    for t in &tokens {
        env.run(&["revoke", &t.id, "--yes"]).success();
        assert_eq!(decided(&mut v, &t.secret), Some(DenyReason::Revoked));
    }
    eprintln!("revocations killed after their commit: {killed_revoked}");
}

/// serve with its fast path, and with the fast path failing: the signal file deleted
/// while it runs, or replaced by something that is no signal. Every revocation made
/// through the CLI is refused on the very next request, with no pause in between.
#[test]
fn serve_refuses_revoked_tokens_at_once_whether_or_not_its_signal_works() {
    use crate::serve::{Server, auth, revoke};
    let env = TestEnv::sqlite();
    env.run(&["init"]).success();
    let signal = ChangeSignal::path_for(env.db());
    let server = Server::start(&env, &[]);
    let cases: [(&str, &dyn Fn()); 3] = [
        ("working", &|| {}),
        ("deleted", &|| std::fs::remove_file(&signal).unwrap()),
        ("foreign", &|| {
            let _ = std::fs::remove_file(&signal);
            std::fs::write(&signal, vec![b'x'; 4096]).unwrap();
        }),
    ];
    for (case, break_it) in cases {
        let t = env.create(case, &["cases:read"], &[]);
        for _ in 0..200 {
            auth(server.addr, &t.secret, "GET", "/api/cases/1").expect(200);
        }
        break_it();
        auth(server.addr, &t.secret, "GET", "/api/cases/1").expect(200);
        revoke(&env, &t.id);
        auth(server.addr, &t.secret, "GET", "/api/cases/1").unauthorized();
    }
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}
