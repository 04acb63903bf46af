//! The sockets and what is answered on each: heartbeat, iopub (XPUB, with a welcome to
//! each subscriber), shell (one request at a time, busy → outputs → idle around each),
//! control (on its own task, so interrupt and shutdown are answered while a cell runs)
//! and stdin (bound; spel never asks for input). Every message is one of
//! jupyter-protocol's; [`crate::protocol_gaps`] fills where those differ from what
//! clients expect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jupyter_protocol::{
    CodeMirrorMode, CommInfoReply, CompleteReply, CompleteRequest, ConnectionInfo, DisplayData,
    ErrorOutput, ExecuteInput, ExecuteReply, ExecuteRequest, ExecutionCount, HistoryEntry,
    HistoryReply, HistoryRequest, InspectReply, InspectRequest, InterruptReply, IoPubWelcome,
    IsCompleteReply, JupyterMessage, JupyterMessageContent, KernelInfoReply, LanguageInfo, Media,
    MediaType, Payload, ReplyStatus, ShutdownReply, Status, StreamContent, Transient,
    UpdateDisplayData,
};
use serde_json::{Map, Value, json};
use spel_stdlib::Completeness;
use tokio::sync::{mpsc, oneshot};
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::engine::{self, Event, Request};
use crate::offsets;
use crate::protocol_gaps;
use crate::wire::{self, Signer};
use spel_stdlib::guard::guarded;

/// What every message this kernel sends carries: its signing key and its session.
#[derive(Clone)]
struct Kernel {
    signer: Signer,
    session: String,
}

impl Kernel {
    /// A new message in this kernel's session (not the client's), answering `parent`.
    fn message(
        &self,
        content: impl Into<JupyterMessageContent>,
        parent: Option<&JupyterMessage>,
    ) -> JupyterMessage {
        let mut message = JupyterMessage::new(content, parent);
        message.header.session.clone_from(&self.session);
        message.header.username = "spel".into();
        message
    }

    /// The reply to `request`, addressed to whoever sent it.
    fn reply(
        &self,
        request: &JupyterMessage,
        content: impl Into<JupyterMessageContent>,
    ) -> Option<ZmqMessage> {
        let reply = self.message(content, Some(request));
        to_zmq(wire::encode(
            request.zmq_identities.clone(),
            &reply,
            &self.signer,
        ))
    }
}

/// Sends to the iopub socket from any task.
#[derive(Clone)]
struct IoPub {
    sender: mpsc::UnboundedSender<Vec<Bytes>>,
    kernel: Kernel,
}

impl IoPub {
    fn publish(&self, content: impl Into<JupyterMessageContent>, parent: Option<&JupyterMessage>) {
        let message = self.kernel.message(content, parent);
        let topic = format!("kernel.{}.{}", self.kernel.session, message.message_type());
        let frames = wire::encode(vec![Bytes::from(topic)], &message, &self.kernel.signer);
        let _ = self.sender.send(frames);
    }
}

fn log(message: &str) {
    eprintln!("spel kernel: {message}");
}

fn to_zmq(frames: Vec<Bytes>) -> Option<ZmqMessage> {
    ZmqMessage::try_from(frames).ok()
}

/// Reads a request from `frames`, logging what cannot be read (dropped) or was read
/// leniently.
fn receive(frames: ZmqMessage, signer: &Signer, channel: &str) -> Option<JupyterMessage> {
    match wire::decode(frames.into_vec(), signer) {
        Ok(received) => {
            if let Some(note) = received.lenient {
                log(&format!("{channel}: {note}"));
            }
            Some(received.message)
        }
        Err(e) => {
            log(&format!("dropped a {channel} message: {e:?}"));
            None
        }
    }
}

struct Sockets {
    heartbeat: zeromq::RepSocket,
    iopub: zeromq::XPubSocket,
    shell: RouterSocket,
    control: RouterSocket,
    stdin: RouterSocket,
}

async fn bind(connection: &ConnectionInfo) -> Result<Sockets, String> {
    let mut heartbeat = zeromq::RepSocket::new();
    heartbeat
        .bind(&connection.hb_url())
        .await
        .map_err(|e| format!("heartbeat: {e}"))?;
    let mut iopub = zeromq::XPubSocket::new();
    iopub
        .bind(&connection.iopub_url())
        .await
        .map_err(|e| format!("iopub: {e}"))?;
    let mut shell = RouterSocket::new();
    shell
        .bind(&connection.shell_url())
        .await
        .map_err(|e| format!("shell: {e}"))?;
    let mut control = RouterSocket::new();
    control
        .bind(&connection.control_url())
        .await
        .map_err(|e| format!("control: {e}"))?;
    let mut stdin = RouterSocket::new();
    stdin
        .bind(&connection.stdin_url())
        .await
        .map_err(|e| format!("stdin: {e}"))?;
    Ok(Sockets {
        heartbeat,
        iopub,
        shell,
        control,
        stdin,
    })
}

