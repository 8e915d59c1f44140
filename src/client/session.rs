//! The client's event loop: one `Poll` owning the socket, the stdin waker and the signals.
//!
//! Lifecycle of the connection, as the loop drives it:
//! - *waiting* (`retry_at` set) --retry due--> *connecting* (`connect_deadline` set)
//! - *connecting* --writable, no error (with `--tls`: the handshake done, the certificate
//!   accepted)--> *connected*: the hello frame, `/nick` and `/join` are queued before any
//!   user line
//! - *connecting* --error, refused certificate or timeout (the handshake counts within the
//!   connect timeout)--> *waiting*, or exit 1 with `--no-reconnect`
//! - *connected* --lost--> *waiting*, or exit 1 with `--no-reconnect`
//! - *connected*, input ended and all of it flushed --> *lingering* (`linger_until` set)
//!   --linger over or server closes--> exit 0
//!
//! `/quit` ends the input like end-of-file does; SIGINT and SIGTERM exit 0 at once. In the
//! line editor, Ctrl-C and Ctrl-D on an empty line arrive as a typed `/quit`.

use super::backoff::Backoff;
use super::identity::Identity;
use super::input::{Input, UserInput};
use super::link::{describe, Link, Lost};
use super::nicks::RoomNicks;
use super::screen::Screen;
use super::transport::TlsClient;
use super::{user, Config, Error};
use crate::command::{self, Command};
use crate::text;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SOCKET: Token = Token(0);
const STDIN: Token = Token(1);
const SIGNALS: Token = Token(2);
/// A connect that has not completed by then is given up (and retried with backoff).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// User lines are moved into the link's out queue only while it holds less than this.
const OUT_QUEUE_LIMIT: usize = 64 * 1024;
/// User lines held while disconnected; beyond it the stdin thread blocks.
const PENDING_LINES_LIMIT: usize = 1024;

/// Why the loop stops: `Done` is a clean exit (status 0).
#[derive(Debug)]
enum Stop {
    Done,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Self {
        Stop::Failed(err)
    }
}

/// A running client.
pub struct Session {
    poll: Poll,
    signals: Signals,
    input: UserInput,
    /// Kept so the waker's registration outlives any use by the stdin thread.
    _waker: Arc<Waker>,
    addr: String,
    /// `--tls`: every connection is TLS.
    tls: Option<TlsClient>,
    reconnect: bool,
    linger: Duration,
    identity: Identity,
    backoff: Backoff,
    link: Option<Link>,
    connect_deadline: Option<Instant>,
    retry_at: Option<Instant>,
    /// A failure was reported since the last connect: say so when we are back.
    reported_failure: bool,
    /// Connect attempts so far; picks among the addresses a name resolves to.
    attempts: usize,
    /// User lines waiting for a connection (or for room in the out queue).
    pending: VecDeque<String>,
    input_done: bool,
    quitting: bool,
    linger_until: Option<Instant>,
    screen: Screen,
    /// Who is in the current room, for the line editor's Tab completion.
    nicks: RoomNicks,
}

