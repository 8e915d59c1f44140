//! Raising the open-file limit: thousands of connections need thousands of descriptors.

use std::io;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; returns the new soft
/// limit.
///
/// # Errors
/// The OS error if the limit cannot be read or set.
pub fn raise_nofile_to_hard() -> io::Result<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}