pub async fn serve(connection: ConnectionInfo) -> Result<(), String> {
    let kernel = Kernel {
        signer: Signer::new(&connection.key),
        session: uuid::Uuid::new_v4().to_string(),
    };
    let (engine, interrupt) = engine::start();
    let Sockets {
        mut heartbeat,
        iopub: iopub_socket,
        shell,
        control,
        mut stdin,
    } = bind(&connection).await?;

    tokio::spawn(async move {
        while let Ok(message) = heartbeat.recv().await {
            if heartbeat.send(message).await.is_err() {
                log("heartbeat send failed");
            }
        }
    });
    let (sender, outgoing) = mpsc::unbounded_channel::<Vec<Bytes>>();
    let iopub = IoPub {
        sender,
        kernel: kernel.clone(),
    };
    tokio::spawn(iopub_loop(iopub_socket, outgoing, iopub.clone()));
    // Ctrl-C (and jupyter_client's SIGINT on interrupt or shutdown) interrupts the cell.
    let signal_flag = Arc::clone(&interrupt);
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            signal_flag.store(true, Ordering::SeqCst);
        }
    });
    // Exit with the process that started us (as ipykernel does).
    tokio::spawn(async move {
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        }
    });
    tokio::spawn(async move { while let Ok(_ignored) = stdin.recv().await {} });
    tokio::spawn(control_loop(
        control,
        kernel.clone(),
        iopub.clone(),
        Arc::clone(&interrupt),
    ));
    shell_loop(shell, kernel, iopub, engine, interrupt).await
}

/// Publishes what the other tasks send, and welcomes each subscriber.
async fn iopub_loop(
    mut socket: zeromq::XPubSocket,
    mut outgoing: mpsc::UnboundedReceiver<Vec<Bytes>>,
    welcome: IoPub,
) {
    loop {
        tokio::select! {
            frames = outgoing.recv() => {
                let Some(frames) = frames else { break };
                if let Some(message) = to_zmq(frames) {
                    let _ = socket.send(message).await;
                }
            }
            subscription = socket.recv() => {
                // XPUB delivers subscriptions: byte 1 then the topic.
                if let Ok(message) = subscription
                    && let Some(frame) = message.get(0)
                    && frame.first() == Some(&1)
                {
                    let topic = String::from_utf8_lossy(&frame[1..]).into_owned();
                    welcome.publish(IoPubWelcome::new(topic), None);
                }
            }
        }
    }
}

/// After a failed receive, a pause before the next: 10 ms, doubling to a second, so a
/// socket that keeps failing is logged and retried without spinning a core.
#[derive(Default)]
struct Backoff {
    pause: Option<Duration>,
}

impl Backoff {
    async fn wait(&mut self, channel: &str, error: &impl std::fmt::Display) {
        let (pause, say) = self.next();
        if say {
            log(&format!("{channel}: receive failed ({error}); retrying"));
        }
        tokio::time::sleep(pause).await;
    }

    /// The next pause, and whether to log the failure (the first, then once a second).
    fn next(&mut self) -> (Duration, bool) {
        let pause = self.pause.map_or(Duration::from_millis(10), |p| {
            (p * 2).min(Duration::from_secs(1))
        });
        let say = self.pause.is_none() || pause == Duration::from_secs(1);
        self.pause = Some(pause);
        (pause, say)
    }

    fn reset(&mut self) {
        self.pause = None;
    }
}

