//! The input of an import, one line at a time, in bounded memory: a line longer than the limit
//! is skipped to its end rather than read whole, so a file with no newline (or a binary file
//! given by mistake) cannot fill the memory.

use std::io::{self, BufRead, Read};

/// One line of the input, without its line ending (`\n` or `\r\n`).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    Text(String),
    /// Not UTF-8 (JSON is UTF-8): the line as far as it could be read, invalid bytes replaced.
    NotUtf8(String),
    /// Longer than the limit: its first characters only.
    TooLong {
        start: String,
    },
}

/// Characters of an overlong line kept for the refusals file: enough to recognise it.
const OVERLONG_START_CHARS: usize = 200;

/// Reads lines of at most `max_bytes` bytes (line ending excluded), counting line numbers and
/// bytes consumed.
pub(super) struct Lines<R> {
    reader: R,
    max_bytes: usize,
    buffer: Vec<u8>,
    /// The number of the last line returned (from 1).
    number: u64,
    /// Bytes consumed so far, line endings included (the progress through a file).
    consumed: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, max_bytes: usize) -> Self {
        Lines {
            reader,
            max_bytes,
            buffer: Vec::new(),
            number: 0,
            consumed: 0,
        }
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buffer.clear();
        let limit = self.max_bytes as u64 + 2; // room for "\r\n"
        let read = Read::take(&mut self.reader, limit).read_until(b'\n', &mut self.buffer)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.consumed += read as u64;
        let ended = self.buffer.last() == Some(&b'\n');
        if ended {
            self.buffer.pop();
            if self.buffer.last() == Some(&b'\r') {
                self.buffer.pop();
            }
        }
        if self.buffer.len() > self.max_bytes || (!ended && read as u64 == limit) {
            if !ended {
                self.consumed += self.skip_rest_of_line()?;
            }
            let start = String::from_utf8_lossy(&self.buffer)
                .chars()
                .take(OVERLONG_START_CHARS)
                .collect();
            return Ok(Some(Line::TooLong { start }));
        }
        Ok(Some(
            match String::from_utf8(std::mem::take(&mut self.buffer)) {
                Ok(text) => Line::Text(text),
                Err(error) => Line::NotUtf8(String::from_utf8_lossy(error.as_bytes()).into_owned()),
            },
        ))
    }

    /// Consumes the input up to and including the next newline; returns the bytes consumed.
    fn skip_rest_of_line(&mut self) -> io::Result<u64> {
        let mut skipped = 0;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(skipped);
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.reader.consume(newline + 1);
                    return Ok(skipped + newline as u64 + 1);
                }
                None => {
                    let length = available.len();
                    self.reader.consume(length);
                    skipped += length as u64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max_bytes: usize) -> (Vec<Line>, u64) {
        let mut lines = Lines::new(input, max_bytes);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(line);
        }
        assert_eq!(lines.consumed(), input.len() as u64, "every byte counted");
        (out, lines.number())
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_owned())
    }

    #[test]
    fn lines_end_with_lf_or_crlf_or_the_end_of_the_input() {
        let (lines, count) = all(b"a\r\nb\n\nc", 10);
        assert_eq!(lines, [text("a"), text("b"), text(""), text("c")]);
        assert_eq!(count, 4);
    }

    #[test]
    fn an_overlong_line_is_skipped_to_its_end_and_the_next_one_read() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        input.extend(vec![b'y'; 11]);
        let (lines, count) = all(&input, 10);
        assert!(
            matches!(&lines[0], Line::TooLong { start } if start.len() == 12),
            "{lines:?}"
        );
        assert_eq!(lines[1], text("ok"));
        assert!(matches!(&lines[2], Line::TooLong { .. }), "{lines:?}");
        assert_eq!(count, 3);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_read_with_either_ending() {
        let (lines, _) = all(b"0123456789\r\n0123456789\n0123456789", 10);
        assert_eq!(
            lines,
            [text("0123456789"), text("0123456789"), text("0123456789")]
        );
    }

    #[test]
    fn invalid_utf8_is_told_apart() {
        let (lines, _) = all(b"ok\n\xff\xfe{}\n", 10);
        assert_eq!(lines[0], text("ok"));
        assert!(matches!(&lines[1], Line::NotUtf8(lossy) if lossy.ends_with("{}")));
    }
}
