//! The local wall-clock time for `--timestamps`.

/// The local time now as `HH:MM:SS`, or `--:--:--` if the C library cannot tell.
pub fn local_hms() -> String {
    // SAFETY: time(NULL) only reads the clock; localtime_r writes only into `tm`, which
    // lives on this stack, and is the thread-safe variant of localtime.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "--:--:--".to_string();
        }
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_has_the_hh_mm_ss_shape() {
        let t = local_hms();
        let b = t.as_bytes();
        assert_eq!(b.len(), 8, "{t}");
        assert!(b[2] == b':' && b[5] == b':', "{t}");
        let h: u32 = t[..2].parse().unwrap();
        let m: u32 = t[3..5].parse().unwrap();
        let s: u32 = t[6..].parse().unwrap();
        assert!(h < 24 && m < 60 && s <= 60, "{t}");
    }
}
