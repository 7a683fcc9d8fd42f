//! Go's own wording, which kube-apiserver passes on to clients verbatim: `encoding/json`'s
//! syntax errors, `encoding/base64`'s decoding (as `encoding/json` decodes `[]byte` fields) with
//! its error offsets, and `strconv`'s quoting and integer parsing.

use serde_json::Value;

/// `encoding/json` refuses documents nested deeper than this.
const MAX_NESTING_DEPTH: usize = 10_000;

/// The error `json.Unmarshal` gives for malformed JSON (its scanner's wording, e.g.
/// `invalid character 'h' in literal true (expecting 'r')`), or `None` for well-formed JSON.
pub fn json_syntax_error(input: &[u8]) -> Option<String> {
    let mut scanner = Scanner::default();
    for &byte in input {
        if let Err(error) = scanner.step(byte) {
            return Some(error);
        }
    }
    scanner.end().err()
}

#[derive(Debug, Clone, Copy)]
enum State {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEscape,
    /// Hex digits of a `\u` escape still expected.
    InStringEscapeU(u8),
    Negative,
    /// In the integer part after a non-zero first digit.
    Digits,
    /// After the integer part.
    Zero,
    Dot,
    DotDigits,
    Exponent,
    ExponentSign,
    ExponentDigits,
    /// In `true`, `false` or `null`: the bytes still expected.
    Literal(&'static str, &'static [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// Go's `encoding/json` scanner (scanner.go), state for state, so that errors name the same
/// byte and context.
struct Scanner {
    state: State,
    stack: Vec<Container>,
    end_top: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::BeginValue,
            stack: Vec::new(),
            end_top: false,
        }
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn invalid(byte: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(byte))
}

impl Scanner {
    /// Go's `eof`: a trailing number ends at the end of input; anything else unfinished is
    /// `unexpected end of JSON input`.
    fn end(&mut self) -> Result<(), String> {
        if self.end_top {
            return Ok(());
        }
        self.step(b' ')?;
        if self.end_top {
            Ok(())
        } else {
            Err("unexpected end of JSON input".to_string())
        }
    }

    fn push(&mut self, byte: u8, container: Container, next: State) -> Result<(), String> {
        self.stack.push(container);
        self.state = next;
        if self.stack.len() > MAX_NESTING_DEPTH {
            return Err(invalid(byte, "exceeded max depth"));
        }
        Ok(())
    }

    fn pop(&mut self) {
        self.stack.pop();
        if self.stack.is_empty() {
            self.state = State::EndTop;
            self.end_top = true;
        } else {
            self.state = State::EndValue;
        }
    }

    fn step(&mut self, byte: u8) -> Result<(), String> {
        match self.state {
            State::BeginValueOrEmpty if is_space(byte) => Ok(()),
            State::BeginValueOrEmpty if byte == b']' => self.end_value(byte),
            State::BeginValueOrEmpty | State::BeginValue => self.begin_value(byte),
            State::BeginStringOrEmpty if is_space(byte) => Ok(()),
            State::BeginStringOrEmpty if byte == b'}' => {
                if let Some(top) = self.stack.last_mut() {
                    *top = Container::ObjectValue;
                }
                self.end_value(byte)
            }
            State::BeginStringOrEmpty | State::BeginString => {
                if is_space(byte) {
                    Ok(())
                } else if byte == b'"' {
                    self.state = State::InString;
                    Ok(())
                } else {
                    Err(invalid(byte, "looking for beginning of object key string"))
                }
            }
            State::EndValue => self.end_value(byte),
            State::EndTop if is_space(byte) => Ok(()),
            State::EndTop => Err(invalid(byte, "after top-level value")),
            State::InString => {
                match byte {
                    b'"' => self.state = State::EndValue,
                    b'\\' => self.state = State::InStringEscape,
                    0..0x20 => return Err(invalid(byte, "in string literal")),
                    _ => {}
                }
                Ok(())
            }
            State::InStringEscape => match byte {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.state = State::InString;
                    Ok(())
                }
                b'u' => {
                    self.state = State::InStringEscapeU(4);
                    Ok(())
                }
                _ => Err(invalid(byte, "in string escape code")),
            },
            State::InStringEscapeU(left) if byte.is_ascii_hexdigit() => {
                self.state = if left == 1 {
                    State::InString
                } else {
                    State::InStringEscapeU(left - 1)
                };
                Ok(())
            }
            State::InStringEscapeU(_) => Err(invalid(byte, "in \\u hexadecimal character escape")),
            State::Negative => match byte {
                b'0' => {
                    self.state = State::Zero;
                    Ok(())
                }
                b'1'..=b'9' => {
                    self.state = State::Digits;
                    Ok(())
                }
                _ => Err(invalid(byte, "in numeric literal")),
            },
            State::Digits if byte.is_ascii_digit() => Ok(()),
            State::Digits | State::Zero => match byte {
                b'.' => {
                    self.state = State::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.state = State::Exponent;
                    Ok(())
                }
                _ => self.end_value(byte),
            },
            State::Dot if byte.is_ascii_digit() => {
                self.state = State::DotDigits;
                Ok(())
            }
            State::Dot => Err(invalid(byte, "after decimal point in numeric literal")),
            State::DotDigits if byte.is_ascii_digit() => Ok(()),
            State::DotDigits if matches!(byte, b'e' | b'E') => {
                self.state = State::Exponent;
                Ok(())
            }
            State::DotDigits | State::ExponentDigits if !byte.is_ascii_digit() => {
                self.end_value(byte)
            }
            State::DotDigits | State::ExponentDigits => Ok(()),
            State::Exponent if matches!(byte, b'+' | b'-') => {
                self.state = State::ExponentSign;
                Ok(())
            }
            State::Exponent | State::ExponentSign if byte.is_ascii_digit() => {
                self.state = State::ExponentDigits;
                Ok(())
            }
            State::Exponent | State::ExponentSign => {
                Err(invalid(byte, "in exponent of numeric literal"))
            }
            State::Literal(word, expected) => match expected.split_first() {
                Some((&next, rest)) if byte == next => {
                    self.state = if rest.is_empty() {
                        State::EndValue
                    } else {
                        State::Literal(word, rest)
                    };
                    Ok(())
                }
                Some((&next, _)) => Err(invalid(
                    byte,
                    &format!("in literal {word} (expecting {})", quote_char(next)),
                )),
                None => self.end_value(byte),
            },
        }
    }

    fn begin_value(&mut self, byte: u8) -> Result<(), String> {
        self.state = match byte {
            _ if is_space(byte) => return Ok(()),
            b'{' => return self.push(byte, Container::ObjectKey, State::BeginStringOrEmpty),
            b'[' => return self.push(byte, Container::ArrayValue, State::BeginValueOrEmpty),
            b'"' => State::InString,
            b'-' => State::Negative,
            b'0' => State::Zero,
            b'1'..=b'9' => State::Digits,
            b't' => State::Literal("true", b"rue"),
            b'f' => State::Literal("false", b"alse"),
            b'n' => State::Literal("null", b"ull"),
            _ => return Err(invalid(byte, "looking for beginning of value")),
        };
        Ok(())
    }

    fn end_value(&mut self, byte: u8) -> Result<(), String> {
        let Some(&top) = self.stack.last() else {
            // The top-level value ended before this byte.
            self.state = State::EndTop;
            self.end_top = true;
            return self.step(byte);
        };
        if is_space(byte) {
            self.state = State::EndValue;
            return Ok(());
        }
        match (top, byte) {
            (Container::ObjectKey, b':') => {
                self.replace_top(Container::ObjectValue);
                self.state = State::BeginValue;
                Ok(())
            }
            (Container::ObjectKey, _) => Err(invalid(byte, "after object key")),
            (Container::ObjectValue, b',') => {
                self.replace_top(Container::ObjectKey);
                self.state = State::BeginString;
                Ok(())
            }
            (Container::ObjectValue, b'}') | (Container::ArrayValue, b']') => {
                self.pop();
                Ok(())
            }
            (Container::ObjectValue, _) => Err(invalid(byte, "after object key:value pair")),
            (Container::ArrayValue, b',') => {
                self.state = State::BeginValue;
                Ok(())
            }
            (Container::ArrayValue, _) => Err(invalid(byte, "after array element")),
        }
    }

    fn replace_top(&mut self, container: Container) {
        if let Some(top) = self.stack.last_mut() {
            *top = container;
        }
    }
}

/// The kind of JSON value a Go `UnmarshalTypeError` names.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `quoteChar`: a byte in single quotes, as JSON syntax errors show it.
fn quote_char(byte: u8) -> String {
    match byte {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        // Go converts the byte to the rune of the same number before quoting it.
        _ => {
            let quoted = quote(&char::from(byte).to_string());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

/// Go's `strconv.Quote`. Which characters count as printable follows Go for ASCII and
/// Latin-1 and approximates it beyond (control and white-space characters are escaped).
pub fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            ' ' => quoted.push(' '),
            _ if u32::from(c) < 0x20 || c == '\u{7f}' => {
                quoted.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            _ if c.is_control() || c.is_whitespace() || c == '\u{ad}' => {
                let code = u32::from(c);
                if code < 0x10000 {
                    quoted.push_str(&format!("\\u{code:04x}"));
                } else {
                    quoted.push_str(&format!("\\U{code:08x}"));
                }
            }
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Go's `strconv.Atoi` (64-bit), with its error text.
pub fn atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let error = |reason: &str| format!("strconv.Atoi: parsing {}: {reason}", quote(text));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("invalid syntax"));
    }
    text.parse().map_err(|_| error("value out of range"))
}

fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn skip_line_breaks(src: &[u8], mut at: usize) -> usize {
    while at < src.len() && matches!(src[at], b'\n' | b'\r') {
        at += 1;
    }
    at
}

/// Go's `base64.StdEncoding.Decode` (padded; line breaks skipped; non-zero trailing bits
/// accepted). `Err` is the offset of `illegal base64 data at input byte N`.
pub fn decode_base64(src: &[u8]) -> Result<Vec<u8>, usize> {
    let mut decoded = Vec::with_capacity(src.len() / 4 * 3);
    let mut at = 0;
    while at < src.len() {
        // One quantum of Go's decodeQuantum: up to four sextets, or fewer and padding.
        let mut quantum = [0u8; 4];
        let mut count = 0;
        let mut padded = false;
        while count < 4 {
            if at == src.len() {
                if count == 0 {
                    return Ok(decoded);
                }
                return Err(at - count);
            }
            let byte = src[at];
            at += 1;
            if let Some(value) = sextet(byte) {
                quantum[count] = value;
                count += 1;
                continue;
            }
            if matches!(byte, b'\n' | b'\r') {
                continue;
            }
            if byte != b'=' || count < 2 {
                return Err(at - 1);
            }
            if count == 2 {
                // `==` is expected; the first `=` is consumed.
                at = skip_line_breaks(src, at);
                if at == src.len() {
                    return Err(src.len());
                }
                if src[at] != b'=' {
                    return Err(at - 1);
                }
                at += 1;
            }
            at = skip_line_breaks(src, at);
            if at < src.len() {
                return Err(at);
            }
            padded = true;
            break;
        }
        let bits = quantum
            .iter()
            .fold(0u32, |bits, &sextet| bits << 6 | u32::from(sextet));
        let bytes = bits.to_be_bytes();
        decoded.extend_from_slice(&bytes[1..count]);
        if padded {
            break;
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_syntax_errors_read_like_go() {
        for (input, expected) in [
            (
                "this is not a JSON patch",
                "invalid character 'h' in literal true (expecting 'r')",
            ),
            ("", "unexpected end of JSON input"),
            ("{\"spec\":{\"selector\":", "unexpected end of JSON input"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 2}",
                "invalid character '2' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "{1:2}",
                "invalid character '1' looking for beginning of object key string",
            ),
            ("[] x", "invalid character 'x' after top-level value"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1e+",
                "invalid character ' ' in exponent of numeric literal",
            ),
            ("-x", "invalid character 'x' in numeric literal"),
            ("\"\\x\"", "invalid character 'x' in string escape code"),
            (
                "\"\\u12g4\"",
                "invalid character 'g' in \\u hexadecimal character escape",
            ),
            ("\"a\nb\"", "invalid character '\\n' in string literal"),
            (
                "nul",
                "invalid character ' ' in literal null (expecting 'l')",
            ),
            (
                "[nulL]",
                "invalid character 'L' in literal null (expecting 'l')",
            ),
            (
                "'a'",
                r"invalid character '\'' looking for beginning of value",
            ),
            (
                "\u{a0}",
                "invalid character 'Â' looking for beginning of value",
            ),
        ] {
            assert_eq!(
                json_syntax_error(input.as_bytes()).as_deref(),
                Some(expected),
                "{input:?}"
            );
        }
        for valid in [
            "[]",
            " {\"a\":[1,-0.5e+3,true,null,\"\\u00e9\"]} ",
            "12",
            "{}",
        ] {
            assert_eq!(json_syntax_error(valid.as_bytes()), None, "{valid:?}");
        }
        assert_eq!(
            json_syntax_error(b"\x85").as_deref(),
            Some("invalid character '\\u0085' looking for beginning of value")
        );
        let deep = "[".repeat(MAX_NESTING_DEPTH + 1);
        assert_eq!(
            json_syntax_error(deep.as_bytes()).as_deref(),
            Some("invalid character '[' exceeded max depth")
        );
    }

    #[test]
    fn base64_decodes_and_fails_at_gos_offsets() {
        assert_eq!(decode_base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64(b"aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(decode_base64(b"").unwrap(), b"");
        for (input, offset) in [
            (&b"not*base64!"[..], 3),
            (b"abc", 0),
            (b"a", 0),
            (b"ab=", 3),
            (b"ab=c", 2),
            (b"a===", 1),
            (b"aGVsbG8=x", 8),
        ] {
            assert_eq!(decode_base64(input), Err(offset), "{input:?}");
        }
    }

    #[test]
    fn atoi_and_quote_follow_strconv() {
        assert_eq!(atoi("+5"), Ok(5));
        assert_eq!(atoi("-01"), Ok(-1));
        assert_eq!(
            atoi("x"),
            Err("strconv.Atoi: parsing \"x\": invalid syntax".to_string())
        );
        assert_eq!(
            atoi("99999999999999999999"),
            Err("strconv.Atoi: parsing \"99999999999999999999\": value out of range".to_string())
        );
        assert_eq!(quote("a\"b\u{1}é"), "\"a\\\"b\\x01é\"");
    }
}
