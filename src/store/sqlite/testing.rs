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
