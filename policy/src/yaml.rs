//! YAML as every part of bluegreen reads and writes it, with one set of options.
//!
//! Untyped reads (into `serde_json::Value`, as manifests are read before their kind is
//! known) follow YAML 1.2: only `true` and `false` are booleans, so a label value such
//! as `on`, `yes` or `n` stays the string it is in the API's JSON. Merge keys (`<<`) are
//! expanded, as kubectl does. Written YAML quotes every string YAML 1.1 would take for
//! something else, so kubectl and Helm read back exactly what was written.

use serde::{Serialize, de::DeserializeOwned};

/// Why YAML text could not be read; its `Display` ends with the line and column.
pub type Error = serde_saphyr::Error;

/// Why a value could not be written as YAML.
pub type WriteError = serde_saphyr::ser_error::Error;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        // Errors are reported on one line, with their location; callers add the file.
        with_snippet: false,
    }
}

/// Reads one YAML (or JSON) document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Reads one YAML (or JSON) document from UTF-8 bytes.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_saphyr::from_slice_with_options(bytes, options())
}

/// The documents of a YAML stream in order (`---` separated, `...` ended). Empty
/// documents (nothing, only comments, or `null`) are skipped. A document of the wrong
/// shape is an error and the next one is read; a syntax error ends the stream.
/// Locations in errors and [`serde_saphyr::Spanned`] values are lines of the whole text.
pub fn documents<'a, T: DeserializeOwned + 'a>(
    text: &'a mut &[u8],
) -> impl Iterator<Item = Result<T, Error>> + 'a {
    serde_saphyr::read_with_options(text, options())
}

/// The message of a read error without its location, for callers that name the place
/// themselves.
pub fn reason(err: &Error) -> String {
    use serde_saphyr::MessageFormatter;
    serde_saphyr::DefaultMessageFormatter
        .format_message(err)
        .into_owned()
}

/// Writes `value` as one YAML document: multi-line strings as literal blocks, every
/// other string on one line however long (never folded), so output greps like the
/// values it holds.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, WriteError> {
    serde_saphyr::to_string_with_options(
        value,
        serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// Output is read by kubectl and Helm (YAML 1.1): strings they would take for
    /// booleans or numbers are quoted; long strings stay on one line, multi-line ones
    /// are literal blocks; sequences sit at their key's indentation.
    #[test]
    fn written_yaml_reads_back_the_same_in_yaml_1_1() {
        let long = "word ".repeat(30);
        let value = json!({
            "labels": {"a": "on", "b": "yes", "c": "n", "d": "off", "e": "012", "f": "true"},
            "long": long.trim_end(),
            "script": "line one\nline two\n",
            "ports": [80, 443],
        });
        let text = super::to_string(&value).unwrap();
        assert_eq!(
            text,
            format!(
                "labels:\n  a: \"on\"\n  b: \"yes\"\n  c: \"n\"\n  d: \"off\"\n  e: \"012\"\n  f: \"true\"\nlong: {}\nports:\n- 80\n- 443\nscript: |\n  line one\n  line two\n",
                long.trim_end()
            )
        );
        assert_eq!(super::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn a_read_error_gives_its_reason_and_location() {
        let err = super::from_str::<Value>("a: [1,\n").unwrap_err();
        assert_eq!(super::reason(&err), "unclosed bracket '['");
        assert_eq!(err.to_string(), "unclosed bracket '[' at line 1, column 4");
    }
}