/// Interrupt, shutdown and kernel info, answered while a cell runs.
async fn control_loop(
    mut control: RouterSocket,
    kernel: Kernel,
    iopub: IoPub,
    interrupt: Arc<AtomicBool>,
) {
    let mut backoff = Backoff::default();
    loop {
        let received = match control.recv().await {
            Ok(received) => received,
            Err(e) => {
                backoff.wait("control", &e).await;
                continue;
            }
        };
        backoff.reset();
        let Some(request) = receive(received, &kernel.signer, "control") else {
            continue;
        };
        let (reply, shutting_down): (JupyterMessageContent, bool) = match &request.content {
            JupyterMessageContent::InterruptRequest(_) => {
                interrupt.store(true, Ordering::SeqCst);
                (InterruptReply::new().into(), false)
            }
            JupyterMessageContent::ShutdownRequest(shutdown) => {
                (shutdown_reply(shutdown.restart).into(), true)
            }
            JupyterMessageContent::KernelInfoRequest(_) => (kernel_info().into(), false),
            _ => {
                log(&format!(
                    "unknown control message {}",
                    request.header.msg_type
                ));
                continue;
            }
        };
        iopub.publish(Status::busy(), Some(&request));
        if let Some(message) = kernel.reply(&request, reply.clone()) {
            let _ = control.send(message).await;
        }
        if shutting_down {
            iopub.publish(reply, Some(&request));
        }
        iopub.publish(Status::idle(), Some(&request));
        if shutting_down {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::process::exit(0);
        }
    }
}

/// One request at a time: busy, the outputs, the reply, idle.
async fn shell_loop(
    mut shell: RouterSocket,
    kernel: Kernel,
    iopub: IoPub,
    engine: std_mpsc::Sender<Request>,
    interrupt: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut state = ShellState {
        execution_count: 0,
        history: Vec::new(),
    };
    let mut backoff = Backoff::default();
    loop {
        let received = match shell.recv().await {
            Ok(received) => received,
            Err(e) => {
                backoff.wait("shell", &e).await;
                continue;
            }
        };
        backoff.reset();
        let Some(request) = receive(received, &kernel.signer, "shell") else {
            continue;
        };
        iopub.publish(Status::busy(), Some(&request));
        let reply = handle(&request, &mut state, &engine, &iopub, &interrupt).await;
        if let Some(reply) = reply
            && let Some(message) = kernel.reply(&request, reply)
            && let Err(e) = shell.send(message).await
        {
            log(&format!("could not reply: {e}"));
        }
        iopub.publish(Status::idle(), Some(&request));
    }
}

struct ShellState {
    execution_count: usize,
    /// (execution count, code, the text of the last result)
    history: Vec<(usize, String, String)>,
}

fn kernel_info() -> KernelInfoReply {
    let version = env!("CARGO_PKG_VERSION");
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: "5.3".into(),
        implementation: "spel".into(),
        implementation_version: version.into(),
        language_info: LanguageInfo {
            name: "spel".into(),
            version: version.into(),
            mimetype: Some("text/x-spel".into()),
            file_extension: Some(".spel".into()),
            // The wheel's Pygments lexer and JupyterLab extension (python/, jupyterlab/).
            pygments_lexer: Some("spel".into()),
            codemirror_mode: Some(CodeMirrorMode::Simple("spel".into())),
            nbconvert_exporter: None,
        },
        banner: format!("spel {version} — a language for evaluating health-service programmes"),
        help_links: Vec::new(),
        debugger: false,
        error: None,
    }
}

fn shutdown_reply(restart: bool) -> ShutdownReply {
    ShutdownReply {
        restart,
        ..ShutdownReply::default()
    }
}

/// The reply to a shell request; `None` for a message that is not a request this
/// kernel knows (logged and left unanswered, as ipykernel leaves it).
async fn handle(
    request: &JupyterMessage,
    state: &mut ShellState,
    engine: &std_mpsc::Sender<Request>,
    iopub: &IoPub,
    interrupt: &Arc<AtomicBool>,
) -> Option<JupyterMessageContent> {
    let reply = match &request.content {
        JupyterMessageContent::KernelInfoRequest(_) => kernel_info().into(),
        JupyterMessageContent::ExecuteRequest(execute_request) => {
            let cell = Cell::new(request, execute_request, state, iopub);
            execute(cell, state, engine, interrupt).await.into()
        }
        JupyterMessageContent::IsCompleteRequest(is_complete) => {
            match guarded(|| {
                spel_stdlib::guard::fault_point("is_complete");
                spel_stdlib::is_complete(&is_complete.code)
            }) {
                Some(Completeness::Complete) => IsCompleteReply::complete().into(),
                Some(Completeness::Incomplete { indent }) => {
                    IsCompleteReply::incomplete(indent).into()
                }
                Some(Completeness::Invalid) => IsCompleteReply::invalid().into(),
                None => return failed(request, state),
            }
        }
        JupyterMessageContent::CompleteRequest(complete_request) => {
            match complete(complete_request, engine).await {
                Some(reply) => reply.into(),
                None => return failed(request, state),
            }
        }
        JupyterMessageContent::InspectRequest(inspect_request) => {
            match inspect(inspect_request, engine).await {
                Some(reply) => reply.into(),
                None => return failed(request, state),
            }
        }
        JupyterMessageContent::HistoryRequest(history_request) => {
            match guarded(|| {
                spel_stdlib::guard::fault_point("history");
                history(history_request, state)
            }) {
                Some(reply) => reply.into(),
                None => return failed(request, state),
            }
        }
        JupyterMessageContent::CommInfoRequest(_) => CommInfoReply::default().into(),
        JupyterMessageContent::ShutdownRequest(shutdown) => shutdown_reply(shutdown.restart).into(),
        JupyterMessageContent::UnknownMessage(unread) => {
            let msg_type = &request.header.msg_type;
            return match protocol_gaps::malformed(msg_type, &unread.content) {
                Some(problem) => {
                    protocol_gaps::error_reply(msg_type, &problem, state.execution_count)
                }
                None => {
                    log(&format!("unknown shell message {msg_type}: not answered"));
                    None
                }
            };
        }
        _ => {
            log(&format!(
                "unknown shell message {}: not answered",
                request.header.msg_type
            ));
            return None;
        }
    };
    Some(reply)
}

