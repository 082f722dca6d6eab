//! Test support for tests outside the backend: damage done to a database on purpose,
//! named for what it does, so that no SQL leaves `store/sqlite/`.

use crate::store::Store;

/// Breaks the database under `store`: its tokens table is gone, so every lookup of a
/// token fails with a storage error (as a damaged file would).
pub(crate) fn drop_tokens_table(store: &Store) {
    let Store::Sqlite(s) = store else {
        panic!("drop_tokens_table damages SQLite stores only")
    };
    s.conn_for_tests()
        .execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE tokens;")
        .expect("the tokens table dropped");
}

impl Store {
    /// The connection under the store, for the SQLite backend's own tests.
    pub(in crate::store::sqlite) fn conn_for_tests(&self) -> &rusqlite::Connection {
        let Store::Sqlite(s) = self else {
            panic!("conn_for_tests is for SQLite stores")
        };
        s.conn_for_tests()
    }
}

/// The steps of a credential change, in the order tokenctl takes them (see
/// `store::signal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    Locked,
    Ticket,
    Written,
    Committed,
    Finished,
}

impl Step {
    pub(crate) const ALL: [Step; 5] = [
        Step::Locked,
        Step::Ticket,
        Step::Written,
        Step::Committed,
        Step::Finished,
    ];
}

/// Revokes `id` as a credential change does, step by step, calling `at` after each; with
/// `dies_after`, stops there as a killed process would: an uncommitted transaction rolled
/// back (SQLite discards it when the process dies), the ticket never finished.
pub(crate) fn revoke_in_steps(
    store: &Store,
    id: &str,
    dies_after: Option<Step>,
    mut at: impl FnMut(Step),
) {
    let Store::Sqlite(s) = store else {
        panic!("revoke_in_steps is for SQLite stores")
    };
    let conn = s.conn_for_tests();
    let signal = s.open_signal().expect("the change signal");
    let died = |step: Step| dies_after == Some(step);
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    at(Step::Locked);
    let ticket = signal.begin();
    at(Step::Ticket);
    conn.execute(
        "UPDATE tokens SET revoked_at = unixepoch() - 1 WHERE id = ?1",
        [id],
    )
    .unwrap();
    at(Step::Written);
    if died(Step::Locked) || died(Step::Ticket) || died(Step::Written) {
        conn.execute_batch("ROLLBACK").unwrap();
        if died(Step::Locked) {
            // Died before the ticket: as if it had never been taken.
            signal.finish(ticket);
        }
        return;
    }
    conn.execute_batch("COMMIT").unwrap();
    at(Step::Committed);
    if died(Step::Committed) {
        return;
    }
    signal.finish(ticket);
    at(Step::Finished);
}

/// Revokes `id` as another program (the sqlite3 shell) would: the triggers move the
/// revision, but no ticket of the change signal is taken.
pub(crate) fn revoke_without_signal(store: &Store, id: &str) {
    store
        .conn_for_tests()
        .execute(
            "UPDATE tokens SET revoked_at = unixepoch() - 1 WHERE id = ?1",
            [id],
        )
        .unwrap();
}
