//! One prepared statement driven through SQLite's C API, for the write path
//! only. sqlx boxes every bound value, rebuilds a multi-row statement's SQL
//! text per chunk and hands each statement to its worker thread; for a
//! week-long import (1 M serial lines, 600 k snapshots) that overhead was
//! most of the import's time. Binding straight into a statement prepared
//! once per transaction does the same SQL at a fraction of the cost.
//!
//! The handle comes from sqlx's `lock_handle`, which guarantees the worker
//! thread makes no calls on the connection while it is held; the statement
//! borrows that lock, so it is finalized before the lock is released and
//! the statements run inside the caller's open transaction.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use super::{Result, StoreError};

/// A connection locked out of sqlx's worker thread; statements borrow it.
pub(super) struct LockedDb<'lock> {
    db: NonNull<ffi::sqlite3>,
    _lock: PhantomData<&'lock mut ()>,
}

impl<'lock> LockedDb<'lock> {
    pub(super) fn new(handle: &'lock mut LockedSqliteHandle<'_>) -> Self {
        LockedDb {
            db: handle.as_raw_handle(),
            _lock: PhantomData,
        }
    }
}

/// How bound bytes are stored: as TEXT or as a BLOB.
#[derive(Clone, Copy)]
enum Bytes {
    Text,
    Blob,
}

/// A statement prepared on a locked connection. Parameters are 1-based,
/// as in SQLite; every parameter must be bound before each [`Self::run`].
pub(super) struct Prepared<'lock> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    _lock: PhantomData<&'lock ()>,
}

impl<'lock> Prepared<'lock> {
    pub(super) fn new(locked: &'lock LockedDb<'_>, sql: &str) -> Result<Self> {
        let db = locked.db;
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Conflict("statement text too long".into()))?;
        let mut stmt = ptr::null_mut();
        // SAFETY: `db` is a live connection held exclusively through the
        // lock; the SQL pointer and length describe a valid UTF-8 buffer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        check(db, rc)?;
        let stmt = NonNull::new(stmt)
            .ok_or_else(|| StoreError::Conflict(format!("empty statement: {sql}")))?;
        Ok(Prepared {
            db,
            stmt,
            _lock: PhantomData,
        })
    }

    pub(super) fn int(&mut self, index: c_int, value: i64) -> Result<()> {
        // SAFETY: the statement is live (finalized only in Drop).
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value) };
        check(self.db, rc)
    }

    pub(super) fn opt_int(&mut self, index: c_int, value: Option<i64>) -> Result<()> {
        match value {
            Some(v) => self.int(index, v),
            None => self.null(index),
        }
    }

    pub(super) fn text(&mut self, index: c_int, value: &str) -> Result<()> {
        self.bytes(index, value.as_bytes(), Bytes::Text)
    }

    pub(super) fn blob(&mut self, index: c_int, value: &[u8]) -> Result<()> {
        self.bytes(index, value, Bytes::Blob)
    }

    fn bytes(&mut self, index: c_int, value: &[u8], kind: Bytes) -> Result<()> {
        let len = c_int::try_from(value.len())
            .map_err(|_| StoreError::Conflict("value over 2 GB".into()))?;
        let (stmt, data) = (self.stmt.as_ptr(), value.as_ptr());
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy the bytes before the
        // call returns, so `value` need not outlive the binding; text is
        // a `&str`, so valid UTF-8.
        let rc = unsafe {
            match kind {
                Bytes::Text => {
                    ffi::sqlite3_bind_text(stmt, index, data.cast(), len, ffi::SQLITE_TRANSIENT())
                }
                Bytes::Blob => {
                    ffi::sqlite3_bind_blob(stmt, index, data.cast(), len, ffi::SQLITE_TRANSIENT())
                }
            }
        };
        check(self.db, rc)
    }

    pub(super) fn opt_text(&mut self, index: c_int, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.text(index, v),
            None => self.null(index),
        }
    }

    pub(super) fn null(&mut self, index: c_int) -> Result<()> {
        // SAFETY: the statement is live.
        let rc = unsafe { ffi::sqlite3_bind_null(self.stmt.as_ptr(), index) };
        check(self.db, rc)
    }

    /// Steps the statement to completion (it returns no rows) and resets it
    /// for the next set of bindings.
    pub(super) fn run(&mut self) -> Result<()> {
        // SAFETY: the statement is live; reset is valid after any step.
        let step = unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) };
        // The message is read before the reset, which may replace it.
        let result = match step {
            ffi::SQLITE_DONE | ffi::SQLITE_ROW => Ok(()),
            rc => check(self.db, rc),
        };
        // SAFETY: as above.
        unsafe { ffi::sqlite3_reset(self.stmt.as_ptr()) };
        result
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        // SAFETY: finalized exactly once, while the connection lock is held.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// Turns a result code into the connection's error message.
fn check(db: NonNull<ffi::sqlite3>, rc: c_int) -> Result<()> {
    if rc == ffi::SQLITE_OK || rc == ffi::SQLITE_DONE {
        return Ok(());
    }
    // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the
    // connection, valid until the next call on it; it is copied at once.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned();
    Err(StoreError::Sqlite { code: rc, message })
}

/// Rows per statement for [`RowInsert`]: one step then inserts many rows,
/// so SQLite opens its cursors (and seeks from the root) once per chunk
/// instead of once per row.
const ROWS_PER_STATEMENT: usize = 64;

/// An `INSERT` of many rows of `cols` columns: a statement for a full
/// chunk of rows and one for a single row (the remainder).
pub(super) struct RowInsert<'lock> {
    many: Prepared<'lock>,
    one: Prepared<'lock>,
    cols: c_int,
}

impl<'lock> RowInsert<'lock> {
    /// `head` is the statement up to `VALUES`; `tail` follows the values
    /// (an `ON CONFLICT` clause, or empty).
    pub(super) fn new(
        db: &'lock LockedDb<'_>,
        head: &str,
        cols: usize,
        tail: &str,
    ) -> Result<Self> {
        let row = format!("({})", vec!["?"; cols].join(", "));
        let many = vec![row.as_str(); ROWS_PER_STATEMENT].join(", ");
        Ok(RowInsert {
            many: Prepared::new(db, &format!("{head} VALUES {many} {tail}"))?,
            one: Prepared::new(db, &format!("{head} VALUES {row} {tail}"))?,
            cols: c_int::try_from(cols)
                .map_err(|_| StoreError::Conflict("too many columns".into()))?,
        })
    }

    /// Inserts every row; `bind` binds one row's columns from the given
    /// 1-based parameter index on.
    pub(super) fn insert_all<T>(
        &mut self,
        rows: &[T],
        mut bind: impl FnMut(&mut Prepared<'lock>, c_int, &T) -> Result<()>,
    ) -> Result<()> {
        let mut chunks = rows.chunks_exact(ROWS_PER_STATEMENT);
        for chunk in &mut chunks {
            for (base, row) in (0..).step_by(self.cols as usize).zip(chunk) {
                bind(&mut self.many, base + 1, row)?;
            }
            self.many.run()?;
        }
        for row in chunks.remainder() {
            bind(&mut self.one, 1, row)?;
            self.one.run()?;
        }
        Ok(())
    }
}
