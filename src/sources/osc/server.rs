//! The OSC server: a receive thread hands datagrams to the control loop and wakes it (no
//! thread of its own touches state); the loop handles them and replies to each sender, and the data Chronus sends out — visual
//! levels, the beat clock and slot changes.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rosc::{OscBundle, OscMessage, OscPacket, OscType};

use super::follow::{FollowAction, FollowStatus, Follower};
use super::routes::Handler;
use super::routes::{self, Outcome, ServerView};
use super::schema::CLOCK_ADDRESS;
use super::wire::{self, MAX_DATAGRAM, clip, message, number};
use super::{ClockMode, DEFAULT_OUT, OscArgs};
use crate::control::{Command, Controller, Level, Notice, Service, Waker};

/// Datagrams handled per control-loop turn, so a flood cannot starve the screen.
pub const MAX_DATAGRAMS_PER_POLL: usize = 2048;
/// Messages handled per datagram (a bundle may hold thousands).
pub const MAX_MESSAGES_PER_DATAGRAM: usize = 256;
/// Distinct unknown addresses remembered (later ones are only counted).
pub const MAX_UNKNOWN_KEPT: usize = 256;
/// How often `/viz/levels` and `/viz/spectrum` go out.
pub const VIZ_PERIOD: Duration = Duration::from_millis(100);
/// Warnings remembered as sent (sender, address, text), so each goes once to a sender; past
/// this many, further warnings are not sent (they are still counted).
pub const MAX_WARNED: usize = 4096;
/// `/error` and `/warning` answers told as notices per control-loop turn; past this, a flood
/// of bad messages is told as one count, so the frontends' output stays bounded.
pub const MAX_ANSWER_NOTICES: usize = 256;
/// Largest reply sent; anything longer is answered with an `/error`.
const MAX_REPLY: usize = 65_000;
/// Receive buffer asked for: the usual default holds only a few hundred small datagrams,
/// which a 10 000 messages/s flood fills during one slow control-loop turn.
const RECV_BUFFER: usize = 1 << 20;

/// Datagrams waiting between the receive thread and the control loop.
pub const INBOX_DATAGRAMS: usize = 8192;
/// Bytes waiting there at most: a flood of large datagrams is dropped (and counted) beyond it.
pub const INBOX_BYTES: usize = 8 << 20;
/// How often the receive thread looks up from a quiet socket to see whether it should end.
const RECV_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest a reply may wait for room in the socket's send buffer.
const SEND_TIMEOUT: Duration = Duration::from_millis(5);

/// Binds a UDP socket with a large receive buffer (best effort: the kernel caps it).
fn bind_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// What the receive thread shares with the server.
#[derive(Debug, Default)]
struct Inbox {
    stop: AtomicBool,
    bytes: AtomicUsize,
    overflow: AtomicU64,
    recv_errors: AtomicU64,
    waker: OnceLock<Waker>,
}

/// Receives datagrams on a thread of its own and wakes the control loop for each, so an OSC
/// message waits for no timer; the control loop alone touches state.
fn spawn_receiver(
    socket: UdpSocket,
    tx: SyncSender<(Vec<u8>, SocketAddr)>,
    inbox: Arc<Inbox>,
) -> io::Result<()> {
    socket.set_read_timeout(Some(RECV_TIMEOUT))?;
    std::thread::Builder::new()
        .name("chronus-osc-in".into())
        .spawn(move || {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !inbox.stop.load(Ordering::Relaxed) {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let held = inbox.bytes.load(Ordering::Relaxed);
                        let sent = held + n <= INBOX_BYTES
                            && match tx.try_send((buf[..n].to_vec(), from)) {
                                Ok(()) => true,
                                Err(TrySendError::Full(_)) => false,
                                Err(TrySendError::Disconnected(_)) => return,
                            };
                        if sent {
                            inbox.bytes.fetch_add(n, Ordering::Relaxed);
                        } else {
                            inbox.overflow.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(w) = inbox.waker.get() {
                            w.wake();
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                                // An ICMP "port unreachable" for an earlier reply.
                                | io::ErrorKind::ConnectionRefused
                                | io::ErrorKind::ConnectionReset
                        ) => {}
                    Err(_) => {
                        inbox.recv_errors.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(RECV_TIMEOUT);
                    }
                }
            }
        })?;
    Ok(())
}

