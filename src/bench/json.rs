//! A writer for one flat JSON object: the `--json` report needs no more than this.

use std::fmt::Write;

/// Builds `{"key":value,...}` field by field, in the order the fields are added.
#[derive(Debug)]
pub struct JsonObject {
    out: String,
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject::new()
    }
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> Self {
        JsonObject {
            out: String::from("{"),
        }
    }

    /// Adds an unsigned integer field.
    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// Adds a number field rounded to 3 decimals; NaN and infinities become `null`,
    /// which JSON has no number for.
    pub fn float(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{}", (value * 1000.0).round() / 1000.0);
        } else {
            self.out.push_str("null");
        }
        self
    }

    /// Adds a number field, or `null` when there is no value.
    pub fn opt_float(&mut self, key: &str, value: Option<f64>) -> &mut Self {
        match value {
            Some(v) => self.float(key, v),
            None => self.null(key),
        }
    }

    /// Adds an unsigned integer field, or `null` when there is no value.
    pub fn opt_uint(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.uint(key, v),
            None => self.null(key),
        }
    }

    /// Adds a boolean field.
    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds a string field, escaped.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_string(value, &mut self.out);
        self
    }

    /// Adds a `null` field.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.push_str("null");
        self
    }

    /// The finished object text.
    pub fn finish(&self) -> String {
        format!("{}}}", self.out)
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_string(key, &mut self.out);
        self.out.push(':');
    }
}

fn push_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_appear_in_order_with_commas() {
        let json = JsonObject::new()
            .uint("sent", 20)
            .float("rate", 1.23456)
            .boolean("ok", true)
            .null("pid")
            .finish();
        assert_eq!(json, r#"{"sent":20,"rate":1.235,"ok":true,"pid":null}"#);
    }

    #[test]
    fn an_empty_object_is_braces() {
        assert_eq!(JsonObject::new().finish(), "{}");
    }

    #[test]
    fn strings_are_escaped_and_non_finite_numbers_are_null() {
        let json = JsonObject::new()
            .string("e", "a \"b\"\\\n\u{1}")
            .float("x", f64::NAN)
            .opt_uint("n", None)
            .finish();
        assert_eq!(json, r#"{"e":"a \"b\"\\\n\u0001","x":null,"n":null}"#);
    }
}
