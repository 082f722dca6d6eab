//! [`Store`]'s methods: opening a database, and every method of the contract, passed on
//! to the backend that holds it. A `match` on a closed enum: the compiler sees every
//! backend, inlines the call, and a new backend is a compile error here until it is
//! handled.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::location::Location;
use super::postgres::Postgres;
use super::records::{Copied, Sink};
use super::signal::ChangeSignal;
use super::sqlite::Sqlite;
use super::{
    AdminEvent, Backend, BackupReport, Configuration, Credential, Error, EventLog, Import,
    NewToken, OldTokenEnd, OpenMode, Pruned, PrunedTokens, Result, Revision, Revocation, SameName,
    Store, TokenChange, TokenFilter, TokenRecord, Tokens, UsageCounters, WarningSink,
};
use crate::rate_limit::RateLimit;
use crate::settings::Settings;
use crate::token::TokenHash;
use crate::usage::{AnomalyFacts, Batch, DayUsage, IpUsage, Requests, StrangerUsage, WindowTotals};

impl Store {
    /// Opens (and with [`OpenMode::Create`], creates) the database at `location`: an
    /// SQLite file, or tokenctl's schema in a PostgreSQL database.
    pub fn open(location: impl Into<Location>, mode: OpenMode) -> Result<Store> {
        Ok(match location.into() {
            Location::File(path) => Store::Sqlite(Sqlite::open(&path, mode)?),
            Location::Postgres(url) => Store::Postgres(Postgres::open(&url, mode)?),
        })
    }

    /// Opens the database for `serve`: as [`OpenMode::Existing`], except that a PostgreSQL
    /// server that cannot be reached (now, or without `connect_now` at all) is opened on
    /// first use instead, and fails every use until then (see `Postgres::open_serving`);
    /// with why it could not be reached now.
    pub fn open_serving(location: &Location, connect_now: bool) -> Result<(Store, Option<Error>)> {
        Ok(match location {
            Location::File(path) => (Store::Sqlite(Sqlite::open(path, OpenMode::Existing)?), None),
            Location::Postgres(url) => {
                let (store, unreached) = Postgres::open_serving(url, connect_now)?;
                (Store::Postgres(store), unreached)
            }
        })
    }

    /// Whether there is a tokenctl database at `location` (a PostgreSQL server is asked
    /// whether tokenctl's schema is there).
    pub fn exists(location: &Location) -> Result<bool> {
        match location {
            Location::File(path) => Ok(path.exists()),
            Location::Postgres(url) => Postgres::exists(url),
        }
    }

    /// An in-memory database with the current schema, for tests.
    pub fn open_in_memory() -> Result<Store> {
        Ok(Store::Sqlite(Sqlite::open_in_memory()?))
    }

    /// See [`Backend::in_one_snapshot`].
    #[inline]
    pub fn in_one_snapshot<T>(&self, reads: impl FnOnce() -> T) -> Result<T> {
        match self {
            Store::Sqlite(s) => s.in_one_snapshot(reads),
            Store::Postgres(p) => p.in_one_snapshot(reads),
        }
    }

    /// Copies every record of this database into the empty database at `dest`, read in
    /// one snapshot and written in one transaction: see [`Backend::export`] and
    /// [`Import::import_into_empty`]. Changes nothing here.
    pub fn copy_to(&self, dest: &Location, actor: &str, now: DateTime<Utc>) -> Result<Copied> {
        if dest == self.location() {
            return Err(Error::invalid(format!(
                "{dest} is the database itself; give another destination"
            )));
        }
        let copied = Copied::new(self.location().to_string(), dest.to_string());
        let mut source = |sink: Sink<'_>| self.export(sink);
        match dest {
            Location::File(path) => {
                Sqlite::import_into_empty(path, &mut source, copied, actor, now)
            }
            Location::Postgres(url) => {
                Postgres::import_into_empty(url, &mut source, copied, actor, now)
            }
        }
    }

    /// See [`Backend::report_warnings_to`].
    pub fn report_warnings_to(&mut self, sink: WarningSink) {
        match self {
            Store::Sqlite(s) => s.report_warnings_to(sink),
            Store::Postgres(p) => p.report_warnings_to(sink),
        }
    }
}

/// Methods of `$family` that read (`&self`) and that write (`&mut self`), each passed on
/// to the backend, documented by a link to the contract.
macro_rules! dispatch {
    (
        $family:ident
        reading { $(fn $r:ident($($ra:ident: $rt:ty),*) -> $rr:ty;)* }
        writing { $(fn $w:ident($($wa:ident: $wt:ty),*) -> $wr:ty;)* }
    ) => {
        impl Store {
            $(
                #[doc = concat!("See [`", stringify!($family), "::", stringify!($r), "`].")]
                #[inline]
                pub fn $r(&self, $($ra: $rt),*) -> $rr {
                    match self {
                        Store::Sqlite(s) => s.$r($($ra),*),
                        Store::Postgres(p) => p.$r($($ra),*),
                    }
                }
            )*
            $(
                #[doc = concat!("See [`", stringify!($family), "::", stringify!($w), "`].")]
                #[inline]
                pub fn $w(&mut self, $($wa: $wt),*) -> $wr {
                    match self {
                        Store::Sqlite(s) => s.$w($($wa),*),
                        Store::Postgres(p) => p.$w($($wa),*),
                    }
                }
            )*
        }
    };
}

