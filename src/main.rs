use std::process::ExitCode;

// mimalloc for the binary: `serve` allocates on every request, and with the system
// allocator bench/serve.sh measured it about a sixth slower. The library leaves the
// choice of allocator to the programs that use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sqlite_allocates_from_mimalloc();
    // A write past RLIMIT_FSIZE should fail with an error SQLite can report and roll
    // back, not kill the process mid-transaction with SIGXFSZ.
    // SAFETY: setting a signal's disposition to "ignore" before any thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // `TOKENCTL_DB=` (set but empty) means "not set", as for most tools' variables.
    if std::env::var_os("TOKENCTL_DB").is_some_and(|v| v.is_empty()) {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::remove_var("TOKENCTL_DB") };
    }
    tokenctl::complete::answer_if_asked();
    ExitCode::from(tokenctl::run(std::env::args_os()).code())
}

/// SQLite allocates from mimalloc as Rust does, not from the C library's malloc: a
/// command then starts one allocator, not two, and their small objects share pages.
/// Each heap's first pages cost a page fault apiece: `create` took about 450 faults
/// against the sqlite3 shell's 210, and 27 fewer with one allocator (bench/lifecycle.sh:
/// `create` 7% faster; `list --json`, far within its target, 3% slower). It must run
/// before SQLite is first used.
fn sqlite_allocates_from_mimalloc() {
    use libmimalloc_sys::{mi_free, mi_malloc, mi_realloc, mi_usable_size};
    use std::ffi::c_void;

    struct Mimalloc;
    // SAFETY: mimalloc's functions keep C's malloc contract, aligned to at least 8 bytes,
    // on any thread; mi_usable_size tells at least the size asked for.
    unsafe impl tokenctl::store::CAllocator for Mimalloc {
        fn malloc(size: usize) -> *mut c_void {
            // SAFETY: any size may be asked for; null when out of memory.
            unsafe { mi_malloc(size) }
        }
        unsafe fn free(block: *mut c_void) {
            // SAFETY: the caller passes null or a block of ours.
            unsafe { mi_free(block) }
        }
        unsafe fn realloc(block: *mut c_void, size: usize) -> *mut c_void {
            // SAFETY: as for free.
            unsafe { mi_realloc(block, size) }
        }
        unsafe fn usable_size(block: *mut c_void) -> usize {
            // SAFETY: the caller passes a block of ours.
            unsafe { mi_usable_size(block) }
        }
    }
    let installed = tokenctl::store::sqlite_allocates_with::<Mimalloc>();
    debug_assert!(installed, "SQLite was used before main");
}