/// The answer to a request whose handling panicked: a bug there costs that answer (an
/// error reply), never the kernel; the hook has logged the panic's message and place.
fn failed(request: &JupyterMessage, state: &ShellState) -> Option<JupyterMessageContent> {
    let msg_type = &request.header.msg_type;
    log(&format!("{msg_type} failed (a bug; the panic is above)"));
    protocol_gaps::internal_error_reply(msg_type, state.execution_count)
}

/// The completions, or `None` if computing them panicked.
async fn complete(
    request: &CompleteRequest,
    engine: &std_mpsc::Sender<Request>,
) -> Option<CompleteReply> {
    let code = &request.code;
    let (reply, answer) = oneshot::channel();
    let _ = engine.send(Request::Complete {
        code: code.clone(),
        cursor: offsets::byte_offset(code, request.cursor_pos),
        reply,
    });
    let completions = answer.await.ok()??;
    let start = offsets::code_points(code, completions.start);
    let end = offsets::code_points(code, completions.end);
    let types: Vec<Value> = completions
        .candidates
        .iter()
        .map(|c| json!({ "text": c.text, "type": c.kind.label(), "start": start, "end": end, "signature": c.detail }))
        .collect();
    let mut metadata = Map::new();
    metadata.insert("_jupyter_types_experimental".into(), Value::Array(types));
    Some(CompleteReply {
        matches: completions.candidates.into_iter().map(|c| c.text).collect(),
        cursor_start: start,
        cursor_end: end,
        metadata,
        ..CompleteReply::default()
    })
}

/// What the word at the cursor is, or `None` if finding it panicked.
async fn inspect(
    request: &InspectRequest,
    engine: &std_mpsc::Sender<Request>,
) -> Option<InspectReply> {
    let (reply, answer) = oneshot::channel();
    let _ = engine.send(Request::Inspect {
        code: request.code.clone(),
        cursor: offsets::byte_offset(&request.code, request.cursor_pos),
        reply,
    });
    Some(match answer.await.ok()? {
        Some(Some(text)) => InspectReply {
            found: true,
            data: Media::new(vec![MediaType::Plain(text)]),
            ..InspectReply::default()
        },
        Some(None) => InspectReply::default(),
        None => return None,
    })
}

/// What one execution shows, in order: every result but the last is display_data, the
/// last is the execute_result; help goes to the pager.
struct Cell<'a> {
    request: &'a JupyterMessage,
    iopub: &'a IoPub,
    silent: bool,
    count: usize,
    code: String,
    store_history: bool,
    /// The latest result: display_data when another follows, else the execute_result.
    held: Option<Media>,
    /// Help for the pager, sent in the reply.
    pages: Vec<Payload>,
    progress: Progress,
}

/// Long work shows a line after half a second, updated each second, then replaced by how
/// long it took (one display id per cell). Marked in its metadata so tools that compare
/// stored notebooks can leave out what depends on the machine's speed.
struct Progress {
    display_id: String,
    work: Option<(String, Instant)>,
    shown: bool,
}

