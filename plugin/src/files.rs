//! Reading manifests from files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One manifest's text and the name errors use for it.
pub struct Source {
    /// The path as given (or `-` for stdin).
    pub name: String,
    /// Its content.
    pub text: String,
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Expands directories (recursively, sorted, `.yaml`/`.yml`/`.json` only) and reads
/// every file; `-` reads stdin.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from stdin")?;
            sources.push(Source {
                name: "-".to_string(),
                text,
            });
            continue;
        }
        let metadata = std::fs::metadata(path).with_context(|| {
            format!(
                "{}: cannot read it; check the path passed to -f",
                path.display()
            )
        })?;
        if metadata.is_dir() {
            let mut found = Vec::new();
            collect(path, &mut found)?;
            if found.is_empty() {
                bail!(
                    "{}: no .yaml, .yml or .json files in this directory",
                    path.display()
                );
            }
            found.sort();
            for file in found {
                sources.push(read(&file)?);
            }
        } else {
            sources.push(read(path)?);
        }
    }
    Ok(sources)
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list it", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("{}: cannot list it", dir.display()))?
            .path();
        if path.is_dir() {
            collect(&path, found)?;
        } else if is_manifest(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read it as UTF-8 text", path.display()))?;
    Ok(Source {
        name: path.display().to_string(),
        text,
    })
}
