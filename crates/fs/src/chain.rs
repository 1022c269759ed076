//! An error with its causes, for messages that end up as text (a report line, a log line).

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its [`source`](Error::source)s, `: `-separated.
///
/// The animescore error types leave their cause out of their own message and return it from
/// `source()` instead; where such an error becomes a string (a skipped file's reason, a log
/// line), this keeps the cause in the text.
///
/// ```
/// use animescore_fs::ErrorChain;
/// let io = std::io::Error::other("disk full");
/// assert_eq!(ErrorChain(&io).to_string(), "disk full");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("reading a.txt")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn every_cause_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(ErrorChain(&e).to_string(), "reading a.txt: disk full");
    }
}
