//! A small synchronous client for a running ClamAV daemon (`clamd`).
//!
//! Speaks clamd's null-terminated (`z`) command forms over TCP or a unix socket:
//! [`Clamd::ping`] (`zPING`), [`Clamd::version`] (`zVERSION`), and streamed scans with
//! `zINSTREAM` ([`Clamd::scan_bytes`], [`Clamd::scan_reader`]). One connection per call; no
//! session (`IDSESSION`) is kept open, so a [`Clamd`] is cheap to clone and share between
//! threads.
//!
//! Every socket gets a connect timeout and read/write timeouts, so a stuck or unreachable
//! daemon makes a call fail with [`ClamdError::Timeout`] rather than hang the caller; replies
//! are parsed strictly ([`parse_reply`]).
//!
//! ```no_run
//! use hashscan_clamd::{Clamd, ScanResult};
//! use std::time::Duration;
//!
//! let clamd = Clamd::new("unix:///run/clamav/clamd.ctl".parse()?)
//!     .with_io_timeout(Duration::from_secs(30));
//! clamd.ping()?;
//! match clamd.scan_bytes(b"hello")? {
//!     ScanResult::Clean => println!("clean"),
//!     ScanResult::Found { signature } => println!("infected: {signature}"),
//! }
//! # Ok::<(), hashscan_clamd::ClamdError>(())
//! ```

mod address;
mod reply;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use address::Address;
pub use reply::{MAX_REPLY_LEN, ScanResult, parse_reply};

