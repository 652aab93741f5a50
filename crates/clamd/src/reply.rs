//! Strict parsing of clamd's replies to the null-terminated (`z`) commands.
//!
//! Every reply to a `z` command is one UTF-8 line terminated by a single NUL byte, after which
//! clamd closes the connection (no `IDSESSION` is used). Anything else is reported as
//! [`ClamdError::MalformedReply`] rather than guessed at.

use crate::ClamdError;

/// The longest reply accepted, terminator included. clamd's replies are a few dozen bytes; a
/// peer that sends more is not a clamd talking the protocol this crate speaks.
pub const MAX_REPLY_LEN: usize = 4096;

/// What clamd answers on `INSTREAM` when the stream grows past its `StreamMaxLength`.
const SIZE_LIMIT_REPLY: &str = "INSTREAM size limit exceeded. ERROR";

/// The outcome of a successful scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScanResult {
    /// `stream: OK`: no signature matched.
    Clean,
    /// `stream: <signature> FOUND`. `signature` is the name as clamd reports it, e.g.
    /// `Win.Test.EICAR_HDB-1`, or `<name>.UNOFFICIAL` for signatures from databases that are
    /// not the official ones.
    Found {
        /// The matching signature's name.
        signature: String,
    },
}

impl ScanResult {
    /// Whether a signature matched.
    pub fn is_infected(&self) -> bool {
        matches!(self, ScanResult::Found { .. })
    }
}

/// Parses clamd's complete reply to `zINSTREAM` (the bytes up to the connection's end,
/// including the NUL terminator).
///
/// | reply | result |
/// | --- | --- |
/// | `stream: OK\0` | `Ok(ScanResult::Clean)` |
/// | `stream: <name> FOUND\0` | `Ok(ScanResult::Found { signature: <name> })` |
/// | `INSTREAM size limit exceeded. ERROR\0` | `Err(ClamdError::SizeLimit)` |
/// | `<message> ERROR\0`, `UNKNOWN COMMAND\0`, `COMMAND READ TIMED OUT\0` | `Err(ClamdError::Daemon(message))` |
/// | anything else | `Err(ClamdError::MalformedReply(..))` |
///
/// "Anything else" includes: an empty reply, a missing or repeated NUL, more than
/// [`MAX_REPLY_LEN`] bytes, invalid UTF-8, control characters such as a newline, `FOUND`
/// without a signature name, and extra or missing spaces.
///
/// ```
/// use hashscan_clamd::{ScanResult, parse_reply};
/// assert_eq!(parse_reply(b"stream: OK\0").unwrap(), ScanResult::Clean);
/// assert_eq!(
///     parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0").unwrap(),
///     ScanResult::Found { signature: "Win.Test.EICAR_HDB-1".into() },
/// );
/// assert!(parse_reply(b"stream: OK").is_err()); // no terminator
/// ```
pub fn parse_reply(reply: &[u8]) -> Result<ScanResult, ClamdError> {
    let text = reply_text(reply)?;
    if let Some(err) = daemon_error(text) {
        return Err(err);
    }
    let Some(body) = text.strip_prefix("stream: ") else {
        return Err(malformed("expected `stream: ...`", text));
    };
    if body == "OK" {
        return Ok(ScanResult::Clean);
    }
    let Some(signature) = body.strip_suffix(" FOUND") else {
        return Err(malformed(
            "expected `stream: OK` or `stream: <name> FOUND`",
            text,
        ));
    };
    if signature.is_empty() {
        return Err(malformed("FOUND without a signature name", text));
    }
    if signature.starts_with(char::is_whitespace) || signature.ends_with(char::is_whitespace) {
        return Err(malformed("whitespace around the signature name", text));
    }
    Ok(ScanResult::Found {
        signature: signature.to_owned(),
    })
}

/// Parses the reply to `zPING`: exactly `PONG\0`.
pub(crate) fn parse_pong(reply: &[u8]) -> Result<(), ClamdError> {
    let text = reply_text(reply)?;
    if let Some(err) = daemon_error(text) {
        return Err(err);
    }
    if text == "PONG" {
        Ok(())
    } else {
        Err(malformed("expected `PONG`", text))
    }
}

/// Parses the reply to `zRELOAD`: `RELOADING` (clamd then loads its databases again in
/// the background, scanning with the old ones meanwhile).
pub(crate) fn parse_reloading(reply: &[u8]) -> Result<(), ClamdError> {
    let text = reply_text(reply)?;
    if let Some(err) = daemon_error(text) {
        return Err(err);
    }
    if text == "RELOADING" {
        Ok(())
    } else {
        Err(malformed("expected `RELOADING`", text))
    }
}

