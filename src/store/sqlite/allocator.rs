//! Which allocator SQLite takes its memory from: the C library's malloc unless a program
//! names another (as tokenctl's binary names mimalloc, its Rust allocator) before SQLite
//! is first used.

use std::ffi::{c_int, c_void};

use rusqlite::ffi;

/// An allocator with C's interface, for SQLite.
///
/// # Safety
///
/// `malloc` and `realloc` return null or a block of at least the size asked for, aligned
/// to 8 bytes; `realloc` leaves the old block valid when it fails; `free` and
/// `usable_size` take only blocks these returned (or null, for `free`); `usable_size`
/// tells a block's size, at least what was asked for. All may be called from any thread.
pub unsafe trait CAllocator {
    fn malloc(size: usize) -> *mut c_void;
    /// # Safety
    /// `block` is null or came from this allocator and was not freed.
    unsafe fn free(block: *mut c_void);
    /// # Safety
    /// As for [`free`](Self::free).
    unsafe fn realloc(block: *mut c_void, size: usize) -> *mut c_void;
    /// # Safety
    /// `block` came from this allocator and was not freed.
    unsafe fn usable_size(block: *mut c_void) -> usize;
}

/// Makes SQLite allocate from `A`. Only before SQLite is first used in the process:
/// returns false, and SQLite keeps its allocator, after that.
pub fn allocate_with<A: CAllocator>() -> bool {
    // SQLite's sizes are never negative; a negative one would get no memory.
    extern "C" fn malloc<A: CAllocator>(size: c_int) -> *mut c_void {
        usize::try_from(size).map_or(std::ptr::null_mut(), A::malloc)
    }
    unsafe extern "C" fn free<A: CAllocator>(block: *mut c_void) {
        // SAFETY: SQLite frees only the blocks `malloc` and `realloc` gave it.
        unsafe { A::free(block) }
    }
    unsafe extern "C" fn realloc<A: CAllocator>(block: *mut c_void, size: c_int) -> *mut c_void {
        match usize::try_from(size) {
            // SAFETY: as for `free`.
            Ok(size) => unsafe { A::realloc(block, size) },
            Err(_) => std::ptr::null_mut(),
        }
    }
    unsafe extern "C" fn usable_size<A: CAllocator>(block: *mut c_void) -> c_int {
        // SAFETY: SQLite asks only about the blocks it holds.
        let size = unsafe { A::usable_size(block) };
        c_int::try_from(size).unwrap_or(c_int::MAX)
    }
    extern "C" fn roundup(size: c_int) -> c_int {
        size
    }
    extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }
    extern "C" fn shutdown(_: *mut c_void) {}

    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc::<A>),
        xFree: Some(free::<A>),
        xRealloc: Some(realloc::<A>),
        xSize: Some(usable_size::<A>),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLite copies the methods before it returns, and fails (changing nothing)
    // once it is initialised; each function has the signature sqlite3_mem_methods
    // declares, and `A` keeps the contract SQLite's allocator must keep.
    let configured = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
    configured == ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once SQLite is in use (as it is in any test process by now, or after this open),
    /// its allocator is not replaced.
    #[test]
    fn a_late_allocator_is_refused() {
        struct Never;
        // SAFETY: never installed (the test asserts so); each function fails closed.
        unsafe impl CAllocator for Never {
            fn malloc(_: usize) -> *mut c_void {
                std::ptr::null_mut()
            }
            unsafe fn free(_: *mut c_void) {}
            unsafe fn realloc(_: *mut c_void, _: usize) -> *mut c_void {
                std::ptr::null_mut()
            }
            unsafe fn usable_size(_: *mut c_void) -> usize {
                0
            }
        }
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        assert!(!allocate_with::<Never>());
        let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(one, 1);
    }
}