impl<'a> Cell<'a> {
    fn new(
        request: &'a JupyterMessage,
        execute: &ExecuteRequest,
        state: &mut ShellState,
        iopub: &'a IoPub,
    ) -> Self {
        let silent = execute.silent;
        let store_history = execute.store_history && !silent;
        if store_history {
            state.execution_count += 1;
        }
        Cell {
            request,
            iopub,
            silent,
            count: state.execution_count,
            code: execute.code.clone(),
            store_history,
            held: None,
            pages: Vec::new(),
            progress: Progress {
                display_id: format!("spel-progress-{}", uuid::Uuid::new_v4()),
                work: None,
                shown: false,
            },
        }
    }

    fn publish(&self, content: impl Into<JupyterMessageContent>) {
        if !self.silent {
            self.iopub.publish(content, Some(self.request));
        }
    }

    /// Runs the events to the end: `Ok`, or the error to report.
    async fn run(&mut self, mut events: mpsc::UnboundedReceiver<Event>) -> Result<(), ErrorOutput> {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Done(outcome)) => return outcome,
                    Some(event) => self.show(event),
                    None => {
                        return Err(engine::internal_error(
                            "the engine stopped",
                            "internal error: the engine stopped",
                        ));
                    }
                },
                _ = ticker.tick() => self.tick(),
            }
        }
    }

    fn show(&mut self, event: Event) {
        match event {
            Event::WorkStarted(what) => self.progress.work = Some((what, Instant::now())),
            Event::WorkFinished => {
                if let Some((what, began)) = self.progress.work.take()
                    && self.progress.shown
                {
                    let text = format!("{what}: {:.1} s", began.elapsed().as_secs_f64());
                    self.publish(self.progress_line(text));
                    self.progress.shown = false;
                }
            }
            Event::Stream(text) => self.publish(StreamContent::stdout(&text)),
            Event::Page(text) => self.pages.push(Payload::Page {
                data: Media::new(vec![MediaType::Plain(text)]),
                start: 0,
            }),
            Event::Result(bundle) => {
                if let Some(previous) = self.held.replace(bundle) {
                    self.publish(protocol_gaps::display_data(previous));
                }
            }
            Event::Done(_) => {}
        }
    }

    /// Shows or updates the progress line if the work has lasted half a second.
    fn tick(&mut self) {
        if let Some((what, began)) = &self.progress.work
            && !self.silent
        {
            let elapsed = began.elapsed().as_secs_f64();
            if elapsed >= 0.5 {
                let text = format!("{what} … {elapsed:.0} s");
                self.publish(self.progress_line(text));
                self.progress.shown = true;
            }
        }
    }

    /// The progress line: display_data the first time, then updates of it.
    fn progress_line(&self, text: String) -> JupyterMessageContent {
        let data = Media::new(vec![MediaType::Plain(text)]);
        let mut metadata = Map::new();
        metadata.insert("spel_progress".into(), Value::Bool(true));
        let transient = Transient {
            display_id: Some(self.progress.display_id.clone()),
        };
        if self.progress.shown {
            UpdateDisplayData {
                data,
                metadata,
                transient,
            }
            .into()
        } else {
            DisplayData {
                data,
                metadata,
                transient: Some(transient),
            }
            .into()
        }
    }

    /// The last result (or the error) and the reply; the text of the result for history.
    fn finish(mut self, outcome: Result<(), ErrorOutput>) -> (ExecuteReply, String) {
        match outcome {
            Ok(()) => {
                let mut text = String::new();
                if let Some(bundle) = self.held.take()
                    && !self.silent
                {
                    text = plain_text(&bundle);
                    self.publish(protocol_gaps::execute_result(self.count, bundle));
                }
                let reply =
                    protocol_gaps::execute_reply(self.count, Ok(std::mem::take(&mut self.pages)));
                (reply, text)
            }
            Err(error) => {
                if let Some(bundle) = self.held.take() {
                    self.publish(protocol_gaps::display_data(bundle));
                }
                self.publish(error.clone());
                (
                    protocol_gaps::execute_reply(self.count, Err(error)),
                    String::new(),
                )
            }
        }
    }
}