/// Parses the reply to `zVERSION`: `ClamAV <version>[/<db version>/<db date>]\0`.
pub(crate) fn parse_version(reply: &[u8]) -> Result<String, ClamdError> {
    let text = reply_text(reply)?;
    if let Some(err) = daemon_error(text) {
        return Err(err);
    }
    match text.strip_prefix("ClamAV ") {
        Some(rest) if !rest.is_empty() && !rest.starts_with(char::is_whitespace) => {
            Ok(text.to_owned())
        }
        _ => Err(malformed("expected `ClamAV <version>`", text)),
    }
}

/// The reply without its terminator, once it is known to be one well-formed line.
fn reply_text(reply: &[u8]) -> Result<&str, ClamdError> {
    if reply.is_empty() {
        return Err(ClamdError::MalformedReply(
            "empty reply (clamd closed the connection without answering)".into(),
        ));
    }
    if reply.len() > MAX_REPLY_LEN {
        return Err(ClamdError::MalformedReply(format!(
            "reply of {} bytes is longer than the {MAX_REPLY_LEN}-byte maximum",
            reply.len()
        )));
    }
    let Some(body) = reply.strip_suffix(b"\0") else {
        return Err(ClamdError::MalformedReply(format!(
            "reply is not NUL-terminated: {}",
            String::from_utf8_lossy(reply).escape_debug()
        )));
    };
    if body.contains(&0) {
        return Err(ClamdError::MalformedReply(format!(
            "more than one NUL-terminated reply (is AllMatchScans enabled?): {}",
            String::from_utf8_lossy(reply).escape_debug()
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        ClamdError::MalformedReply(format!(
            "reply is not valid UTF-8: {}",
            String::from_utf8_lossy(body).escape_debug()
        ))
    })?;
    if text.is_empty() {
        return Err(ClamdError::MalformedReply("empty reply line".into()));
    }
    if text.chars().any(char::is_control) {
        return Err(malformed("control character in reply", text));
    }
    Ok(text)
}

/// The errors clamd reports in place of an answer, whatever the command.
fn daemon_error(text: &str) -> Option<ClamdError> {
    if text == SIZE_LIMIT_REPLY {
        return Some(ClamdError::SizeLimit);
    }
    if text == "UNKNOWN COMMAND" || text == "COMMAND READ TIMED OUT" {
        return Some(ClamdError::Daemon(text.to_owned()));
    }
    let message = text.strip_suffix(" ERROR")?;
    if message.trim().is_empty() {
        return None;
    }
    Some(ClamdError::Daemon(message.to_owned()))
}

fn malformed(what: &str, text: &str) -> ClamdError {
    ClamdError::MalformedReply(format!("{what}, got {:?}", text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(name: &str) -> ScanResult {
        ScanResult::Found {
            signature: name.to_owned(),
        }
    }

    fn assert_malformed(reply: &[u8]) {
        match parse_reply(reply) {
            Err(ClamdError::MalformedReply(msg)) => assert!(!msg.is_empty()),
            other => panic!("{:?}: expected MalformedReply, got {other:?}", reply),
        }
    }

    #[test]
    fn clean_and_found() {
        assert_eq!(parse_reply(b"stream: OK\0").unwrap(), ScanResult::Clean);
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature FOUND\0").unwrap(),
            found("Eicar-Test-Signature")
        );
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature-Hash.UNOFFICIAL FOUND\0").unwrap(),
            found("Eicar-Test-Signature-Hash.UNOFFICIAL")
        );
        // A name that is literally "OK" or "FOUND" is still a name.
        assert_eq!(parse_reply(b"stream: OK FOUND\0").unwrap(), found("OK"));
        assert_eq!(
            parse_reply(b"stream: FOUND FOUND\0").unwrap(),
            found("FOUND")
        );
        assert!(found("x").is_infected());
        assert!(!ScanResult::Clean.is_infected());
    }

    #[test]
    fn errors_from_the_daemon() {
        assert!(matches!(
            parse_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Err(ClamdError::SizeLimit)
        ));
        match parse_reply(b"stream: Can't allocate memory ERROR\0") {
            Err(ClamdError::Daemon(m)) => assert_eq!(m, "stream: Can't allocate memory"),
            other => panic!("{other:?}"),
        }
        match parse_reply(b"Error processing command. ERROR\0") {
            Err(ClamdError::Daemon(m)) => assert_eq!(m, "Error processing command."),
            other => panic!("{other:?}"),
        }
        for text in ["UNKNOWN COMMAND", "COMMAND READ TIMED OUT"] {
            let reply = format!("{text}\0");
            match parse_reply(reply.as_bytes()) {
                Err(ClamdError::Daemon(m)) => assert_eq!(m, text),
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                parse_pong(reply.as_bytes()),
                Err(ClamdError::Daemon(_))
            ));
        }
    }

    #[test]
    fn negative_replies() {
        let huge_found = {
            let mut v = b"stream: ".to_vec();
            v.extend(std::iter::repeat_n(b'A', MAX_REPLY_LEN));
            v.extend(b" FOUND\0");
            v
        };
        let cases: &[&[u8]] = &[
            b"",
            b"\0",
            b"\0\0",
            b"stream: OK",               // missing terminator
            b"stream: OK\n",             // newline form, not the z form
            b"stream: OK\n\0",           // newline before the terminator
            b"stream: OK\0stream: OK\0", // two replies
            b"stream: OK\0garbage",      // trailing bytes
            b"stream: O\0K\0",           // interior NUL
            b"stream: FOUND\0",          // FOUND without a name
            b"stream:  FOUND\0",         // empty name
            b"stream:   FOUND\0",        // blank name
            b"stream:  Eicar FOUND\0",   // two spaces
            b"stream: Eicar  FOUND\0",   // two spaces
            b"stream: Eicar FOUND \0",   // trailing space
            b"stream: Eicar found\0",    // wrong case
            b"stream: Eicar\tFOUND\0",   // tab
            b"stream: ok\0",
            b"stream: OK \0",
            b" stream: OK\0",
            b"stream:OK\0",
            b"stream: \0",
            b"stream:\0",
            b"OK\0",
            b"PONG\0",
            b"ERROR\0",
            b" ERROR\0",
            b"   ERROR\0",
            b"stream: \xff\xfe FOUND\0", // invalid UTF-8
            b"\xc3\0",                   // truncated UTF-8
            b"\x1b[31mstream: OK\0",     // escape sequence
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            b"garbage",
            &[0xffu8; 64],
        ];
        for reply in cases {
            assert_malformed(reply);
        }
        assert_malformed(&huge_found);
        assert_malformed(&vec![b'x'; 1 << 20]);
    }

    #[test]
    fn malformed_message_names_the_reply() {
        let err = parse_reply(b"stream: what FOUNDED\0").unwrap_err();
        assert!(err.to_string().contains("stream: what FOUNDED"), "{err}");
        let err = parse_reply(b"stream: OK").unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
    }

    #[test]
    fn longest_accepted_reply() {
        let prefix = b"stream: ";
        let suffix = b" FOUND\0";
        let name_len = MAX_REPLY_LEN - prefix.len() - suffix.len();
        let mut reply = prefix.to_vec();
        reply.extend(std::iter::repeat_n(b'N', name_len));
        reply.extend(suffix);
        assert_eq!(reply.len(), MAX_REPLY_LEN);
        assert_eq!(parse_reply(&reply).unwrap(), found(&"N".repeat(name_len)));
        reply.insert(prefix.len(), b'N');
        assert_malformed(&reply);
    }

    #[test]
    fn pong_and_version() {
        parse_pong(b"PONG\0").unwrap();
        for bad in [
            &b"PONG"[..],
            b"PONG\n",
            b"PONG \0",
            b"pong\0",
            b"",
            b"stream: OK\0",
        ] {
            assert!(
                matches!(parse_pong(bad), Err(ClamdError::MalformedReply(_))),
                "{bad:?}"
            );
        }
        assert_eq!(parse_version(b"ClamAV 1.4.6\0").unwrap(), "ClamAV 1.4.6");
        assert_eq!(
            parse_version(b"ClamAV 1.4.3/27481/Thu Dec 12 09:36:06 2024\0").unwrap(),
            "ClamAV 1.4.3/27481/Thu Dec 12 09:36:06 2024"
        );
        for bad in [
            &b"ClamAV \0"[..],
            b"ClamAV  1\0",
            b"ClamAV 1.4.6",
            b"clamav 1\0",
            b"PONG\0",
        ] {
            assert!(
                matches!(parse_version(bad), Err(ClamdError::MalformedReply(_))),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(reply in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = parse_reply(&reply);
            let _ = parse_pong(&reply);
            let _ = parse_version(&reply);
        }

        #[test]
        fn never_panics_on_near_miss_replies(
            prefix in prop::sample::select(vec!["stream: ", "stream:", "", "INSTREAM ", "ClamAV "]),
            middle in ".{0,64}",
            suffix in prop::sample::select(vec![" FOUND", "FOUND", " ERROR", "OK", ""]),
            nul in any::<bool>(),
        ) {
            let mut reply = format!("{prefix}{middle}{suffix}").into_bytes();
            if nul {
                reply.push(0);
            }
            let _ = parse_reply(&reply);
            let _ = parse_pong(&reply);
            let _ = parse_version(&reply);
        }

        #[test]
        fn found_names_round_trip(name in "[A-Za-z0-9._:-]([A-Za-z0-9._: -]{0,80}[A-Za-z0-9._:-])?") {
            let reply = format!("stream: {name} FOUND\0");
            prop_assert_eq!(parse_reply(reply.as_bytes()).unwrap(), ScanResult::Found { signature: name });
        }

        #[test]
        fn unterminated_is_never_accepted(text in "[ -~]{0,100}") {
            prop_assert!(matches!(parse_reply(text.as_bytes()), Err(ClamdError::MalformedReply(_))));
        }
    }
}
