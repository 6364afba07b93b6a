//! Bounded line framing shared by both ends: a line longer than the limit is skipped up to its
//! newline without being buffered, so a 100 MB line costs no more memory than a short one.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its newline.
    Line(Vec<u8>),
    /// A line of this many bytes was longer than the limit and was discarded.
    TooLong(usize),
    /// The stream ended in the middle of a line (these bytes were read).
    Truncated(Vec<u8>),
    Eof,
}

/// Reads one newline-terminated line of at most `max` bytes.
pub async fn read_frame<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Frame> {
    let mut line = Vec::new();
    let mut skipped: Option<usize> = None;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (skipped, line.is_empty()) {
                (Some(n), _) => Frame::TooLong(n),
                (None, true) => Frame::Eof,
                (None, false) => Frame::Truncated(line),
            });
        }
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        match skipped.as_mut() {
            Some(n) => *n += chunk.len(),
            None if line.len() + chunk.len() > max => skipped = Some(line.len() + chunk.len()),
            None => line.extend_from_slice(chunk),
        }
        if skipped.is_some() {
            line = Vec::new();
        }
        let used = found.unwrap_or(buf.len());
        r.consume(used);
        if found.is_some() {
            return Ok(match skipped {
                Some(n) => Frame::TooLong(n),
                None => Frame::Line(line),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = tokio::io::BufReader::with_capacity(7, input);
        let mut out = Vec::new();
        loop {
            let f = read_frame(&mut r, max).await.unwrap();
            let end = f == Frame::Eof || matches!(f, Frame::Truncated(_));
            out.push(f);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_skips_long_ones() {
        let got = frames(b"ab\n0123456789abc\ncd\nxy", 10).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(b"ab".to_vec()),
                Frame::TooLong(13),
                Frame::Line(b"cd".to_vec()),
                Frame::Truncated(b"xy".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn empty_input_is_eof() {
        assert_eq!(frames(b"", 10).await, vec![Frame::Eof]);
    }
}