impl Session {
    /// Sets up the poller, the signal handlers, and the user's side (see [`user::open`]).
    ///
    /// # Errors
    /// [`Error::Local`] if any of them cannot be created.
    pub fn new(config: Config) -> Result<Session, Error> {
        let local = |what: &str, e: std::io::Error| Error::Local(format!("{what}: {}", describe(&e)));
        let poll = Poll::new().map_err(|e| local("cannot create the poller", e))?;
        let waker = Waker::new(poll.registry(), STDIN).map_err(|e| local("cannot create a waker", e))?;
        let waker = Arc::new(waker);
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| local("cannot handle signals", e))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| local("cannot register signals", e))?;
        let nicks = RoomNicks::new();
        let (input, output) = user::open(config.send, config.style, &nicks, &waker)
            .map_err(|e| local("cannot start the stdin reader", e))?;
        Ok(Session {
            poll,
            signals,
            input,
            _waker: waker,
            addr: config.addr,
            tls: config.tls,
            reconnect: config.reconnect,
            linger: config.linger,
            identity: Identity::new(config.nick, config.room),
            backoff: Backoff::seeded_from_environment(),
            link: None,
            connect_deadline: None,
            retry_at: None,
            reported_failure: false,
            attempts: 0,
            pending: VecDeque::new(),
            input_done: false,
            quitting: false,
            linger_until: None,
            screen: Screen::new(config.style, output),
            nicks,
        })
    }

    /// Runs until a clean exit (`Ok`) or a failure.
    ///
    /// # Errors
    /// See [`super::run`].
    pub fn run(mut self) -> Result<(), Error> {
        let mut events = Events::with_capacity(64);
        let mut outcome = self.start_connect();
        while outcome.is_ok() {
            outcome = self.wait(&mut events).and_then(|()| self.handle(&events));
        }
        // Whatever arrived before the end is still shown, and the terminal is handed back;
        // a closed stdout can't be helped.
        let _ = self.screen.finish();
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
        match outcome {
            Err(Stop::Failed(err)) => Err(err),
            _ => Ok(()),
        }
    }

    /// Sleeps until an event or the nearest deadline.
    fn wait(&mut self, events: &mut Events) -> Result<(), Stop> {
        let deadlines = [self.linger_until, self.connect_deadline, self.retry_at];
        let timeout = deadlines
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()));
        match self.poll.poll(events, timeout) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            Err(e) => Err(Error::Local(format!("poll failed: {}", describe(&e))).into()),
        }
    }

    /// One loop turn: the events, then timers, input, writes and output.
    fn handle(&mut self, events: &Events) -> Result<(), Stop> {
        for event in events {
            match event.token() {
                SOCKET => self.on_socket_ready()?,
                SIGNALS if self.signals.pending().next().is_some() => return Err(Stop::Done),
                // STDIN: the waker only ends the sleep; lines are taken below.
                _ => {}
            }
        }
        self.on_timers()?;
        self.take_input()?;
        self.send_pending();
        self.flush_link()?;
        self.linger_once_all_is_sent();
        self.show()
    }

    fn on_socket_ready(&mut self) -> Result<(), Stop> {
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        if !link.is_connected() {
            match link.finish_connect(self.poll.registry()) {
                Ok(false) => return Ok(()),
                Ok(true) => self.on_connected(),
                Err(e) => return self.on_connect_failed(describe(&e)),
            }
        }
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        let (screen, identity, nicks) = (&mut self.screen, &mut self.identity, &self.nicks);
        let read = link.read_messages(|raw| {
            let text = text::clean(raw);
            identity.on_received(&text);
            nicks.on_received(&text, identity.current());
            screen.received(&text);
        });
        match read {
            Ok(()) => Ok(()),
            Err(lost) => self.on_lost(lost),
        }
    }

    /// Queues the hello frame and what restores the nick and room, before any user line.
    fn on_connected(&mut self) {
        self.connect_deadline = None;
        self.backoff.reset();
        self.nicks.clear(); // a new connection starts in the lobby
        if std::mem::take(&mut self.reported_failure) {
            self.report(&format!("connected to {}", self.addr));
        }
        let restore = self.identity.restore_commands();
        if let Some(link) = self.link.as_mut() {
            link.queue("");
            restore.iter().for_each(|cmd| link.queue(cmd));
        }
    }

    fn on_timers(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        if self.linger_until.is_some_and(|at| now >= at) {
            return Err(Stop::Done);
        }
        if self.connect_deadline.is_some_and(|at| now >= at) {
            return self.on_connect_failed("timed out".to_string());
        }
        if self.retry_at.is_some_and(|at| now >= at) {
            return self.start_connect();
        }
        Ok(())
    }

    fn start_connect(&mut self) -> Result<(), Stop> {
        self.retry_at = None;
        let addr = match self.resolve() {
            Ok(addr) => addr,
            Err(why) => return self.on_connect_failed(why),
        };
        match Link::start(addr, self.tls.as_ref(), self.poll.registry(), SOCKET) {
            Ok(link) => {
                self.link = Some(link);
                self.connect_deadline = Some(Instant::now() + CONNECT_TIMEOUT);
                Ok(())
            }
            Err(e) => self.on_connect_failed(describe(&e)),
        }
    }

    /// Resolves the address again on every attempt (DNS may change while we wait), taking
    /// the addresses a name has in turn.
    fn resolve(&mut self) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = self.addr.to_socket_addrs().map_err(|e| describe(&e))?.collect();
        if addrs.is_empty() {
            return Err("the name has no address".to_string());
        }
        self.attempts += 1;
        Ok(addrs[(self.attempts - 1) % addrs.len()])
    }

    fn on_connect_failed(&mut self, why: String) -> Result<(), Stop> {
        self.drop_link();
        let what = format!("cannot connect to {}: {why}", self.addr);
        self.retry_or_fail(what, "retrying")
    }

    /// The connection ended. After `/quit`, or once everything was sent, that is the end.
    /// Bytes still queued are dropped, not resent: the server may have taken part of them.
    fn on_lost(&mut self, lost: Lost) -> Result<(), Stop> {
        let unsent = self.link.as_ref().map_or(0, Link::queued_bytes);
        self.drop_link();
        if self.quitting || self.linger_until.is_some() {
            return Err(Stop::Done);
        }
        let mut what = format!("lost connection to {}: {}", self.addr, lost.0);
        if unsent > 0 {
            what.push_str(&format!(" ({unsent} bytes unsent)"));
        }
        self.retry_or_fail(what, "reconnecting")
    }

    /// Schedules the next attempt and says so, or fails when reconnecting is off.
    fn retry_or_fail(&mut self, what: String, verb: &str) -> Result<(), Stop> {
        if !self.reconnect {
            return Err(Error::Disconnected(what).into());
        }
        let delay = self.backoff.next_delay();
        self.report(&format!("{what}; {verb} in {:.1}s", delay.as_secs_f64()));
        self.reported_failure = true;
        self.retry_at = Some(Instant::now() + delay);
        Ok(())
    }

    fn drop_link(&mut self) {
        self.connect_deadline = None;
        if let Some(link) = self.link.take() {
            link.close(self.poll.registry());
        }
    }

    /// Moves the user's lines into `pending`. A `/quit` while disconnected exits at once:
    /// there is no server to say goodbye to.
    fn take_input(&mut self) -> Result<(), Stop> {
        while self.pending.len() < PENDING_LINES_LIMIT {
            match self.input.try_next() {
                None => break,
                Some(Input::Line(line)) if is_quit(&line) && !self.is_connected() => return Err(Stop::Done),
                Some(Input::Line(line)) => self.pending.push_back(line),
                Some(Input::End) => self.input_done = true,
                Some(Input::Failed(why)) => {
                    return Err(Error::Local(format!("cannot read stdin: {why}")).into())
                }
            }
        }
        Ok(())
    }

    /// Queues pending lines on a connected link, up to the out queue's limit. Nothing
    /// after a `/quit` is sent.
    fn send_pending(&mut self) {
        let Some(link) = self.link.as_mut().filter(|l| l.is_connected()) else {
            return;
        };
        while link.queued_bytes() < OUT_QUEUE_LIMIT {
            let Some(line) = self.pending.pop_front() else {
                break;
            };
            self.identity.on_sent(&line);
            self.screen.sent(&line);
            link.queue(&line);
            if is_quit(&line) {
                self.quitting = true;
                self.input_done = true;
                self.pending.clear();
                self.input = UserInput::Finished;
            }
        }
    }

    fn flush_link(&mut self) -> Result<(), Stop> {
        let Some(link) = self.link.as_mut().filter(|l| l.is_connected()) else {
            return Ok(());
        };
        match link.flush(self.poll.registry()) {
            Ok(()) => Ok(()),
            Err(lost) => self.on_lost(lost),
        }
    }

    /// Starts the linger once the input has ended and every byte of it is in the socket.
    fn linger_once_all_is_sent(&mut self) {
        let flushed = self
            .link
            .as_ref()
            .is_some_and(|l| l.is_connected() && l.is_flushed());
        if self.input_done && self.pending.is_empty() && flushed && self.linger_until.is_none() {
            self.linger_until = Some(Instant::now() + self.linger);
        }
    }

    /// Writes this turn's lines; a reader that went away ends the client quietly.
    fn show(&mut self) -> Result<(), Stop> {
        match self.screen.flush() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Stop::Done),
            Err(e) => Err(Error::Local(format!("cannot write to stdout: {}", describe(&e))).into()),
        }
    }

    /// One status line, after the lines it follows (see [`Screen::status`]).
    fn report(&mut self, what: &str) {
        self.screen.status(what);
    }

    fn is_connected(&self) -> bool {
        self.link.as_ref().is_some_and(Link::is_connected)
    }
}

fn is_quit(line: &str) -> bool {
    matches!(command::parse(line), Ok(Command::Quit(_)))
}
