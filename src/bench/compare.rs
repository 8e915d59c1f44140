//! `--compare A.json B.json`: two saved `--json` reports side by side, every number
//! with its ratio B/A, so the effect of a change reads off one table.
//!
//! A file may hold several reports, one per line (runs appended with `>>`); the last
//! one is compared, as it is the last line of the bench's stdout.

use super::json_read::{parse_flat_object, Value};
use std::fmt::Write;

/// A report's fields in the order the bench wrote them.
type Fields = Vec<(String, Value)>;

/// The modes a bench report can have.
const MODES: [&str; 2] = ["load", "idle"];
/// Narrowest value column, so short values still line up under their header.
const MIN_VALUE_WIDTH: usize = 12;

/// The comparison table of the reports in the files at `a` and `b`.
///
/// # Errors
/// One line naming the file that is missing, unreadable or not a bench report.
pub fn compare_files(a: &str, b: &str) -> Result<String, String> {
    let (first, second) = (load_report(a)?, load_report(b)?);
    Ok(format!("A  {a}\nB  {b}\n\n{}", side_by_side(&first, &second)))
}

/// The last report in the file at `path`.
fn load_report(path: &str) -> Result<Fields, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
    let not_a_report = |why: &str| format!("'{path}' is not a bench --json report: {why}");
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| not_a_report("the file is empty"))?;
    let fields = parse_flat_object(line).map_err(|e| not_a_report(&e))?;
    match lookup(&fields, "mode") {
        Some(Value::Text(mode)) if MODES.contains(&mode.as_str()) => Ok(fields),
        _ => Err(not_a_report("no \"mode\" of load or idle")),
    }
}

/// One row per field of `a`, then the fields only `b` has: both values and B/A.
fn side_by_side(a: &Fields, b: &Fields) -> String {
    let keys: Vec<&str> = a
        .iter()
        .chain(b.iter().filter(|(k, _)| lookup(a, k).is_none()))
        .map(|(k, _)| k.as_str())
        .collect();
    let shown = |fields: &Fields, key: &str| lookup(fields, key).map_or("-".to_string(), Value::display);
    let key_width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    let value_width = keys
        .iter()
        .flat_map(|k| [shown(a, k).chars().count(), shown(b, k).chars().count()])
        .fold(MIN_VALUE_WIDTH, usize::max);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:key_width$}  {:>value_width$}  {:>value_width$}  B/A",
        "field", "A", "B"
    );
    for key in keys {
        let ratio = ratio(lookup(a, key), lookup(b, key));
        let row = format!(
            "{key:key_width$}  {:>value_width$}  {:>value_width$}  {ratio}",
            shown(a, key),
            shown(b, key)
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    out
}

/// B/A for two numbers (`-` when A is 0 and the ratio means nothing); for other
/// values, `differs` when they do.
fn ratio(a: Option<&Value>, b: Option<&Value>) -> String {
    match (a.and_then(Value::as_number), b.and_then(Value::as_number)) {
        (Some(x), Some(y)) if x != 0.0 => format!("{:.3}", y / x),
        (Some(_), Some(_)) => "-".to_string(),
        _ if a != b => "differs".to_string(),
        _ => String::new(),
    }
}

fn lookup<'a>(fields: &'a Fields, key: &str) -> Option<&'a Value> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        parse_flat_object(json).unwrap()
    }

    #[test]
    fn numbers_get_their_ratio_and_other_values_say_when_they_differ() {
        let a = fields(r#"{"mode":"load","deliveries_per_s":1000.5,"lost":0,"tls":false}"#);
        let b = fields(r#"{"mode":"load","deliveries_per_s":2001,"lost":0,"tls":true}"#);
        let table = side_by_side(&a, &b);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "field                        A             B  B/A",
                "mode                      load          load",
                "deliveries_per_s        1000.5          2001  2.000",
                "lost                         0             0  -",
                "tls                      false          true  differs",
            ]
        );
    }

    #[test]
    fn a_field_only_one_side_has_is_shown_with_a_dash() {
        let a = fields(r#"{"mode":"load","server_cpu_s":null}"#);
        let b = fields(r#"{"mode":"load","server_cpu_s":1.5,"new_field":3}"#);
        let table = side_by_side(&a, &b);
        assert!(
            table.contains("server_cpu_s          null           1.5  differs"),
            "{table}"
        );
        assert!(
            table.contains("new_field                -             3  differs"),
            "{table}"
        );
    }

    #[test]
    fn files_that_are_not_reports_are_named() {
        let dir = std::env::temp_dir().join(format!("mio-chat-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        std::fs::write(path("text"), "mio-chat bench: 50 receivers\n").unwrap();
        std::fs::write(path("other"), "{\"mode\":\"chat\"}\n").unwrap();
        std::fs::write(
            path("two"),
            "{\"mode\":\"idle\"}\n{\"mode\":\"load\",\"x\":1}\n\n",
        )
        .unwrap();
        for (name, why) in [
            ("text", "expected '{'"),
            ("other", "no \"mode\""),
            ("missing", "cannot read"),
        ] {
            let err = compare_files(&path(name), &path("two")).unwrap_err();
            assert!(err.contains(&path(name)) && err.contains(why), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let table = compare_files(&path("two"), &path("two")).unwrap();
        assert!(table.contains("x   ") && table.contains("1.000"), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