/// Traffic counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OscStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Messages handled (bundles count each message).
    pub messages: u64,
    /// Messages refused (answered with `/error`), unknown addresses included.
    pub refused: u64,
    /// Datagrams that were not valid OSC.
    pub undecodable: u64,
    /// Messages beyond [`MAX_MESSAGES_PER_DATAGRAM`] in one datagram, dropped.
    pub dropped: u64,
    /// Clock bundles received while not following.
    pub clock_ignored: u64,
    /// Packets sent (replies and out).
    pub sent: u64,
    /// Sends that failed (nobody listening, buffer full); never retried.
    pub send_errors: u64,
    /// Receive errors other than "nothing waiting".
    pub recv_errors: u64,
    /// Datagrams dropped because the control loop fell behind (inbox full).
    pub overflow: u64,
    /// Datagrams taken from the socket and handled (the rest of `datagrams` were handed in
    /// directly).
    pub received: u64,
    /// Messages taken and ignored, as Music Chronus ignored them (also counted as unknown).
    pub ignored: u64,
    /// Warnings sent (each once per sender, address and text).
    pub warnings: u64,
}

/// Why OSC could not start.
#[derive(Debug, thiserror::Error)]
pub enum OscSetupError {
    /// The listening socket could not be bound (port in use, address not local).
    // The messages hold their causes, so none is also returned as `source()`: a chain
    // printer would say it twice.
    #[error("cannot listen for OSC on {addr} (--osc-port/--osc-bind): {error}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        error: io::Error,
    },
    /// An `--osc-out` value is not a reachable HOST:PORT.
    #[error("--osc-out {value:?}: {reason}")]
    BadOut {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The sending socket could not be opened.
    #[error("cannot open a socket to send OSC from {from}: {error}")]
    OutSocket {
        /// The address it was to be bound to (the one OSC listens on).
        from: IpAddr,
        /// The operating system's error.
        error: io::Error,
    },
    /// An `--osc-out` destination the interface OSC listens on cannot reach.
    #[error(
        "--osc-out {dest}: cannot be reached from {from}, the address OSC listens and sends on (--osc-bind){}",
        why(error.as_ref())
    )]
    Unreachable {
        /// The destination.
        dest: SocketAddr,
        /// The address OSC listens on.
        from: IpAddr,
        /// The operating system's error, when it gave one (none: the families differ).
        error: Option<io::Error>,
    },
}

fn why(error: Option<&io::Error>) -> String {
    match error {
        Some(e) => format!(": {e}"),
        None => " (one is IPv4, the other IPv6)".to_string(),
    }
}

/// The address Chronus sends from to reach addresses of one family, given the one it listens
/// on: the same interface (loopback stays loopback, all interfaces stay all); `None` when it
/// listens on one specific address of the other family.
fn send_ip(listen: IpAddr, v4: bool) -> Option<IpAddr> {
    match (listen, v4) {
        (IpAddr::V4(_), true) | (IpAddr::V6(_), false) => Some(listen),
        (l, true) if l.is_loopback() => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        (l, false) if l.is_loopback() => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        (l, true) if l.is_unspecified() => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        (l, false) if l.is_unspecified() => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => None,
    }
}

/// A socket bound to `from` (any port) that can send to `dest`: the route is checked now, so
/// a destination the interface cannot reach is an error at start, not a silent loss later.
fn out_socket(from: IpAddr, dest: SocketAddr) -> Result<UdpSocket, OscSetupError> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0))
        .map_err(|error| OscSetupError::OutSocket { from, error })?;
    let probe = UdpSocket::bind(SocketAddr::new(from, 0))
        .map_err(|error| OscSetupError::OutSocket { from, error })?;
    probe
        .connect(dest)
        .map_err(|error| OscSetupError::Unreachable {
            dest,
            from,
            error: Some(error),
        })?;
    socket
        .set_nonblocking(true)
        .map_err(|error| OscSetupError::OutSocket { from, error })?;
    Ok(socket)
}

