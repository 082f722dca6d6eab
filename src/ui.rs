//! The user's terminal: stdout for data, stderr for messages, whether colour is on, and
//! whether anyone is there to answer a prompt.
//!
//! Nothing here prompts by itself; commands ask [`Ui::can_prompt`] first, so that a run
//! without a terminal never waits for input.

use std::io::{self, IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::ColorChoice;
use crate::render::{Style, View, Zone};

pub struct Ui {
    quiet: bool,
    json: bool,
    style: Style,
    err_color: bool,
    can_prompt: bool,
    pretty_json: bool,
}

/// The width of the terminal on stdout, if stdout is one (`COLUMNS` wins, as for `ls`).
fn terminal_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(n);
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct that lives on the stack for the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

impl Ui {
    /// `json`: the command was asked for JSON; `now`: the time of the run; `zone`: where
    /// absolute times are shown.
    pub fn new(quiet: bool, color: ColorChoice, json: bool, now: DateTime<Utc>, zone: Zone) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let decide = |is_terminal: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && !dumb && is_terminal,
        };
        Ui {
            quiet,
            json,
            style: Style {
                now,
                zone,
                color: decide(io::stdout().is_terminal()),
                width: terminal_width(),
            },
            err_color: decide(io::stderr().is_terminal()),
            can_prompt: io::stdin().is_terminal() && io::stderr().is_terminal(),
            pretty_json: io::stdout().is_terminal(),
        }
    }

    /// Prints what a command returns: its JSON or its human form on stdout, then its
    /// notices on stderr.
    pub fn emit<V: View>(&self, view: &V) -> io::Result<()> {
        if self.json {
            if view.holds_secret() {
                self.secret_json(view)?;
            } else {
                self.json(view)?;
            }
        } else {
            // Zeroed afterwards: the text of an issued token is its secret.
            let text = Zeroizing::new(view.text(&self.style));
            if !text.is_empty() {
                self.data(&text)?;
            }
        }
        for note in view.notes(&self.style, self.json) {
            self.status(&note);
        }
        Ok(())
    }

    /// How human forms are drawn in this run.
    pub fn style(&self) -> &Style {
        &self.style
    }

    /// Prompts are allowed only when stdin and stderr are both a terminal.
    pub fn can_prompt(&self) -> bool {
        self.can_prompt
    }

    /// From now on, Ctrl-C shows the cursor again and puts the terminal back as it was
    /// before exiting (130, as for SIGINT): a prompt hides the cursor or the echo, and the
    /// default SIGINT would leave them so. Call before the first prompt.
    pub fn restore_terminal_on_interrupt(&self) {
        interrupt::install();
    }

    /// Whether a progress bar may be drawn: stderr is a terminal and no --quiet.
    pub fn can_show_progress(&self) -> bool {
        !self.quiet && io::stderr().is_terminal()
    }

    /// Data: a line (or block) on stdout.
    pub fn data(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// JSON that contains a secret; the serialized text is zeroed afterwards.
    fn secret_json<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        let text = if self.pretty_json {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        };
        let mut text = Zeroizing::new(text.map_err(io::Error::other)?);
        text.push('\n');
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Data as JSON on stdout: indented for a person at a terminal, one line for a
    /// program reading a pipe (as `gh` does).
    fn json<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        // Streamed: a list of thousands of tokens is never built as one string.
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        if self.pretty_json {
            serde_json::to_writer_pretty(&mut out, value)
        } else {
            serde_json::to_writer(&mut out, value)
        }
        .map_err(io::Error::from)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// A JSON array on stdout, written an element at a time as `produce` pushes them,
    /// indented or not as [`emit`](Self::emit) writes JSON: a list of any length is never
    /// held whole. An error from `produce` stops the output where it stands, the array
    /// unclosed, and is returned: the command fails, and a program reading the pipe finds
    /// invalid JSON rather than a list that merely looks shorter.
    #[expect(
        clippy::redundant_closure,
        reason = "the variants themselves are not general enough over the array's lifetime"
    )]
    pub fn json_array(
        &self,
        produce: impl FnOnce(&mut JsonArray<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let out: Stdout = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        if self.pretty_json {
            let pretty = serde_json::ser::PrettyFormatter::new();
            let serializer = serde_json::Serializer::with_formatter(out, pretty);
            json_array(serializer, |a| JsonArray::Pretty(a), produce)
        } else {
            json_array(
                serde_json::Serializer::new(out),
                |a| JsonArray::Compact(a),
                produce,
            )
        }
    }

    /// A message for the human (stderr); `--quiet` silences it.
    pub fn status(&self, msg: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr(), "{msg}");
        }
    }

    /// A warning (stderr); shown even with `--quiet`.
    pub fn warn(&self, msg: &str) {
        warn(self.err_color, msg);
    }

    /// [`warn`](Self::warn) as a value, for a store to report through.
    pub fn warning_printer(&self) -> Box<dyn Fn(&str) + Send> {
        let color = self.err_color;
        Box::new(move |msg| warn(color, msg))
    }
}

