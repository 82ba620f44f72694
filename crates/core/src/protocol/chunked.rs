//! Incremental decoder of the chunked transfer-coding (RFC 9112 7.1), as
//! an explicit state machine: feed it whatever bytes arrived, it consumes
//! what it can and says whether the body is complete.

/// Longest chunk-size line (size + extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Total trailer bytes accepted.
const MAX_TRAILERS: usize = 16 * 1024;
/// Total chunk-extension bytes accepted in one body. RFC 9112 7.1.1: "A
/// server ought to limit the total length of chunk extensions received in
/// a request"; without a total, one-byte chunks each carrying a long
/// extension cost thousands of bytes of parsing per body byte. hyper
/// allows 16 KiB too.
const MAX_EXTENSIONS: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    #[error("invalid chunk size")]
    Size,
    #[error("invalid chunk size: overflow")]
    Overflow,
    #[error("chunk-size line too long")]
    LineTooLong,
    #[error("missing CRLF after chunk data")]
    MissingCrlf,
    #[error("trailers too large")]
    TrailersTooLarge,
    #[error("chunk extensions too large")]
    ExtensionsTooLarge,
    #[error("the body is larger than limit-post")]
    TooLarge,
}

impl ChunkedError {
    pub fn status(&self) -> u16 {
        match self {
            ChunkedError::TooLarge => 413,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size: optional whitespace, then `;ext` or CR.
    SizeTail,
    /// Inside a chunk extension, until CR.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting CR after data.
    DataCr,
    /// Expecting LF after data.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Expecting LF at the end of a trailer line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    EndLf,
    Done,
}

/// Progress of one `decode` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub consumed: usize,
    pub done: bool,
}

#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: usize,
    line: usize,
    trailers: usize,
    extensions: usize,
    total: u64,
    max_body: u64,
}