fn plain_text(bundle: &Media) -> String {
    bundle
        .content
        .iter()
        .find_map(|m| match m {
            MediaType::Plain(text) => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Runs a cell: execute_input, its outputs, then the reply (the shell sends it).
async fn execute(
    mut cell: Cell<'_>,
    state: &mut ShellState,
    engine: &std_mpsc::Sender<Request>,
    interrupt: &Arc<AtomicBool>,
) -> ExecuteReply {
    cell.publish(ExecuteInput {
        code: cell.code.clone(),
        execution_count: ExecutionCount::new(cell.count),
    });
    interrupt.store(false, Ordering::SeqCst);
    let (events, received) = mpsc::unbounded_channel();
    let _ = engine.send(Request::Execute {
        code: cell.code.clone(),
        cell: format!("cell[{}]", cell.count),
        events,
    });
    let outcome = cell.run(received).await;
    let (count, code, store_history) = (cell.count, cell.code.clone(), cell.store_history);
    let (reply, text) = cell.finish(outcome);
    if store_history {
        state.history.push((count, code, text));
    }
    reply
}

/// `tail`, `range` and `search` over this session's inputs (session number 1).
fn history(request: &HistoryRequest, state: &ShellState) -> HistoryReply {
    let size = |n: i32| usize::try_from(n).unwrap_or(0);
    let output = match request {
        HistoryRequest::Range { output, .. }
        | HistoryRequest::Tail { output, .. }
        | HistoryRequest::Search { output, .. } => *output,
    };
    let entry = |(count, code, text): &(usize, String, String)| {
        if output {
            HistoryEntry::InputOutput(1, *count, (code.clone(), text.clone()))
        } else {
            HistoryEntry::Input(1, *count, code.clone())
        }
    };
    let entries: Vec<HistoryEntry> = match request {
        HistoryRequest::Range { start, stop, .. } => {
            let (start, stop) = (size(*start), size(*stop));
            state
                .history
                .iter()
                .filter(|(c, _, _)| *c >= start && *c < stop)
                .map(entry)
                .collect()
        }
        HistoryRequest::Search {
            pattern, unique, n, ..
        } => {
            let mut seen = std::collections::HashSet::new();
            let mut found: Vec<HistoryEntry> = state
                .history
                .iter()
                .rev()
                .filter(|(_, code, _)| glob_match(pattern, code))
                .filter(|(_, code, _)| !unique || seen.insert(code.clone()))
                .take(size(*n))
                .map(entry)
                .collect();
            found.reverse();
            found
        }
        HistoryRequest::Tail { n, .. } => {
            let skip = state.history.len().saturating_sub(size(*n));
            state.history.iter().skip(skip).map(entry).collect()
        }
    };
    HistoryReply::new(entries)
}

/// `*` and `?` globbing, as IPython's history search. Dynamic programming over the
/// text (which prefixes of the pattern match the text read so far), so a pattern of
/// many stars costs pattern × text steps, never the backtracking's exponential.
fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    // matched[j]: the pattern's first j characters match the text read so far.
    let mut matched = vec![false; pattern.len() + 1];
    matched[0] = true;
    for j in 1..=pattern.len() {
        matched[j] = matched[j - 1] && pattern[j - 1] == '*';
    }
    for c in text.chars() {
        let mut next = vec![false; pattern.len() + 1];
        for j in 1..=pattern.len() {
            next[j] = match pattern[j - 1] {
                '*' => next[j - 1] || matched[j],
                '?' => matched[j - 1],
                p => matched[j - 1] && p == c,
            };
        }
        matched = next;
    }
    matched[pattern.len()]
}

#[cfg(test)]
mod tests {
    use super::{Backoff, Duration, glob_match};

    #[test]
    fn a_failing_socket_is_retried_slower_and_slower_then_each_second() {
        let mut backoff = Backoff::default();
        let pauses: Vec<(u128, bool)> = (0..10)
            .map(|_| backoff.next())
            .map(|(p, say)| (p.as_millis(), say))
            .collect();
        let expected = [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000];
        assert_eq!(pauses.iter().map(|p| p.0).collect::<Vec<_>>(), expected);
        // Logged at the first failure and then once a second, not at every retry.
        assert_eq!(pauses.iter().filter(|p| p.1).count(), 4);
        backoff.reset();
        assert_eq!(backoff.next().0, Duration::from_millis(10));
    }

    #[test]
    fn globs_match_as_ipython_history_search() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("*", "model y ~ x", true),
            ("model*", "model y ~ x", true),
            ("*y ~*", "model y ~ x", true),
            ("mod?l*", "model y ~ x", true),
            ("model", "model y ~ x", false),
            ("?", "", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("**", "x", true),
        ] {
            assert_eq!(
                glob_match(pattern, text),
                expected,
                "{pattern:?} on {text:?}"
            );
        }
    }

    /// Forty stars and a letter the text lacks: exponential for a backtracking
    /// matcher (the kernel never answered), a few thousand steps here.
    #[test]
    fn many_stars_answer_at_once() {
        let pattern = format!("{}a", "*".repeat(40));
        let text = "x".repeat(2000);
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&pattern, &(text + "a")));
    }
}
