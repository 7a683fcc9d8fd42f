//! Printing results: aligned tables for people, JSON or YAML for scripts. Results go
//! to stdout; colors only on a terminal (anstream honours NO_COLOR and CLICOLOR).

use std::io::Write;

use anstyle::{AnsiColor, Style};
use anyhow::{Context, Result};
use policy::{Action, Finding};
use serde::Serialize;

use crate::cli::OutputFormat;

/// A table with a header row, printed with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row; cells may carry ANSI styles.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The aligned text, two spaces between columns.
    pub fn render(&self) -> String {
        let mut writer = tabwriter::TabWriter::new(Vec::new()).padding(2).ansi(true);
        for row in &self.rows {
            // Tabs and newlines inside a cell would break the alignment.
            let cells: Vec<String> = row.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
            let _ = writeln!(writer, "{}", cells.join("\t"));
        }
        let bytes = writer.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Writes text to stdout, stripping styles when stdout is not a terminal.
pub fn print(text: &str) -> Result<()> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// Writes one line to stdout.
pub fn print_line(line: &str) -> Result<()> {
    print(&format!("{line}\n"))
}

/// Prints data as JSON or YAML.
pub fn print_data<T: Serialize>(value: &T, format: OutputFormat) -> Result<()> {
    let text = match format {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => policy::yaml::to_string(value)?,
        OutputFormat::Table => unreachable!("tables are rendered by each command"),
    };
    print(&text)
}

/// How a word is colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Red, bold: refused, failed, degraded.
    Bad,
    /// Yellow.
    Warn,
    /// Green.
    Good,
    /// Uncolored.
    Plain,
}

/// Text in a tone's color (stripped later when stdout is not a terminal).
pub fn styled(text: &str, tone: Tone) -> String {
    let style = match tone {
        Tone::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        Tone::Warn => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        Tone::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
        Tone::Plain => Style::new(),
    };
    format!("{style}{text}{style:#}")
}

/// An action word, colored by severity.
pub fn styled_action(action: &str) -> String {
    let tone = match action {
        "deny" | "error" => Tone::Bad,
        "warn" => Tone::Warn,
        "ok" => Tone::Good,
        _ => Tone::Plain,
    };
    styled(action, tone)
}

/// A finding as scripts read it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    /// `BG004`.
    pub rule: String,
    /// `config-parity`.
    pub rule_name: String,
    /// `deny`, `warn` or `audit`.
    pub action: Action,
    /// The object's kind.
    pub kind: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> Self {
        FindingView {
            rule: f.rule.to_string(),
            rule_name: f.rule.name().to_string(),
            action: f.action,
            kind: f.object.kind.clone(),
            namespace: f.object.namespace.clone(),
            name: f.object.name.clone(),
            message: f.message.clone(),
            fix: f.fix.clone(),
        }
    }
}