/// Resolves one `--osc-out HOST:PORT`.
pub fn parse_out(value: &str) -> Result<SocketAddr, OscSetupError> {
    let bad = |reason: String| OscSetupError::BadOut {
        value: value.to_string(),
        reason,
    };
    if !value.contains(':') {
        return Err(bad("expected HOST:PORT, e.g. 127.0.0.1:5006".into()));
    }
    let mut addrs = value
        .to_socket_addrs()
        .map_err(|e| bad(format!("expected HOST:PORT ({e})")))?;
    addrs
        .next()
        .ok_or_else(|| bad("the host name has no address".into()))
}

/// Resolves one `--osc-out HOST:PORT`, preferring an address of the family OSC listens on
/// (`localhost` may name both ::1 and 127.0.0.1).
fn resolve_out(value: &str, listen: IpAddr) -> Result<SocketAddr, OscSetupError> {
    let first = parse_out(value)?;
    let same_family = value
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.find(|a| a.is_ipv4() == listen.is_ipv4()));
    Ok(same_family.unwrap_or(first))
}

/// The OSC server (see the module docs). A [`Service`] of the control loop.
pub struct OscServer {
    socket: UdpSocket,
    inbox: Arc<Inbox>,
    received: Receiver<(Vec<u8>, SocketAddr)>,
    local: SocketAddr,
    out_v4: Option<UdpSocket>,
    out_v6: Option<UdpSocket>,
    dests: Vec<SocketAddr>,
    stats: OscStats,
    unknown: BTreeMap<String, u64>,
    unknown_total: u64,
    follower: Option<Follower>,
    last_viz: Option<Instant>,
    sent_playing: Option<Option<crate::store::SlotNumber>>,
    sent_queued: Option<Option<(crate::store::SlotNumber, u64)>>,
    announced: bool,
    last_song_bpm: Option<f64>,
    /// The saves (by [`Controller::last_save_id`]) `/pattern/save` messages of the datagram
    /// being handled asked for.
    saves_asked: Vec<u64>,
    /// Saves under way on the disk thread and who asked, oldest first: the sender is
    /// answered when the disk reports that save.
    save_waiters: std::collections::VecDeque<(u64, SocketAddr)>,
    /// Who sent the datagram being handled (`None` when a test hands one in).
    from: Option<SocketAddr>,
    /// Warnings already sent: (sender, address, text).
    warned: std::collections::HashSet<(Option<SocketAddr>, String, String)>,
    /// `/error` and `/warning` answers sent since the last turn, to become notices.
    answered: Vec<Notice>,
    /// Answers past [`MAX_ANSWER_NOTICES`] since the last turn, told as a count.
    answers_untold: u64,
}

/// Saves whose sender is remembered for an `/error` answer; older ones are forgotten first.
const MAX_SAVE_WAITERS: usize = 256;

impl OscServer {
    /// Listens on `addr` (a receive thread takes datagrams in), sending nothing out and keeping its own clock; see
    /// [`OscServer::with_outputs`] and [`OscServer::with_clock`].
    pub fn bind(addr: SocketAddr) -> io::Result<OscServer> {
        let socket = bind_socket(addr)?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        let local = socket.local_addr()?;
        let inbox = Arc::new(Inbox::default());
        let (tx, received) = mpsc::sync_channel(INBOX_DATAGRAMS);
        spawn_receiver(socket.try_clone()?, tx, inbox.clone())?;
        Ok(OscServer {
            socket,
            inbox,
            received,
            local,
            out_v4: None,
            out_v6: None,
            dests: Vec::new(),
            stats: OscStats::default(),
            unknown: BTreeMap::new(),
            unknown_total: 0,
            follower: None,
            last_viz: None,
            sent_playing: None,
            sent_queued: None,
            saves_asked: Vec::new(),
            save_waiters: Default::default(),
            announced: false,
            last_song_bpm: None,
            from: None,
            warned: Default::default(),
            answered: Vec::new(),
            answers_untold: 0,
        })
    }