/// Everything that can go wrong talking to clamd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClamdError {
    /// The connection could not be made (refused, no such socket, unresolvable host, ...).
    #[error("cannot connect to clamd at {address}: {source}")]
    Connect {
        /// The address that was tried.
        address: Address,
        /// The last connection error.
        #[source]
        source: io::Error,
    },
    /// A socket operation did not complete within its timeout.
    #[error("clamd at {address} timed out while {during} (timeout {timeout:?})")]
    Timeout {
        /// The daemon's address.
        address: Address,
        /// What was being done: `connecting`, `sending the command`, `sending the stream`
        /// or `reading the reply`.
        during: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// Any other I/O error on the connection.
    #[error("I/O error talking to clamd at {address} while {during}: {source}")]
    Io {
        /// The daemon's address.
        address: Address,
        /// What was being done (see [`ClamdError::Timeout::during`]).
        during: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// clamd answered with an error (`<message> ERROR`, `UNKNOWN COMMAND`, ...). Holds the
    /// message without the trailing ` ERROR`.
    #[error("clamd reported an error: {0}")]
    Daemon(String),
    /// The stream was longer than clamd's `StreamMaxLength`; clamd answered
    /// `INSTREAM size limit exceeded. ERROR` and closed the connection. Nothing was scanned.
    #[error(
        "the data is larger than clamd's StreamMaxLength (clamd: INSTREAM size limit exceeded)"
    )]
    SizeLimit,
    /// clamd's reply did not follow the protocol (see [`parse_reply`]).
    #[error("malformed reply from clamd: {0}")]
    MalformedReply(String),
    /// Reading the data to scan from the caller's reader failed.
    #[error("reading the data to scan failed: {0}")]
    Input(#[source] io::Error),
    /// A string could not be parsed as an [`Address`].
    #[error("invalid clamd address {input:?}: {reason}")]
    InvalidAddress {
        /// The string given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

/// A clamd client: an address plus timeouts and the `INSTREAM` chunk size.
///
/// Each call opens a new connection, sends one `z` command and reads the reply up to the
/// point clamd closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Clamd {
    address: Address,
    connect_timeout: Duration,
    io_timeout: Duration,
    chunk_size: usize,
}

impl Clamd {
    /// How long a connection attempt may take by default.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default I/O timeout: clamd's own default `ReadTimeout`/`CommandReadTimeout` limits
    /// are of the same order, and a scan of a large archive can take a while.
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(120);
    /// The default size of one `INSTREAM` chunk.
    pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
    /// The largest chunk size [`Clamd::with_chunk_size`] accepts; larger values are clamped.
    pub const MAX_CHUNK_SIZE: usize = 8 * 1024 * 1024;
    /// The smallest timeout; zero durations are raised to this (the OS rejects a zero socket
    /// timeout, and "no timeout" is not offered).
    const MIN_TIMEOUT: Duration = Duration::from_millis(1);

    /// A client for the daemon at `address`, with the default timeouts and chunk size.
    pub fn new(address: Address) -> Self {
        Clamd {
            address,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            io_timeout: Self::DEFAULT_IO_TIMEOUT,
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
        }
    }

    /// Sets how long establishing a connection may take (zero is raised to 1 ms).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Self::MIN_TIMEOUT);
        self
    }

    /// Sets the I/O timeout (zero is raised to 1 ms): the limit for each write to the socket,
    /// and for the whole of reading clamd's reply once the data has been sent, which includes
    /// the time clamd takes to scan it.
    #[must_use]
    pub fn with_io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Self::MIN_TIMEOUT);
        self
    }

    /// Sets the size of the chunks `INSTREAM` sends, clamped to `1..=`[`Self::MAX_CHUNK_SIZE`].
    #[must_use]
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.clamp(1, Self::MAX_CHUNK_SIZE);
        self
    }

    /// The daemon's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The I/O timeout.
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// The `INSTREAM` chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Checks that clamd answers: sends `zPING`, expects `PONG`.
    pub fn ping(&self) -> Result<(), ClamdError> {
        let reply = self.simple_command(b"zPING\0")?;
        reply::parse_pong(&reply)
    }

    /// clamd's version line, e.g. `ClamAV 1.4.6` or, with official databases loaded,
    /// `ClamAV 1.4.6/27481/Thu Dec 12 09:36:06 2024` (engine/database version/database date).
    pub fn version(&self) -> Result<String, ClamdError> {
        let reply = self.simple_command(b"zVERSION\0")?;
        reply::parse_version(&reply)
    }

    /// Asks clamd to load its databases again (`zRELOAD`), as freshclam does after an
    /// update; clamd answers `RELOADING` at once and reloads in the background.
    pub fn reload(&self) -> Result<(), ClamdError> {
        let reply = self.simple_command(b"zRELOAD\0")?;
        reply::parse_reloading(&reply)
    }

    /// Scans `data` with `INSTREAM`.
    pub fn scan_bytes(&self, data: &[u8]) -> Result<ScanResult, ClamdError> {
        let mut data = data;
        self.scan_reader(&mut data)
    }

    /// Scans everything `reader` yields, streamed to clamd with `INSTREAM` in chunks of
    /// [`Clamd::chunk_size`] bytes.
    ///
    /// Fails with [`ClamdError::SizeLimit`] when the data is longer than clamd's
    /// `StreamMaxLength` (clamd stops reading then; the rest of the reader is not consumed),
    /// and with [`ClamdError::Input`] when the reader fails.
    pub fn scan_reader(&self, reader: &mut dyn Read) -> Result<ScanResult, ClamdError> {
        let mut conn = self.connect()?;
        self.send(&mut conn, b"zINSTREAM\0", "sending the command")?;

        const DURING: &str = "sending the stream";
        // One buffer holds the 4-byte big-endian length and the chunk after it, so each chunk
        // is one write.
        let mut buf = vec![0u8; 4 + self.chunk_size];
        loop {
            let n = match reader.read(&mut buf[4..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClamdError::Input(e)),
            };
            // n <= MAX_CHUNK_SIZE, far below u32::MAX.
            let len = u32::try_from(n).map_err(|_| {
                ClamdError::Input(io::Error::new(
                    ErrorKind::InvalidData,
                    "reader returned more bytes than the buffer holds",
                ))
            })?;
            buf[..4].copy_from_slice(&len.to_be_bytes());
            if let Err(e) = self.send(&mut conn, &buf[..4 + n], DURING) {
                return Err(self.after_send_failure(&mut conn, e));
            }
        }
        if let Err(e) = self.send(&mut conn, &[0, 0, 0, 0], DURING) {
            return Err(self.after_send_failure(&mut conn, e));
        }
        let reply = self.read_reply(&mut conn)?;
        parse_reply(&reply)
    }

    /// Sends a command that has no payload and returns the raw reply.
    fn simple_command(&self, command: &[u8]) -> Result<Vec<u8>, ClamdError> {
        let mut conn = self.connect()?;
        self.send(&mut conn, command, "sending the command")?;
        self.read_reply(&mut conn)
    }

    /// When sending the stream failed because clamd closed the connection, clamd has usually
    /// said why first (above all `INSTREAM size limit exceeded. ERROR`): read and report that.
    fn after_send_failure(&self, conn: &mut Conn, send_error: ClamdError) -> ClamdError {
        let closed_by_peer = matches!(
            &send_error,
            ClamdError::Io { source, .. } if matches!(
                source.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            )
        );
        if !closed_by_peer {
            return send_error;
        }
        match self.read_reply(conn).map(|reply| parse_reply(&reply)) {
            // An error reply explains the closed connection.
            Ok(Err(err @ (ClamdError::SizeLimit | ClamdError::Daemon(_)))) => err,
            // Anything else (no reply, a result for a stream that was never completed) does
            // not; report the failed send.
            _ => send_error,
        }
    }

    fn connect(&self) -> Result<Conn, ClamdError> {
        let conn = match &self.address {
            Address::Tcp(hostport) => Conn::Tcp(self.connect_tcp(hostport)?),
            Address::Unix(path) => Conn::Unix(self.connect_unix(path)?),
        };
        conn.set_timeouts(self.io_timeout)
            .map_err(|source| ClamdError::Io {
                address: self.address.clone(),
                during: "connecting",
                source,
            })?;
        Ok(conn)
    }

    fn connect_tcp(&self, hostport: &str) -> Result<TcpStream, ClamdError> {
        let connect_error = |source| ClamdError::Connect {
            address: self.address.clone(),
            source,
        };
        let addrs: Vec<_> = hostport.to_socket_addrs().map_err(connect_error)?.collect();
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    // Commands and the end-of-stream marker are tiny writes: don't let Nagle
                    // hold them back waiting for an ACK.
                    stream.set_nodelay(true).map_err(connect_error)?;
                    return Ok(stream);
                }
                Err(e) => last_error = Some(e),
            }
        }
        let e = last_error.unwrap_or_else(|| {
            io::Error::new(ErrorKind::NotFound, "host name resolved to no address")
        });
        Err(self.connect_failure(e))
    }

    /// `UnixStream::connect` has no timeout, and blocks while the daemon's listen backlog is
    /// full; connect on a helper thread so that the caller waits at most `connect_timeout`.
    fn connect_unix(&self, path: &Path) -> Result<UnixStream, ClamdError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let owned = path.to_owned();
        thread::Builder::new()
            .name("clamd-connect".into())
            .spawn(move || {
                // If the caller gave up, the late stream is dropped (closed) here.
                let _ = tx.send(UnixStream::connect(owned));
            })
            .map_err(|source| ClamdError::Connect {
                address: self.address.clone(),
                source,
            })?;
        match rx.recv_timeout(self.connect_timeout) {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(self.connect_failure(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(self.timeout("connecting", self.connect_timeout))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ClamdError::Connect {
                address: self.address.clone(),
                source: io::Error::other("connecting thread ended without a result"),
            }),
        }
    }

    fn connect_failure(&self, e: io::Error) -> ClamdError {
        if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
            self.timeout("connecting", self.connect_timeout)
        } else {
            ClamdError::Connect {
                address: self.address.clone(),
                source: e,
            }
        }
    }

    fn send(&self, conn: &mut Conn, data: &[u8], during: &'static str) -> Result<(), ClamdError> {
        conn.write_all(data).map_err(|e| self.io_error(e, during))
    }

    /// Reads until clamd closes the connection, for at most `io_timeout` in total.
    fn read_reply(&self, conn: &mut Conn) -> Result<Vec<u8>, ClamdError> {
        const DURING: &str = "reading the reply";
        let deadline = Instant::now() + self.io_timeout;
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout(DURING, self.io_timeout));
            }
            conn.set_read_timeout(remaining.max(Self::MIN_TIMEOUT))
                .map_err(|e| self.io_error(e, DURING))?;
            match conn.read(&mut buf) {
                Ok(0) => return Ok(reply),
                Ok(n) => {
                    reply.extend_from_slice(&buf[..n]);
                    if reply.len() > MAX_REPLY_LEN {
                        // parse_reply reports the length; no point reading on.
                        return Ok(reply);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // clamd closes right after answering; when it had not read all we sent (the
                // size limit), the close arrives as a reset after its reply.
                Err(e)
                    if reply.ends_with(b"\0")
                        && matches!(
                            e.kind(),
                            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                        ) =>
                {
                    return Ok(reply);
                }
                Err(e) => return Err(self.io_error(e, DURING)),
            }
        }
    }

    fn io_error(&self, e: io::Error, during: &'static str) -> ClamdError {
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            self.timeout(during, self.io_timeout)
        } else {
            ClamdError::Io {
                address: self.address.clone(),
                during,
                source: e,
            }
        }
    }

    fn timeout(&self, during: &'static str, timeout: Duration) -> ClamdError {
        ClamdError::Timeout {
            address: self.address.clone(),
            during,
            timeout,
        }
    }
}

