//! The engine adapter: one thread owns the `Session`; the socket tasks talk to it by
//! messages, so a long statement never blocks the heartbeat or the control channel.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use jupyter_protocol::{ErrorOutput, Media, MediaType};
use spel_stdlib::complete::Completions;
use spel_stdlib::guard::guarded;
use spel_stdlib::{Colour, Session, Shown};
use tokio::sync::{mpsc as async_mpsc, oneshot};

/// What an execution produces, in order.
pub enum Event {
    /// Text for the stdout stream (what `print` and `write` say).
    Stream(String),
    /// A result's MIME bundle (see [`bundle`]).
    Result(Media),
    /// Help text for the notebook's pager (`:help filter`).
    Page(String),
    /// Long work began (a read, a fit); the server shows it if it lasts.
    WorkStarted(String),
    WorkFinished,
    /// The end: `Ok`, or the error to report.
    Done(Result<(), ErrorOutput>),
}

pub enum Request {
    Execute {
        code: String,
        cell: String,
        events: async_mpsc::UnboundedSender<Event>,
    },
    Complete {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Option<Completions>>,
    },
    Inspect {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Option<Option<String>>>,
    },
}

/// Starts the engine thread; returns its request channel and the interrupt flag.
pub fn start() -> (mpsc::Sender<Request>, Arc<AtomicBool>) {
    let (sender, receiver) = mpsc::channel::<Request>();
    let (flag_sender, flag_receiver) = mpsc::channel();
    // The stack of `spel run`'s main thread (8 MB) and then some: expressions may nest
    // 256 levels (`spel_grammar`'s limit), each a few frames of the engine's walks.
    let engine = std::thread::Builder::new()
        .name("spel-engine".into())
        .stack_size(spel_stdlib::ENGINE_STACK);
    let spawned = engine.spawn(move || {
        let mut session = Session::new();
        let progress = Arc::new(CellProgress::default());
        session.progress = Some(progress.clone());
        let _ = flag_sender.send(session.interrupt_handle());
        for request in receiver {
            match request {
                Request::Execute { code, cell, events } => {
                    progress.attach(&events);
                    if guarded(|| execute(&mut session, &code, &cell, &events)).is_none() {
                        let _ = events.send(Event::Done(Err(internal_error(
                            "internal error: the engine failed; please report it",
                            "internal error: the engine failed; please report it",
                        ))));
                    }
                }
                // A panic in completion or inspection is answered `None` (an error
                // reply; the hook logs where); the engine thread and its bindings go on.
                Request::Complete {
                    code,
                    cursor,
                    reply,
                } => {
                    let _ = reply.send(guarded(|| session.complete(&code, cursor)));
                }
                Request::Inspect {
                    code,
                    cursor,
                    reply,
                } => {
                    let _ = reply.send(guarded(|| session.inspect(&code, cursor)));
                }
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("spel kernel: the engine thread could not start ({e}); every cell will fail");
    }
    let flag = flag_receiver
        .recv()
        .unwrap_or_else(|_| Arc::new(AtomicBool::new(false)));
    (sender, flag)
}

fn execute(
    session: &mut Session,
    code: &str,
    cell: &str,
    events: &async_mpsc::UnboundedSender<Event>,
) {
    // Meta-commands work in cells too; `:help` opens the pager, as IRkernel's `?`.
    if code.trim_start().starts_with(':') {
        let help = code.trim_start().starts_with(":h");
        let outcome = session.meta(code, &mut |shown| {
            let text = shown.text(spel_stdlib::render::DEFAULT_WIDTH);
            let _ = events.send(if help {
                Event::Page(text)
            } else {
                Event::Stream(format!("{text}\n"))
            });
        });
        let done = match outcome {
            Ok(spel_stdlib::meta::After::Quit) => {
                let _ = events.send(Event::Stream(
                    "to stop the kernel, use the notebook's Shut Down\n".into(),
                ));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(diagnostic) => Err(report(session, &diagnostic)),
        };
        let _ = events.send(Event::Done(done));
        return;
    }
    let result = session.execute(code, cell, &mut |shown| {
        let event = match shown {
            Shown::Message(text) if text.is_empty() => return,
            Shown::Message(text) => Event::Stream(format!("{text}\n")),
            other => Event::Result(bundle(other)),
        };
        let _ = events.send(event);
    });
    let done = result.map_err(|diagnostic| report(session, &diagnostic));
    let _ = events.send(Event::Done(done));
}

/// An error of the kernel itself (not of the code it ran).
pub fn internal_error(evalue: &str, traceback: &str) -> ErrorOutput {
    ErrorOutput {
        ename: "spel::internal".into(),
        evalue: evalue.into(),
        traceback: vec![traceback.into()],
    }
}

/// A diagnostic as Jupyter's error: the code, the message, and the terminal's rendering
/// (in colour) as the traceback.
fn report(session: &Session, diagnostic: &spel_stdlib::Diagnostic) -> ErrorOutput {
    ErrorOutput {
        ename: diagnostic.code.to_string(),
        evalue: diagnostic.message.clone(),
        traceback: session
            .render_error(diagnostic, Colour::Ansi)
            .lines()
            .map(str::to_string)
            .collect(),
    }
}

/// One rendering: the text the terminal shows and the notebook's HTML. (Not
/// `application/json`: JupyterLab ranks its tree viewer above HTML and would show that.)
pub fn bundle(shown: &Shown) -> Media {
    let mut data = vec![MediaType::Plain(
        shown.text(spel_stdlib::render::DEFAULT_WIDTH),
    )];
    // A plot: SVG for any front end, Vega-Lite for those that render it (JupyterLab
    // prefers it); its HTML would only repeat the SVG.
    if let Some(svg) = shown.svg() {
        data.push(MediaType::Svg(svg));
        if let Some(spec) = shown.vegalite() {
            data.push(MediaType::VegaLiteV5(spec));
        }
    } else if let Some(html) = shown.html() {
        data.push(MediaType::Html(html));
    }
    Media::new(data)
}

/// The engine's progress hooks, forwarded to the cell that is running.
#[derive(Default)]
struct CellProgress {
    events: std::sync::Mutex<Option<async_mpsc::UnboundedSender<Event>>>,
}

impl CellProgress {
    fn attach(&self, events: &async_mpsc::UnboundedSender<Event>) {
        if let Ok(mut slot) = self.events.lock() {
            *slot = Some(events.clone());
        }
    }

    fn send(&self, event: Event) {
        if let Ok(slot) = self.events.lock()
            && let Some(events) = slot.as_ref()
        {
            let _ = events.send(event);
        }
    }
}

impl spel_stdlib::work::Progress for CellProgress {
    fn start(&self, what: &str) {
        self.send(Event::WorkStarted(what.to_string()));
    }

    fn finish(&self) {
        self.send(Event::WorkFinished);
    }
}
