//! The refusals file: one JSON object per refused line, with its line number, the field and
//! the reason, and the line itself, ready to be fixed and imported again.
//!
//! ```json
//! {"line":17,"field":"items[0].quantity","reason":"must be greater than 0","code":"invalid_field","text":"{\"orderId\":...}"}
//! ```
//!
//! `text` is the line exactly as read (a string, so a line that is not JSON fits too): `jq -r
//! .text refused.jsonl > fixed.jsonl` gives the refused lines back as a file to edit and
//! import.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ImportError;

/// One refused line.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Refusal<'a> {
    pub line: u64,
    /// Where in the record the problem is (`items[0].quantity`); `None` for the line as a
    /// whole (not JSON, not an object, too long).
    pub field: Option<&'a str>,
    /// The reason, for people (the same words a hand-off's 400 answer has).
    pub reason: &'a str,
    /// The reason, for scripts: a short fixed label (`invalid_json`, `not_a_long`, ...).
    pub code: &'a str,
    pub text: &'a str,
}

/// Where the refusals go when `--refused` is not given: next to the input file, named after
/// it (`orders.jsonl` gives `orders.refused.jsonl`); for standard input, in the current
/// directory.
pub(super) fn default_path(input: Option<&Path>) -> PathBuf {
    const FOR_STANDARD_INPUT: &str = "ordersync-import.refused.jsonl";
    let Some(input) = input else {
        return PathBuf::from(FOR_STANDARD_INPUT);
    };
    let stem = input
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ordersync-import".to_owned());
    input.with_file_name(format!("{stem}.refused.jsonl"))
}

/// The refusals file, written as lines are refused.
pub(super) struct RefusedFile {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl RefusedFile {
    /// Creates (or empties) the file at `path`: after a run it holds that run's refusals only,
    /// and is empty when nothing was refused.
    pub fn create(path: &Path) -> Result<Self, ImportError> {
        let file = File::create(path).map_err(|source| ImportError::Refused {
            path: path.to_owned(),
            source,
        })?;
        Ok(RefusedFile {
            path: path.to_owned(),
            writer: BufWriter::new(file),
        })
    }

    pub fn write(&mut self, refusal: &Refusal<'_>) -> Result<(), ImportError> {
        serde_json::to_writer(&mut self.writer, refusal)
            .map_err(std::io::Error::from)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|source| self.failed(source))
    }

    /// Writes what is buffered and makes it durable.
    pub fn finish(mut self) -> Result<(), ImportError> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all())
            .map_err(|source| self.failed(source))
    }

    fn failed(&self, source: std::io::Error) -> ImportError {
        ImportError::Refused {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_next_to_the_input_or_in_the_current_directory() {
        assert_eq!(
            default_path(Some(Path::new("/data/orders-2026.jsonl"))),
            Path::new("/data/orders-2026.refused.jsonl")
        );
        assert_eq!(
            default_path(Some(Path::new("export"))),
            Path::new("export.refused.jsonl")
        );
        // A refusals file imported again after fixing gets a name of its own.
        assert_eq!(
            default_path(Some(Path::new("orders.refused.jsonl"))),
            Path::new("orders.refused.refused.jsonl")
        );
        assert_eq!(
            default_path(None),
            Path::new("ordersync-import.refused.jsonl")
        );
    }

    #[test]
    fn each_refusal_is_one_json_line_holding_the_text_as_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut file = RefusedFile::create(&path).unwrap();
        file.write(&Refusal {
            line: 3,
            field: None,
            reason: "the line is not valid JSON",
            code: "invalid_json",
            text: "{\"orderId\": 1,",
        })
        .unwrap();
        file.finish().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count(), 1);
        let parsed: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
        assert_eq!(parsed["line"], 3);
        assert_eq!(parsed["field"], serde_json::Value::Null);
        assert_eq!(parsed["text"], "{\"orderId\": 1,");
    }
}