/// One connection to clamd.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(timeout)?;
        match self {
            Conn::Tcp(s) => s.set_write_timeout(Some(timeout)),
            Conn::Unix(s) => s.set_write_timeout(Some(timeout)),
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_read_timeout(Some(timeout)),
            Conn::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.flush(),
            Conn::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn builder_clamps() {
        let c = Clamd::new("127.0.0.1:3310".parse().unwrap())
            .with_connect_timeout(Duration::ZERO)
            .with_io_timeout(Duration::from_secs(7))
            .with_chunk_size(0);
        assert_eq!(c.connect_timeout(), Duration::from_millis(1));
        assert_eq!(c.io_timeout(), Duration::from_secs(7));
        assert_eq!(c.chunk_size(), 1);
        assert_eq!(
            c.with_chunk_size(usize::MAX).chunk_size(),
            Clamd::MAX_CHUNK_SIZE
        );
        let d = Clamd::new(Address::Unix("/x".into()));
        assert_eq!(d.connect_timeout(), Clamd::DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(d.io_timeout(), Clamd::DEFAULT_IO_TIMEOUT);
        assert_eq!(d.chunk_size(), Clamd::DEFAULT_CHUNK_SIZE);
    }

    /// A fake daemon that accepts one connection and runs `f` on it.
    fn fake_daemon(
        f: impl FnOnce(TcpStream) + Send + 'static,
    ) -> (Address, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            f(stream);
        });
        (Address::from(addr), handle)
    }

    #[test]
    fn silent_daemon_times_out() {
        let (addr, handle) = fake_daemon(|mut s| {
            // Read the command, never answer; hold the connection until the client gives up.
            let mut buf = [0u8; 64];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        });
        let clamd = Clamd::new(addr).with_io_timeout(Duration::from_millis(200));
        let start = Instant::now();
        let err = clamd.ping().unwrap_err();
        assert!(
            matches!(
                err,
                ClamdError::Timeout {
                    during: "reading the reply",
                    ..
                }
            ),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(clamd);
        handle.join().unwrap();
    }

    #[test]
    fn trickling_daemon_hits_the_total_reply_deadline() {
        let (addr, handle) = fake_daemon(|mut s| {
            let mut cmd = [0u8; 6];
            s.read_exact(&mut cmd).unwrap();
            // One byte every 50 ms: each read succeeds, the whole reply never completes in
            // time.
            for _ in 0..40 {
                if s.write_all(b"P").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        let clamd = Clamd::new(addr).with_io_timeout(Duration::from_millis(300));
        let start = Instant::now();
        let err = clamd.ping().unwrap_err();
        assert!(matches!(err, ClamdError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_millis(1500));
        handle.join().unwrap();
    }

    #[test]
    fn garbage_and_oversized_replies_are_malformed() {
        let (addr, handle) = fake_daemon(|mut s| {
            let mut cmd = [0u8; 6];
            s.read_exact(&mut cmd).unwrap();
            let _ = s.write_all(&vec![b'x'; 100_000]);
        });
        let err = Clamd::new(addr).ping().unwrap_err();
        assert!(matches!(err, ClamdError::MalformedReply(_)), "{err}");
        handle.join().unwrap();

        let (addr, handle) = fake_daemon(|mut s| {
            let mut cmd = [0u8; 9];
            s.read_exact(&mut cmd).unwrap();
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let err = Clamd::new(addr).version().unwrap_err();
        assert!(matches!(err, ClamdError::MalformedReply(_)), "{err}");
        handle.join().unwrap();
    }

    #[test]
    fn instream_framing() {
        let (addr, handle) = fake_daemon(|mut s| {
            let mut cmd = [0u8; 10];
            s.read_exact(&mut cmd).unwrap();
            assert_eq!(&cmd, b"zINSTREAM\0");
            let mut data = Vec::new();
            let mut chunks = Vec::new();
            loop {
                let mut len = [0u8; 4];
                s.read_exact(&mut len).unwrap();
                let len = u32::from_be_bytes(len) as usize;
                if len == 0 {
                    break;
                }
                chunks.push(len);
                let mut chunk = vec![0u8; len];
                s.read_exact(&mut chunk).unwrap();
                data.extend(chunk);
            }
            assert_eq!(data, b"0123456789".repeat(10));
            assert!(chunks.iter().all(|&c| c <= 7), "{chunks:?}");
            s.write_all(b"stream: Fake.Sig FOUND\0").unwrap();
        });
        let result = Clamd::new(addr)
            .with_chunk_size(7)
            .scan_bytes(&b"0123456789".repeat(10))
            .unwrap();
        assert_eq!(
            result,
            ScanResult::Found {
                signature: "Fake.Sig".into()
            }
        );
        handle.join().unwrap();
    }

    #[test]
    fn reader_errors_are_input_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let (addr, handle) = fake_daemon(|mut s| {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
        });
        let err = Clamd::new(addr).scan_reader(&mut Failing).unwrap_err();
        assert!(matches!(err, ClamdError::Input(_)), "{err}");
        assert!(err.to_string().contains("disk on fire"));
        handle.join().unwrap();
    }

    #[test]
    fn refused_connection_names_the_address() {
        // Bind then drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: Address = format!("127.0.0.1:{port}").parse().unwrap();
        let err = Clamd::new(address).ping().unwrap_err();
        assert!(matches!(err, ClamdError::Connect { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "cannot connect to clamd at tcp://127.0.0.1:{port}"
            )),
            "{err}"
        );

        let err = Clamd::new(Address::Unix("/nonexistent/clamd.sock".into()))
            .ping()
            .unwrap_err();
        assert!(matches!(err, ClamdError::Connect { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("cannot connect to clamd at unix:///nonexistent/clamd.sock"),
            "{err}"
        );
    }
}
