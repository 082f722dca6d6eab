//! The fast path against every way a revocation can reach it, or fail to: each step of a
//! revocation with a crash after it, the signal file gone or unusable, and a change
//! written behind tokenctl's back.

use super::*;
use crate::store::signal::ChangeSignal;
use crate::store::testing::{Step, revoke_in_steps};

struct Setup {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    admin: Store,
    id: String,
    secret: String,
}

/// Creates a token; returns its id and secret.
fn issue(admin: &mut Store, name: &str) -> (String, String) {
    let (made, record) = super::tests::new_token(admin, name);
    (record.id, made.secret.expose().to_string())
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut admin = Store::open(&path, OpenMode::Create).unwrap();
    let (id, secret) = issue(&mut admin, "t");
    Setup {
        _dir: dir,
        path,
        admin,
        id,
        secret,
    }
}

fn allowed(v: &mut Verifier, secret: &str) -> bool {
    v.verify(&Question::new(secret)).unwrap().is_allowed()
}

/// A verifier whose cache holds the token, proven current by the signal.
fn warm(path: &std::path::Path, secret: &str) -> Verifier {
    let mut v = Verifier::open(path).unwrap();
    assert!(allowed(&mut v, secret));
    let hash = token::parse(secret).unwrap().hash();
    assert!(
        matches!(v.cache.fast(&hash), Fast::Hit(_)),
        "the fast path is taken"
    );
    v
}

fn the_fast_path_holds(v: &Verifier, secret: &str) -> bool {
    let hash = token::parse(secret).unwrap().hash();
    matches!(v.cache.fast(&hash), Fast::Hit(_))
}

/// After every step of a revocation, and with the writer dying after any of them, the
/// verifier allows exactly while the revocation is not committed, and denies from the
/// commit on, whether or not the ticket was ever finished.
#[test]
fn a_revocation_is_seen_from_its_commit_whatever_step_its_writer_dies_after() {
    for dies_after in [None].into_iter().chain(Step::ALL.map(Some)) {
        let s = setup();
        let mut v = warm(&s.path, &s.secret);
        let mut seen = Vec::new();
        revoke_in_steps(&s.admin, &s.id, dies_after, |step| {
            let committed = step >= Step::Committed;
            assert_eq!(
                allowed(&mut v, &s.secret),
                !committed,
                "after {step:?} (dies after {dies_after:?})"
            );
            seen.push(step);
        });
        let committed = dies_after.is_none_or(|d| d >= Step::Committed);
        for _ in 0..3 {
            assert_eq!(allowed(&mut v, &s.secret), !committed, "{dies_after:?}");
        }
        // A writer that died holding a ticket leaves the signal unsettled: no fast path
        // until the next change finishes, which settles it again.
        let unsettled = matches!(
            dies_after,
            Some(Step::Ticket | Step::Written | Step::Committed)
        );
        assert_eq!(
            the_fast_path_holds(&v, &s.secret),
            !unsettled,
            "{dies_after:?}"
        );
        let mut admin = s.admin;
        issue(&mut admin, "next");
        assert_eq!(allowed(&mut v, &s.secret), !committed, "{dies_after:?}");
        assert!(the_fast_path_holds(&v, &s.secret), "{dies_after:?}");
    }
}

/// The signal file deleted under a running verifier, and made again, by the next
/// revocation or by a verifier: the verifier that mapped the old file does not see
/// tickets of the new one until its next look at the path, so a change committed while
/// the new file is younger than CHECK_INTERVAL waits out the interval before it returns.
/// Never allowed afterwards.
#[test]
fn a_new_signal_file_makes_changes_wait_until_verifiers_have_looked() {
    for made_by_a_verifier in [false, true] {
        let mut s = setup();
        let mut v = warm(&s.path, &s.secret);
        let signal = ChangeSignal::path_for(&s.path);
        std::fs::remove_file(&signal).unwrap();
        if made_by_a_verifier {
            let mut other = Verifier::open(&s.path).unwrap();
            assert!(allowed(&mut other, &s.secret));
            assert!(signal.exists());
        }
        let start = std::time::Instant::now();
        s.admin
            .revoke_token(&s.id, None, "test", crate::clock::now())
            .unwrap();
        assert!(start.elapsed() >= CHECK_INTERVAL, "{:?}", start.elapsed());
        assert!(!allowed(&mut v, &s.secret));
        // Once every verifier has looked, changes return at once again.
        let start = std::time::Instant::now();
        issue(&mut s.admin, "later");
        assert!(start.elapsed() < CHECK_INTERVAL, "{:?}", start.elapsed());
    }
}