    /// The server the command-line options ask for.
    pub fn from_args(args: &OscArgs) -> Result<OscServer, OscSetupError> {
        let ip = args.osc_bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let addr = SocketAddr::new(ip, args.osc_port);
        let server = OscServer::bind(addr).map_err(|error| OscSetupError::Bind { addr, error })?;
        let outs: Vec<&str> = if args.osc_out.is_empty() {
            vec![DEFAULT_OUT]
        } else {
            args.osc_out.iter().map(String::as_str).collect()
        };
        let dests = outs
            .into_iter()
            .map(|o| resolve_out(o, ip))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(server.with_outputs(dests)?.with_clock(args.clock))
    }

    /// Sends visual data, the clock and slot changes to `dests`, from the interface the
    /// server listens on (so `--osc-bind 127.0.0.1` never sends from another interface).
    /// Fails when that interface cannot reach one of them.
    pub fn with_outputs(mut self, dests: Vec<SocketAddr>) -> Result<OscServer, OscSetupError> {
        let listen = self.local.ip();
        for dest in &dests {
            let from = send_ip(listen, dest.is_ipv4()).ok_or(OscSetupError::Unreachable {
                dest: *dest,
                from: listen,
                error: None,
            })?;
            let slot = if dest.is_ipv4() {
                &mut self.out_v4
            } else {
                &mut self.out_v6
            };
            let socket = out_socket(from, *dest)?;
            slot.get_or_insert(socket);
        }
        self.dests = dests;
        Ok(self)
    }

