//! Giving freed heap memory back to the operating system.
//!
//! A burst (a join storm of 10,000 clients, a slow reader's backlog) grows the heap; when
//! it is over, glibc keeps the freed pages, so the process's RSS stays at the burst's
//! peak. The event loop calls `malloc_trim` every second while it is busy (and once
//! after it goes quiet) to return them.

/// Returns free heap pages to the OS. A no-op where the allocator has no such call.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