/// A signal file nobody can use (something else is at its path): verifiers read the
/// revision for every request, and writers wait; every revocation is seen at once.
#[test]
fn an_unusable_signal_means_reading_the_database_every_time() {
    let mut s = setup();
    let signal = ChangeSignal::path_for(&s.path);
    std::fs::remove_file(&signal).unwrap();
    std::fs::write(&signal, vec![1u8; 4096]).unwrap();
    let mut v = Verifier::open(&s.path).unwrap();
    assert!(allowed(&mut v, &s.secret));
    assert!(!the_fast_path_holds(&v, &s.secret));
    s.admin
        .revoke_token(&s.id, None, "test", crate::clock::now())
        .unwrap();
    let warned = s.admin.take_warnings();
    assert!(
        warned.iter().any(|w| w.contains("change signal")),
        "{warned:?}"
    );
    assert!(!allowed(&mut v, &s.secret));
}

/// A revocation written by another program (no ticket) is seen within CHECK_INTERVAL,
/// through the revision the triggers move.
#[test]
fn a_change_behind_tokenctls_back_is_seen_within_the_check_interval() {
    let s = setup();
    let mut v = warm(&s.path, &s.secret);
    crate::store::testing::revoke_without_signal(&s.admin, &s.id);
    std::thread::sleep(CHECK_INTERVAL);
    assert!(!allowed(&mut v, &s.secret));
}

/// Verifiers sharing one cache (a server's threads) see a revocation through any of them.
#[test]
fn a_shared_cache_never_outlives_a_revocation() {
    let mut s = setup();
    let cache = Arc::new(CredentialCache::default());
    let mut a = Verifier::open(&s.path)
        .unwrap()
        .with_cache(Arc::clone(&cache));
    let b = Verifier::open(&s.path).unwrap().with_cache(cache);
    let decider = b.cached_decider();
    let question = Question::new(s.secret.as_str());
    assert!(allowed(&mut a, &s.secret));
    let (first, _) = decider
        .try_decide(&question, None, crate::clock::now())
        .expect("decided from the cache a filled");
    assert!(first.is_allowed());
    s.admin
        .revoke_token(&s.id, None, "test", crate::clock::now())
        .unwrap();
    assert!(
        decider
            .try_decide(&question, None, crate::clock::now())
            .is_none(),
        "the signal moved: the decider declines"
    );
    assert!(!allowed(&mut a, &s.secret));
    let (again, _) = decider
        .try_decide(&question, None, crate::clock::now())
        .expect("current again after a's refresh");
    assert!(!again.is_allowed());
}

/// Warming refreshes only when the fast path was used since the last time, and then
/// reopens its window, files checked and revision read.
#[test]
fn warming_reopens_a_used_fast_path() {
    let s = setup();
    let v = warm(&s.path, &s.secret);
    std::thread::sleep(CHECK_INTERVAL);
    assert!(!the_fast_path_holds(&v, &s.secret), "the window has ended");
    assert!(v.warm_cache().unwrap(), "used before: warms");
    assert!(!v.warm_cache().unwrap(), "not used since: nothing to do");
    assert!(
        the_fast_path_holds(&v, &s.secret),
        "the window is open again"
    );
}

/// A warming refresh is a refresh: it finds a change the signal did not carry, and the
/// cache no longer answers for the revoked token.
#[test]
fn warming_never_keeps_a_revoked_token() {
    let s = setup();
    let mut v = warm(&s.path, &s.secret);
    crate::store::testing::revoke_without_signal(&s.admin, &s.id);
    assert!(v.warm_cache().unwrap());
    assert!(!the_fast_path_holds(&v, &s.secret));
    assert!(!allowed(&mut v, &s.secret));
}