impl ChunkedDecoder {
    /// `max_body`: limit-post (0 for no limit).
    pub fn new(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line: 0,
            trailers: 0,
            extensions: 0,
            total: 0,
            max_body,
        }
    }

    /// Decode from `input`, appending body bytes to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Decoded, ChunkedError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let n = (self.size.min((input.len() - i) as u64)) as usize;
                out.extend_from_slice(&input[i..i + n]);
                self.size -= n as u64;
                i += n;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.state = self.step(input[i])?;
            i += 1;
        }
        Ok(Decoded {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    fn step(&mut self, b: u8) -> Result<State, ChunkedError> {
        use State::*;
        if matches!(self.state, Size | SizeTail | Extension | SizeLf) {
            self.line += 1;
            if self.line > MAX_LINE {
                return Err(ChunkedError::LineTooLong);
            }
        }
        if self.state == Extension {
            self.extensions += 1;
            if self.extensions > MAX_EXTENSIONS {
                return Err(ChunkedError::ExtensionsTooLarge);
            }
        }
        if matches!(self.state, TrailerStart | Trailer | TrailerLf | EndLf) {
            self.trailers += 1;
            if self.trailers > MAX_TRAILERS {
                return Err(ChunkedError::TrailersTooLarge);
            }
        }
        Ok(match (self.state, b) {
            (Size, b) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(ChunkedError::Overflow)?;
                self.digits += 1;
                Size
            }
            (Size, _) if self.digits == 0 => return Err(ChunkedError::Size),
            // RFC 9112 7.1.1 allows BWS before `;` in extensions.
            (Size | SizeTail, b' ' | b'\t') => SizeTail,
            (Size | SizeTail, b';') => Extension,
            // RFC 9112 7.1.1: whitespace may only precede a `;` extension.
            (Size | Extension, b'\r') => SizeLf,
            (Size | SizeTail, _) => return Err(ChunkedError::Size),
            (Extension, b'\n') => return Err(ChunkedError::Size),
            (Extension, _) => Extension,
            (SizeLf, b'\n') => self.start_chunk()?,
            (SizeLf, _) => return Err(ChunkedError::Size),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (DataCr | DataLf, _) => return Err(ChunkedError::MissingCrlf),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart, b'\n') => return Err(ChunkedError::MissingCrlf),
            (Trailer, b'\r') => TrailerLf,
            (Trailer, b'\n') => return Err(ChunkedError::MissingCrlf),
            (TrailerStart | Trailer, _) => Trailer,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            (TrailerLf | EndLf, _) => return Err(ChunkedError::MissingCrlf),
            (Data | Done, _) => self.state,
        })
    }

    fn start_chunk(&mut self) -> Result<State, ChunkedError> {
        self.line = 0;
        self.digits = 0;
        if self.size == 0 {
            return Ok(State::TrailerStart);
        }
        self.total = self
            .total
            .checked_add(self.size)
            .ok_or(ChunkedError::Overflow)?;
        if self.max_body > 0 && self.total > self.max_body {
            return Err(ChunkedError::TooLarge);
        }
        Ok(State::Data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkedError> {
        let mut d = ChunkedDecoder::new(0);
        let mut out = Vec::new();
        let r = d.decode(input, &mut out)?;
        Ok((out, r.consumed, r.done))
    }

    #[test]
    fn decodes_valid_bodies() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A;name=val\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"3 ;x\r\nabc\r\n0\r\nTrailer: yes\r\n\r\n", b"abc"),
            (b"0\r\n\r\n", b""),
        ];
        for (input, want) in cases {
            let (out, consumed, done) = decode_all(input).expect("valid");
            assert_eq!(out, want);
            assert_eq!(consumed, input.len());
            assert!(done);
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let (out, consumed, done) = decode_all(b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1").unwrap();
        assert_eq!((out.as_slice(), consumed, done), (&b"a"[..], 11, true));
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases: [(&[u8], ChunkedError); 8] = [
            (b"x\r\n", ChunkedError::Size),
            (b"\r\n", ChunkedError::Size),
            (b"5\nhello", ChunkedError::Size),
            (b"5\r\nhelloXX", ChunkedError::MissingCrlf),
            (b"fffffffffffffffff\r\n", ChunkedError::Overflow),
            (b"-1\r\n", ChunkedError::Size),
            (b"0 \r\n\r\n", ChunkedError::Size),
            (b"0\r\nbad\nline", ChunkedError::MissingCrlf),
        ];
        for (input, want) in cases {
            assert_eq!(
                decode_all(input).unwrap_err(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = format!("1;{}\r\n", "x".repeat(MAX_LINE));
        assert_eq!(
            decode_all(long.as_bytes()).unwrap_err(),
            ChunkedError::LineTooLong
        );
    }

    #[test]
    fn bounds_the_chunk_extensions_of_a_body() {
        let chunk = format!("1;{}\r\nx\r\n", "e".repeat(1000));
        let mut d = ChunkedDecoder::new(0);
        let mut out = Vec::new();
        for _ in 0..16 {
            d.decode(chunk.as_bytes(), &mut out)
                .expect("within the total");
        }
        let err = d.decode(chunk.as_bytes(), &mut out).unwrap_err();
        assert_eq!((err.status(), err), (400, ChunkedError::ExtensionsTooLarge));
    }

    #[test]
    fn enforces_limit_post() {
        let mut d = ChunkedDecoder::new(4);
        let err = d.decode(b"5\r\nhello\r\n", &mut Vec::new()).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    proptest::proptest! {
        #[test]
        fn any_split_gives_the_same_body(cut in 0usize..40, cut2 in 0usize..40) {
            let input = b"5\r\nhello\r\n6;e=1\r\n world\r\n0\r\nT: v\r\n\r\n";
            let (a, b) = (cut.min(input.len()), cut2.min(input.len()));
            let (a, b) = (a.min(b), a.max(b));
            let mut d = ChunkedDecoder::new(0);
            let mut out = Vec::new();
            let mut done = false;
            for part in [&input[..a], &input[a..b], &input[b..]] {
                let r = d.decode(part, &mut out).unwrap();
                proptest::prop_assert_eq!(r.consumed, part.len());
                done = r.done;
            }
            proptest::prop_assert!(done);
            proptest::prop_assert_eq!(out, b"hello world".to_vec());
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = ChunkedDecoder::new(100).decode(&data, &mut Vec::new());
        }
    }
}