dispatch! {
    Backend
    reading {
        fn location() -> &Location;
        fn revision() -> Result<Revision>;
        fn change_signal() -> Option<Arc<ChangeSignal>>;
        fn check_same_database() -> Result<()>;
        fn health() -> Result<()>;
        fn schema_version() -> Result<i64>;
        fn export(sink: Sink<'_>) -> Result<()>;
    }
    writing {
        fn take_warnings() -> Vec<String>;
        fn backup_to(dest: &Path, replace: bool, actor: &str, now: DateTime<Utc>) -> Result<BackupReport>;
    }
}

dispatch! {
    Tokens
    reading {
        fn credential_by_hash(hash: &TokenHash) -> Result<Option<Credential>>;
        fn find_by_hash(hash: &TokenHash) -> Result<Option<TokenRecord>>;
        fn token(id: &str) -> Result<Option<TokenRecord>>;
        fn resolve(reference: &str, now: DateTime<Utc>) -> Result<TokenRecord>;
        fn find_name(ascii_starts: &[u8], wanted: &mut dyn FnMut(&str) -> bool) -> Result<Option<String>>;
        fn active_named(name: &str, now: DateTime<Utc>) -> Result<Vec<TokenRecord>>;
        fn active_ids_named(name: &str, now: DateTime<Utc>, newest: u32) -> Result<SameName>;
        fn list_tokens(filter: &TokenFilter, now: DateTime<Utc>) -> Result<Vec<TokenRecord>>;
        fn each_token(filter: &TokenFilter, now: DateTime<Utc>, each: &mut dyn FnMut(TokenRecord) -> Result<()>) -> Result<()>;
        fn rotation_chain(id: &str) -> Result<Vec<TokenRecord>>;
    }
    writing {
        fn create_token(new: &NewToken, actor: &str, now: DateTime<Utc>) -> Result<TokenRecord>;
        fn create_tokens(new: &[NewToken], actor: &str, now: DateTime<Utc>) -> Result<Vec<TokenRecord>>;
        fn revoke_token(id: &str, reason: Option<&str>, actor: &str, now: DateTime<Utc>) -> Result<Revocation>;
        fn revoke_tokens(ids: &[&str], reason: Option<&str>, actor: &str, now: DateTime<Utc>) -> Result<Vec<Revocation>>;
        fn prune_tokens(before: DateTime<Utc>, dry_run: bool, actor: &str, now: DateTime<Utc>) -> Result<PrunedTokens>;
        fn rotate_token(
            old_id: &str, new: &NewToken, end: OldTokenEnd, actor: &str, now: DateTime<Utc>
        ) -> Result<(TokenRecord, TokenRecord)>;
        fn suspend_token(id: &str, reason: Option<&str>, actor: &str, now: DateTime<Utc>) -> Result<TokenChange>;
        fn suspend_tokens(ids: &[&str], reason: Option<&str>, actor: &str, now: DateTime<Utc>) -> Result<Vec<TokenChange>>;
        fn resume_token(id: &str, actor: &str, now: DateTime<Utc>) -> Result<TokenChange>;
        fn resume_tokens(ids: &[&str], actor: &str, now: DateTime<Utc>) -> Result<Vec<TokenChange>>;
        fn set_rate_limit(id: &str, limit: Option<RateLimit>, actor: &str, now: DateTime<Utc>) -> Result<TokenChange>;
    }
}

dispatch! {
    UsageCounters
    reading {
        fn all_requests(now: DateTime<Utc>) -> Result<HashMap<i64, Requests>>;
        fn token_requests(key: i64, now: DateTime<Utc>) -> Result<Requests>;
        fn token_ips(key: i64, since: DateTime<Utc>, seen_only: bool) -> Result<Vec<IpUsage>>;
        fn daily_usage(key: Option<i64>, since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<DayUsage>>;
        fn window_totals(since: DateTime<Utc>) -> Result<HashMap<i64, WindowTotals>>;
        fn stranger_usage(since: DateTime<Utc>) -> Result<Vec<StrangerUsage>>;
        fn anomaly_facts(key: Option<i64>, now: DateTime<Utc>) -> Result<AnomalyFacts>;
    }
    writing {
        fn record_usage(batch: &Batch) -> Result<()>;
        fn prune_usage(before: DateTime<Utc>, dry_run: bool, actor: &str, now: DateTime<Utc>) -> Result<Pruned>;
    }
}

dispatch! {
    EventLog
    reading {
        fn events(token_id: Option<&str>, since: Option<DateTime<Utc>>) -> Result<Vec<AdminEvent>>;
    }
    writing {}
}

dispatch! {
    Configuration
    reading {
        fn settings() -> Result<Settings>;
    }
    writing {
        fn set_setting(key: &str, value: &str, actor: &str, now: DateTime<Utc>) -> Result<String>;
    }
}