    /// The addresses visual data, the clock and slot changes are sent from (IPv4, IPv6).
    pub fn out_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let addr = |s: &Option<UdpSocket>| s.as_ref().and_then(|s| s.local_addr().ok());
        (addr(&self.out_v4), addr(&self.out_v6))
    }

    /// Keeps its own clock, or follows `/chronus/clock` bundles from a leader.
    pub fn with_clock(mut self, mode: ClockMode) -> OscServer {
        self.follower = (mode == ClockMode::Follow).then(Follower::new);
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where visual data, the clock and slot changes go.
    pub fn outputs(&self) -> &[SocketAddr] {
        &self.dests
    }

    /// Traffic counters.
    pub fn stats(&self) -> &OscStats {
        &self.stats
    }

    /// Unknown addresses seen, with how many messages each got.
    pub fn unknown_routes(&self) -> &BTreeMap<String, u64> {
        &self.unknown
    }

    /// The clock follower's state, with `--clock follow`.
    pub fn follow_status(&self) -> Option<FollowStatus> {
        self.follower.as_ref().map(Follower::status)
    }

    /// One line for the status bar: where OSC listens, its traffic, and the clock source.
    pub fn describe(&self) -> String {
        let s = &self.stats;
        let mut line = format!(
            "OSC {} · {} msgs · {} refused · {} unknown",
            self.local, s.messages, s.refused, self.unknown_total
        );
        if let Some(f) = self.follow_status() {
            line.push_str(" · ");
            line.push_str(&f.describe());
        }
        line
    }

    /// Decodes one datagram and handles every message in it; returns the replies for the
    /// sender. Never panics on any input.
    pub fn handle_datagram(&mut self, ctl: &mut Controller, bytes: &[u8]) -> Vec<OscPacket> {
        self.stats.datagrams += 1;
        let mut replies = Vec::new();
        match wire::decode(bytes) {
            Ok(packet) => {
                let mut budget = MAX_MESSAGES_PER_DATAGRAM;
                self.walk(ctl, packet, None, &mut budget, &mut replies);
            }
            Err(e) => {
                self.stats.undecodable += 1;
                // Answer what looks like an attempt at OSC; stay quiet to other traffic.
                if matches!(bytes.first(), Some(b'/' | b'#')) {
                    replies.push(error_packet("", &e));
                }
            }
        }
        replies
    }

    fn walk(
        &mut self,
        ctl: &mut Controller,
        packet: OscPacket,
        timetag: Option<f64>,
        budget: &mut usize,
        replies: &mut Vec<OscPacket>,
    ) {
        match packet {
            OscPacket::Message(m) => {
                if *budget == 0 {
                    self.stats.dropped += 1;
                    return;
                }
                *budget -= 1;
                self.handle_message(ctl, m, timetag, replies);
            }
            OscPacket::Bundle(b) => {
                let tt = wire::unix_from_ntp(b.timetag).or(timetag);
                for p in b.content {
                    self.walk(ctl, p, tt, budget, replies);
                }
            }
        }
    }

    fn handle_message(
        &mut self,
        ctl: &mut Controller,
        msg: OscMessage,
        timetag: Option<f64>,
        replies: &mut Vec<OscPacket>,
    ) {
        self.stats.messages += 1;
        if let Err(e) = wire::check_sizes(&msg) {
            // Refused before any route sees it: a huge text never reaches the song.
            self.stats.refused += 1;
            replies.push(error_packet(&clip(&msg.addr), &e.to_string()));
            return;
        }
        let addr = msg.addr.as_str();
        match routes::find(addr).map(|(r, _)| r.handler) {
            Some(Handler::Clock) => {
                if let Err(e) = self.on_clock(&msg, timetag) {
                    self.stats.refused += 1;
                    replies.push(error_packet(addr, &e));
                }
                return;
            }
            Some(Handler::Ignore) => return,
            Some(Handler::Apply(_)) | None => {}
        }
        let view = ServerView {
            unknown: &self.unknown,
            unknown_total: self.unknown_total,
            stats: &self.stats,
            follower: self.follower.as_ref(),
            local: self.local,
            dests: &self.dests,
        };
        match routes::route(ctl, &msg, &view) {
            Outcome::Silent => {
                if addr == "/pattern/save" {
                    self.saves_asked.push(ctl.last_save_id());
                }
            }
            Outcome::Reply(args) => {
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(OscType::String(msg.addr.clone()));
                all.extend(args);
                replies.push(OscPacket::Message(message("/reply", all)));
            }
            Outcome::Unknown => {
                self.stats.refused += 1;
                self.count_unknown(addr);
                replies.push(error_packet(
                    addr,
                    "unknown address (/engine/schema lists the address space)",
                ));
            }
            Outcome::Refused(e) => {
                self.stats.refused += 1;
                replies.push(error_packet(addr, &e));
            }
            Outcome::Ignored(why) => {
                self.stats.ignored += 1;
                self.count_unknown(addr);
                self.warn_once(addr, why, replies);
            }
            Outcome::Warned(reply, warnings) => {
                // Warnings first: a client that stops listening at the reply (chronus ctl)
                // has read them by then.
                for w in warnings {
                    self.warn_once(addr, w, replies);
                }
                if let Some(args) = reply {
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(OscType::String(msg.addr.clone()));
                    all.extend(args);
                    replies.push(OscPacket::Message(message("/reply", all)));
                }
            }
        }
    }

    /// Counts a message to an address the address space does not act on.
    fn count_unknown(&mut self, addr: &str) {
        self.unknown_total += 1;
        let key = clip(addr);
        if let Some(n) = self.unknown.get_mut(&key) {
            *n += 1;
        } else if self.unknown.len() < MAX_UNKNOWN_KEPT {
            self.unknown.insert(key, 1);
        }
    }

    /// Answers `/warning <addr> <text>` unless this sender was told so already.
    fn warn_once(&mut self, addr: &str, text: String, replies: &mut Vec<OscPacket>) {
        let key = (self.from, clip(addr), text);
        if self.warned.contains(&key) || self.warned.len() >= MAX_WARNED {
            return;
        }
        replies.push(warning_packet(&key.1, &key.2));
        self.warned.insert(key);
    }

    fn on_clock(&mut self, msg: &OscMessage, timetag: Option<f64>) -> Result<(), String> {
        let Some(f) = self.follower.as_mut() else {
            self.stats.clock_ignored += 1;
            return Ok(());
        };
        let get = |i: usize, what: &str| -> Result<f64, String> {
            let a = msg
                .args
                .get(i)
                .ok_or_else(|| format!("needs bar beat bpm (no {what})"))?;
            number(a).map_err(|e| format!("{what}: {e}"))
        };
        let (bar, beat, bpm) = (get(0, "bar")?, get(1, "beat")?, get(2, "bpm")?);
        let now_unix = wire::unix_now();
        // A bare message (no bundle) carries no time: take its arrival.
        let time = timetag.unwrap_or(now_unix);
        f.on_clock(time, bar, beat, bpm, Instant::now(), now_unix)
    }

    fn send_to(&mut self, packet: &OscPacket, to: SocketAddr, from_server: bool) {
        let Some(bytes) = wire::encode(packet) else {
            self.stats.send_errors += 1;
            return;
        };
        let mut replaced = None;
        let bytes = if bytes.len() > MAX_REPLY {
            let addr = match packet {
                OscPacket::Message(m) => m.args.first().and_then(|a| match a {
                    OscType::String(s) => Some(s.clone()),
                    _ => None,
                }),
                OscPacket::Bundle(_) => None,
            };
            let err = error_packet(
                addr.as_deref().unwrap_or(""),
                &format!(
                    "the reply of {} bytes is too large for one datagram",
                    bytes.len()
                ),
            );
            let Some(b) = wire::encode(&err) else {
                return;
            };
            replaced = Some(err);
            b
        } else {
            bytes
        };
        if from_server {
            self.note_answer(replaced.as_ref().unwrap_or(packet), to);
        }
        let socket = if from_server {
            Some(&self.socket)
        } else if to.is_ipv4() {
            self.out_v4.as_ref()
        } else {
            self.out_v6.as_ref()
        };
        match socket.map(|s| s.send_to(&bytes, to)) {
            Some(Ok(_)) => self.stats.sent += 1,
            _ => self.stats.send_errors += 1,
        }
    }

    /// Keeps an `/error` or `/warning` going to `to` as a notice for the frontends.
    fn note_answer(&mut self, packet: &OscPacket, to: SocketAddr) {
        let OscPacket::Message(m) = packet else {
            return;
        };
        let level = match m.addr.as_str() {
            "/error" => Level::Error,
            "/warning" => {
                self.stats.warnings += 1;
                Level::Warning
            }
            _ => return,
        };
        if self.answered.len() >= MAX_ANSWER_NOTICES {
            self.answers_untold += 1;
            return;
        }
        let text = |i: usize| match m.args.get(i) {
            Some(OscType::String(s)) => s.clone(),
            _ => String::new(),
        };
        self.answered.push(Notice::OscAnswer {
            level,
            address: text(0),
            message: text(1),
            from: Some(to),
        });
    }

    fn send_out(&mut self, packet: &OscPacket) {
        for i in 0..self.dests.len() {
            let to = self.dests[i];
            self.send_to(packet, to, false);
        }
    }

    fn announce(&mut self, ctl: &mut Controller) {
        self.announced = true;
        let outs = if self.dests.is_empty() {
            "nothing".to_string()
        } else {
            self.dests
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let clock = if self.follower.is_some() {
            "following /chronus/clock"
        } else {
            "own clock"
        };
        ctl.notify(
            Level::Info,
            format!(
                "OSC: listening on {}, sending to {outs}, {clock}",
                self.local
            ),
        );
        if !self.local.ip().is_loopback() {
            ctl.notify(
                Level::Warning,
                format!(
                    "OSC listens on {} — anyone who can reach this address can control Chronus",
                    self.local
                ),
            );
        }
    }

    fn run_follower(&mut self, ctl: &mut Controller) -> bool {
        let Some(f) = self.follower.as_mut() else {
            return false;
        };
        let song_bpm = ctl.song().sequencer.bpm;
        if self.last_song_bpm.is_some_and(|b| b != song_bpm) {
            f.retempo();
        }
        self.last_song_bpm = Some(song_bpm);
        let actions = f.tick(Instant::now(), wire::unix_now(), ctl.status().running);
        let changed = !actions.is_empty();
        for a in actions {
            match a {
                FollowAction::Notify(level, text) => ctl.notify(level, text),
                FollowAction::Tempo(bpm) => {
                    let _ = ctl.apply(Command::FollowTempo(bpm));
                }
                FollowAction::Restart { stop } => {
                    if stop {
                        let _ = ctl.apply(Command::Stop);
                    }
                    let _ = ctl.apply(Command::Play);
                }
                FollowAction::Stop => {
                    let _ = ctl.apply(Command::Stop);
                }
            }
        }
        changed
    }

    fn send_viz(&mut self, ctl: &Controller) {
        let now = Instant::now();
        if self.dests.is_empty() || self.last_viz.is_some_and(|t| now - t < VIZ_PERIOD) {
            return;
        }
        self.last_viz = Some(now);
        let st = ctl.status();
        let levels = st.levels[..ctl.voices().min(st.levels.len())]
            .iter()
            .map(|&l| OscType::Float(l))
            .collect();
        let spectrum = st.spectrum.iter().map(|&b| OscType::Float(b)).collect();
        self.send_out(&OscPacket::Message(message("/viz/levels", levels)));
        self.send_out(&OscPacket::Message(message("/viz/spectrum", spectrum)));
    }

    fn send_slot_changes(&mut self, ctl: &Controller) {
        let playing = ctl.status().playing_slot;
        if self.sent_playing != Some(playing) {
            self.sent_playing = Some(playing);
            if let Some(slot) = playing {
                let m = message(
                    "/chronus/slot/playing",
                    vec![OscType::Int(slot.get() as i32)],
                );
                self.send_out(&OscPacket::Message(m));
            }
        }
        let queued = ctl.status().queued;
        if self.sent_queued != Some(queued) {
            let first = self.sent_queued.is_none();
            self.sent_queued = Some(queued);
            // A cleared queue is sent as slot 0 so receivers stop showing it.
            let (slot, bar) = queued.map_or((0, 0), |(s, b)| (s.get(), b));
            if !(first && queued.is_none()) {
                let m = message(
                    "/chronus/slot/queued",
                    vec![
                        OscType::Int(slot as i32),
                        OscType::Int(bar.min(i32::MAX as u64) as i32),
                    ],
                );
                self.send_out(&OscPacket::Message(m));
            }
        }
    }
}

fn warning_packet(addr: &str, text: &str) -> OscPacket {
    OscPacket::Message(message(
        "/warning",
        vec![
            OscType::String(addr.to_string()),
            OscType::String(text.to_string()),
        ],
    ))
}

fn error_packet(addr: &str, text: &str) -> OscPacket {
    OscPacket::Message(message(
        "/error",
        vec![
            OscType::String(addr.to_string()),
            OscType::String(text.to_string()),
        ],
    ))
}

/// The clock bundle for one beat: timetagged with when the beat sounds.
pub fn clock_bundle(time: f64, bar: u64, beat: u8, bpm: f64) -> OscPacket {
    OscPacket::Bundle(OscBundle {
        timetag: wire::ntp_from_unix(time),
        content: vec![OscPacket::Message(message(
            CLOCK_ADDRESS,
            vec![
                OscType::Int(bar.min(i32::MAX as u64) as i32),
                OscType::Int(beat as i32),
                OscType::Float(bpm as f32),
            ],
        ))],
    })
}

impl OscServer {
    /// A save asked for over OSC ended: its sender gets `/reply` (where it was written) or
    /// `/error` (why not).
    fn answer_save(&mut self, ctl: &Controller, id: u64, n: &Notice) {
        let Some(i) = self.save_waiters.iter().position(|(s, _)| *s == id) else {
            return;
        };
        let Some((_, to)) = self.save_waiters.remove(i) else {
            return;
        };
        let Some(text) = ctl.describe(n) else {
            return;
        };
        let packet = if matches!(n, Notice::Saved { .. }) {
            OscPacket::Message(message(
                "/reply",
                vec![
                    OscType::String("/pattern/save".into()),
                    OscType::String(text),
                ],
            ))
        } else {
            error_packet("/pattern/save", &text)
        };
        self.send_to(&packet, to, true);
    }
}

impl Service for OscServer {
    fn poll(&mut self, ctl: &mut Controller) -> bool {
        if !self.announced {
            self.announce(ctl);
        }
        let mut changed = false;
        let mut handled = 0;
        while handled < MAX_DATAGRAMS_PER_POLL {
            let Ok((bytes, from)) = self.received.try_recv() else {
                break;
            };
            handled += 1;
            self.stats.received += 1;
            self.inbox.bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
            changed = true;
            self.from = Some(from);
            let replies = self.handle_datagram(ctl, &bytes);
            self.from = None;
            for r in &replies {
                self.send_to(r, from, true);
            }
            for id in std::mem::take(&mut self.saves_asked) {
                if self.save_waiters.len() == MAX_SAVE_WAITERS {
                    self.save_waiters.pop_front();
                }
                self.save_waiters.push_back((id, from));
            }
        }
        self.stats.recv_errors = self.inbox.recv_errors.load(Ordering::Relaxed);
        self.stats.overflow = self.inbox.overflow.load(Ordering::Relaxed);
        if handled == MAX_DATAGRAMS_PER_POLL
            && let Some(w) = self.inbox.waker.get()
        {
            // More may be waiting past this turn's share: come back at once.
            w.wake();
        }
        // The answers of this turn, and of saves answered since the last one.
        for n in self.answered.drain(..) {
            ctl.push_notice(n);
            changed = true;
        }
        if self.answers_untold > 0 {
            ctl.notify(
                Level::Warning,
                format!(
                    "OSC: {} more /error and /warning answers this turn are not shown one by one (a flood; the status line counts them)",
                    self.answers_untold
                ),
            );
            self.answers_untold = 0;
        }
        changed |= self.run_follower(ctl);
        self.send_viz(ctl);
        changed
    }

    fn observe(&mut self, ctl: &Controller, notices: &[Notice]) {
        for n in notices {
            match n {
                Notice::Beat { bar, beat, sample } => {
                    let time = ctl.sample_time(*sample);
                    if !self.dests.is_empty() {
                        let bpm = self
                            .follower
                            .as_ref()
                            .and_then(Follower::nominal_bpm)
                            .unwrap_or(ctl.song().sequencer.bpm);
                        let bundle = clock_bundle(time, *bar, *beat, bpm);
                        self.send_out(&bundle);
                    }
                    if let Some(f) = self.follower.as_mut() {
                        f.on_local_beat(*beat, time);
                    }
                }
                Notice::Started => {
                    if let Some(f) = self.follower.as_mut() {
                        f.on_started();
                    }
                }
                Notice::SlotApplied { .. } => {
                    if let Some(f) = self.follower.as_mut() {
                        f.retempo();
                    }
                }
                Notice::Saved { id, .. }
                | Notice::SaveFailed { id, .. }
                | Notice::SaveRefused { id, .. } => self.answer_save(ctl, *id, n),
                _ => {}
            }
        }
        self.send_slot_changes(ctl);
    }

    fn set_waker(&mut self, waker: Waker) {
        let _ = self.inbox.waker.set(waker);
    }

    fn status_line(&self) -> Option<String> {
        Some(self.describe())
    }
}

impl Drop for OscServer {
    fn drop(&mut self) {
        // The receive thread sees it within one receive timeout and ends.
        self.inbox.stop.store(true, Ordering::Relaxed);
    }
}