fn warn(color: bool, msg: &str) {
    let prefix = if color {
        "\x1b[33mwarning:\x1b[0m"
    } else {
        "warning:"
    };
    let _ = writeln!(io::stderr(), "{prefix} {msg}");
}

/// The SIGINT handler that restores the terminal.
mod interrupt {
    use std::sync::{Once, OnceLock};

    /// The terminal's mode on stdin before any prompt changed it.
    static SAVED: OnceLock<libc::termios> = OnceLock::new();

    pub fn install() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: tcgetattr fills the struct it is given; the handler only calls
            // async-signal-safe functions (tcsetattr, write, _exit).
            unsafe {
                let mut mode: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(libc::STDIN_FILENO, &mut mode) == 0 {
                    let _ = SAVED.set(mode);
                }
                let handler: extern "C" fn(libc::c_int) = on_interrupt;
                libc::signal(libc::SIGINT, handler as libc::sighandler_t);
            }
        });
    }

    extern "C" fn on_interrupt(_: libc::c_int) {
        // Show the cursor, and end the line the prompt was on.
        const RESTORE: &[u8] = b"\x1b[?25h\n";
        // SAFETY: async-signal-safe calls only, on a struct that is never written again.
        unsafe {
            if let Some(mode) = SAVED.get() {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, mode);
            }
            libc::write(libc::STDERR_FILENO, RESTORE.as_ptr().cast(), RESTORE.len());
            libc::_exit(130);
        }
    }
}

type Stdout = io::BufWriter<io::StdoutLock<'static>>;

/// The array [`Ui::json_array`] is writing.
pub enum JsonArray<'a> {
    Compact(serde_json::ser::Compound<'a, Stdout, serde_json::ser::CompactFormatter>),
    Pretty(serde_json::ser::Compound<'a, Stdout, serde_json::ser::PrettyFormatter<'static>>),
}

impl JsonArray<'_> {
    /// Writes the next element. Errors are `io::Error`s, as [`Ui::emit`]'s are, so that a
    /// closed pipe is recognised as one.
    pub fn push<T: Serialize + ?Sized>(&mut self, item: &T) -> io::Result<()> {
        use serde::ser::SerializeSeq;
        match self {
            JsonArray::Compact(array) => array.serialize_element(item),
            JsonArray::Pretty(array) => array.serialize_element(item),
        }
        .map_err(io::Error::from)
    }

    fn end(self) -> io::Result<()> {
        use serde::ser::SerializeSeq;
        match self {
            JsonArray::Compact(array) => array.end(),
            JsonArray::Pretty(array) => array.end(),
        }
        .map_err(io::Error::from)
    }
}

/// [`Ui::json_array`] with one formatter.
fn json_array<F: serde_json::ser::Formatter>(
    mut serializer: serde_json::Serializer<Stdout, F>,
    array: impl for<'a> FnOnce(serde_json::ser::Compound<'a, Stdout, F>) -> JsonArray<'a>,
    produce: impl FnOnce(&mut JsonArray<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use serde::ser::Serializer as _;
    let mut elements = array(
        (&mut serializer)
            .serialize_seq(None)
            .map_err(io::Error::from)?,
    );
    produce(&mut elements)?;
    elements.end()?;
    let mut out = serializer.into_inner();
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
