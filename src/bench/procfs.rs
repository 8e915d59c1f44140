//! What `/proc` and `getrusage` say about a process: resident memory and CPU time.
//!
//! Used for `--server-pid` (the server under test) and for the tester's own CPU, so the
//! report can show which side was busy.

use std::fs;

/// Resident set size of `pid` in KiB (`VmRSS` in `/proc/PID/status`).
///
/// # Errors
/// A one-line description when the process is gone or the file cannot be read.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse_rss_kib(&status).ok_or_else(|| format!("no VmRSS line in {path}"))
}

/// CPU seconds (user + system, all threads) used by `pid` so far.
///
/// # Errors
/// A one-line description when the process is gone or the file cannot be read.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| format!("cannot parse {path}"))?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Ok(ticks as f64 / per_second as f64)
}

/// CPU seconds (user + system, all threads) this process has used so far.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own; RUSAGE_SELF cannot fail.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime, fields 14 and 15 of `/proc/PID/stat`. The command name (field 2)
/// may hold spaces and parentheses, so counting starts after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_comes_from_the_vmrss_line() {
        let status = "Name:\tmio-chat\nVmHWM:\t  9000 kB\nVmRSS:\t  4242 kB\n";
        assert_eq!(parse_rss_kib(status), Some(4242));
        assert_eq!(parse_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn cpu_ticks_skip_a_name_with_spaces_and_parens() {
        let stat = "77 (a b) c) S 1 77 77 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("77 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_seconds(me).is_ok());
        assert!(rss_kib(u32::MAX).is_err());
    }
}
