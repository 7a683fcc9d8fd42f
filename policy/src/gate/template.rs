//! A gate's PromQL query with placeholders: `{{namespace}}`, `{{app}}`, `{{color}}`,
//! `{{router}}` and `{{window}}` (blanks inside the braces allowed). Parsed once, when the
//! gate is read, so that an unknown placeholder is found before any release and rendering
//! cannot fail.

use std::time::Duration;

/// A value a query can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    /// The app's namespace.
    Namespace,
    /// The app's name (its `bluegreen.dev/app` label).
    App,
    /// The color judged: the new live color after the switch, the idle one before it.
    Color,
    /// The router's name.
    Router,
    /// The gate's window, as a PromQL duration (`1m`, `30s`).
    Window,
}

impl Placeholder {
    const ALL: [(&'static str, Placeholder); 5] = [
        ("namespace", Placeholder::Namespace),
        ("app", Placeholder::App),
        ("color", Placeholder::Color),
        ("router", Placeholder::Router),
        ("window", Placeholder::Window),
    ];
}

/// What the placeholders stand for in one evaluation (the window is the gate's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vars {
    /// `{{namespace}}`.
    pub namespace: String,
    /// `{{app}}`.
    pub app: String,
    /// `{{color}}`.
    pub color: String,
    /// `{{router}}`.
    pub router: String,
}

/// Why a query is not a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{name}}` is not one of the placeholders.
    Unknown(String),
    /// `{{` without its `}}`.
    Unclosed,
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a query.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            pieces.push(Piece::Text(rest[..start].to_string()));
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
            let name = after[..end].trim();
            let placeholder = Placeholder::ALL
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, placeholder)| *placeholder)
                .ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
            pieces.push(Piece::Value(placeholder));
            rest = &after[end + 2..];
        }
        pieces.push(Piece::Text(rest.to_string()));
        Ok(Template { pieces })
    }

    /// The query with every placeholder replaced.
    pub fn render(&self, vars: &Vars, window: Duration) -> String {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.clone(),
                Piece::Value(Placeholder::Namespace) => vars.namespace.clone(),
                Piece::Value(Placeholder::App) => vars.app.clone(),
                Piece::Value(Placeholder::Color) => vars.color.clone(),
                Piece::Value(Placeholder::Router) => vars.router.clone(),
                Piece::Value(Placeholder::Window) => promql_duration(window),
            })
            .collect()
    }
}

/// A duration as PromQL writes it: whole seconds as `90s`, else milliseconds.
pub fn promql_duration(duration: Duration) -> String {
    match duration.subsec_millis() {
        0 => format!("{}s", duration.as_secs()),
        _ => format!("{}ms", duration.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn vars() -> Vars {
        Vars {
            namespace: "shop".into(),
            app: "api".into(),
            color: "green".into(),
            router: "api-router".into(),
        }
    }

    #[rstest]
    #[case::every_placeholder(
        "{{namespace}}/{{app}}/{{color}}/{{router}}[{{window}}]",
        "shop/api/green/api-router[60s]"
    )]
    #[case::blanks_inside_braces(
        r#"rate(x{color="{{ color }}"}[{{  window }}])"#,
        r#"rate(x{color="green"}[60s])"#
    )]
    #[case::no_placeholder("vector(1)", "vector(1)")]
    #[case::repeated("{{color}}-{{color}}", "green-green")]
    #[case::single_braces_are_promql(
        "sum by (code) ({app=\"{{app}}\"})",
        "sum by (code) ({app=\"api\"})"
    )]
    fn placeholders_are_replaced(#[case] query: &str, #[case] rendered: &str) {
        let template = Template::parse(query).unwrap();
        assert_eq!(template.render(&vars(), Duration::from_secs(60)), rendered);
    }

    #[rstest]
    #[case::unknown("x{pod=\"{{pod}}\"}", TemplateError::Unknown("pod".into()))]
    #[case::misspelt("{{colour}}", TemplateError::Unknown("colour".into()))]
    #[case::empty("{{}}", TemplateError::Unknown(String::new()))]
    #[case::unclosed("x{color=\"{{color\"}", TemplateError::Unclosed)]
    fn other_placeholders_are_errors(#[case] query: &str, #[case] error: TemplateError) {
        assert_eq!(Template::parse(query), Err(error));
    }

    #[rstest]
    #[case::seconds(Duration::from_secs(30), "30s")]
    #[case::minutes(Duration::from_secs(300), "300s")]
    #[case::milliseconds(Duration::from_millis(1500), "1500ms")]
    fn windows_are_promql_durations(#[case] window: Duration, #[case] text: &str) {
        assert_eq!(promql_duration(window), text);
    }
}
