//! A reader for the one flat JSON object the `--json` report is: strings, numbers,
//! booleans and `null`, no nesting. `--compare` needs no more, and a full JSON parser
//! would be a dependency for two files.

/// One field's value. Numbers keep the text they were written as, so a comparison shows
/// exactly what the report said.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number: its text and its value.
    Number(String, f64),
    /// A string, unescaped.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Value {
    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(_, n) => Some(*n),
            _ => None,
        }
    }

    /// The value as the report wrote it (strings without their quotes).
    pub fn display(&self) -> String {
        match self {
            Value::Number(text, _) => text.clone(),
            Value::Text(text) => text.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".to_string(),
        }
    }
}

/// The fields of `{"key":value,...}` in their order.
///
/// # Errors
/// Where the text stops being one flat JSON object.
pub fn parse_flat_object(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut cursor = Cursor {
        chars: text.trim().chars().peekable(),
    };
    cursor.expect('{')?;
    let mut fields = Vec::new();
    if cursor.eat('}') {
        return cursor.end(fields);
    }
    loop {
        let key = cursor.string()?;
        cursor.expect(':')?;
        fields.push((key, cursor.value()?));
        if cursor.eat('}') {
            return cursor.end(fields);
        }
        cursor.expect(',')?;
    }
}

/// The characters still to read, whitespace between tokens skipped.
struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Cursor<'_> {
    fn skip_space(&mut self) {
        while self.chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    }

    fn eat(&mut self, wanted: char) -> bool {
        self.skip_space();
        self.chars.next_if_eq(&wanted).is_some()
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        if self.eat(wanted) {
            return Ok(());
        }
        Err(match self.chars.peek() {
            Some(c) => format!("expected '{wanted}', found '{c}'"),
            None => format!("expected '{wanted}', found the end"),
        })
    }

    fn end<T>(&mut self, fields: T) -> Result<T, String> {
        self.skip_space();
        match self.chars.peek() {
            None => Ok(fields),
            Some(c) => Err(format!("unexpected '{c}' after the object")),
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        match self.chars.peek() {
            Some('"') => self.string().map(Value::Text),
            Some('t' | 'f' | 'n') => match self.word().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                other => Err(format!("unexpected '{other}'")),
            },
            Some('{' | '[') => Err("nested values are not a bench report".to_string()),
            _ => {
                let text = self.word();
                let n = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
                Ok(Value::Number(text, n))
            }
        }
    }

    /// The run of characters up to the next separator.
    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self
            .chars
            .next_if(|c| !matches!(c, ',' | '}' | ':') && !c.is_whitespace())
        {
            word.push(c);
        }
        word
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.chars.next().ok_or("unterminated string")? {
                '"' => return Ok(out),
                '\\' => out.push(self.escaped()?),
                c => out.push(c),
            }
        }
    }

    fn escaped(&mut self) -> Result<char, String> {
        Ok(match self.chars.next().ok_or("unterminated string")? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let hex: String = self.chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\u{hex}"))?;
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            c => c, // \" \\ \/
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::json::JsonObject;

    #[test]
    fn what_the_writer_writes_reads_back() {
        let text = JsonObject::new()
            .string("mode", "load \"x\"\n\u{1}")
            .uint("sent", 20)
            .float("rate", 1.5)
            .boolean("ok", true)
            .null("pid")
            .finish();
        let fields = parse_flat_object(&text).unwrap();
        let expected = [
            ("mode", Value::Text("load \"x\"\n\u{1}".to_string())),
            ("sent", Value::Number("20".to_string(), 20.0)),
            ("rate", Value::Number("1.5".to_string(), 1.5)),
            ("ok", Value::Bool(true)),
            ("pid", Value::Null),
        ];
        assert_eq!(fields.len(), expected.len());
        for ((key, value), (want_key, want)) in fields.iter().zip(expected) {
            assert_eq!((key.as_str(), value), (want_key, &want));
        }
    }

    #[test]
    fn whitespace_between_tokens_is_allowed() {
        let fields = parse_flat_object(" { \"a\" : -1e3 , \"b\" : false }\n").unwrap();
        assert_eq!(fields[0].1.as_number(), Some(-1000.0));
        assert_eq!(fields[1].1, Value::Bool(false));
        assert!(parse_flat_object("{}").unwrap().is_empty());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "mio-chat bench: 50 receivers",
            "{\"a\":1",
            "{\"a\":1}x",
            "{\"a\":[1]}",
            "{\"a\":{}}",
            "{\"a\":nope}",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\":\"open}",
        ] {
            assert!(parse_flat_object(bad).is_err(), "{bad:?}");
        }
    }
}
