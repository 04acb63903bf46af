//! The sockets and what is answered on each: heartbeat, iopub (XPUB, with a welcome to
//! each subscriber), shell (one request at a time, busy → outputs → idle around each),
//! control (on its own task, so interrupt and shutdown are answered while a cell runs)
//! and stdin (bound; spel never asks for input).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;

use bytes::Bytes;
use jupyter_protocol::ConnectionInfo;
use serde_json::{Value, json};
use spel_stdlib::Completeness;
use tokio::sync::{mpsc, oneshot};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::engine::{self, Event, Request};
use crate::offsets;
use crate::wire::{self, Message, Signer};

/// Sends to the iopub socket from any task.
#[derive(Clone)]
struct IoPub {
    sender: mpsc::UnboundedSender<Vec<Bytes>>,
    signer: Signer,
    session: String,
}

impl IoPub {
    fn publish(&self, msg_type: &str, parent: Option<&Message>, content: Value) {
        let topic = Bytes::from(format!("kernel.{}.{msg_type}", self.session));
        let frames = wire::encode(
            vec![topic],
            &self.session,
            msg_type,
            parent,
            &content,
            &self.signer,
        );
        let _ = self.sender.send(frames);
    }

    fn status(&self, parent: &Message, state: &str) {
        self.publish("status", Some(parent), json!({ "execution_state": state }));
    }
}

fn log(message: &str) {
    eprintln!("spel kernel: {message}");
}

fn to_zmq(frames: Vec<Bytes>) -> Option<ZmqMessage> {
    ZmqMessage::try_from(frames).ok()
}

pub async fn serve(connection: ConnectionInfo) -> Result<(), String> {
    let signer = Signer::new(&connection.key);
    let session = uuid::Uuid::new_v4().to_string();
    let (engine, interrupt) = engine::start();

    let mut heartbeat = zeromq::RepSocket::new();
    heartbeat
        .bind(&connection.hb_url())
        .await
        .map_err(|e| format!("heartbeat: {e}"))?;
    let mut iopub_socket = zeromq::XPubSocket::new();
    iopub_socket
        .bind(&connection.iopub_url())
        .await
        .map_err(|e| format!("iopub: {e}"))?;
    let mut shell = zeromq::RouterSocket::new();
    shell
        .bind(&connection.shell_url())
        .await
        .map_err(|e| format!("shell: {e}"))?;
    let mut control = zeromq::RouterSocket::new();
    control
        .bind(&connection.control_url())
        .await
        .map_err(|e| format!("control: {e}"))?;
    let mut stdin = zeromq::RouterSocket::new();
    stdin
        .bind(&connection.stdin_url())
        .await
        .map_err(|e| format!("stdin: {e}"))?;

    tokio::spawn(async move {
        while let Ok(message) = heartbeat.recv().await {
            if heartbeat.send(message).await.is_err() {
                log("heartbeat send failed");
            }
        }
    });

    let (sender, mut outgoing) = mpsc::unbounded_channel::<Vec<Bytes>>();
    let iopub = IoPub {
        sender,
        signer: signer.clone(),
        session: session.clone(),
    };
    let welcome = iopub.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                frames = outgoing.recv() => {
                    let Some(frames) = frames else { break };
                    if let Some(message) = to_zmq(frames) {
                        let _ = iopub_socket.send(message).await;
                    }
                }
                subscription = iopub_socket.recv() => {
                    // XPUB delivers subscriptions: byte 1 then the topic.
                    if let Ok(message) = subscription
                        && let Some(frame) = message.get(0)
                        && frame.first() == Some(&1)
                    {
                        let topic = String::from_utf8_lossy(&frame[1..]).into_owned();
                        welcome.publish("iopub_welcome", None, json!({ "subscription": topic }));
                    }
                }
            }
        }
    });

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
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        }
    });
    tokio::spawn(async move { while let Ok(_ignored) = stdin.recv().await {} });

    let control_iopub = iopub.clone();
    let control_signer = signer.clone();
    let control_session = session.clone();
    let control_interrupt = Arc::clone(&interrupt);
    tokio::spawn(async move {
        loop {
            let Ok(received) = control.recv().await else {
                continue;
            };
            let request = match wire::decode(received.into_vec(), &control_signer) {
                Ok(request) => request,
                Err(e) => {
                    log(&format!("dropped a control message: {e:?}"));
                    continue;
                }
            };
            let (reply_type, content, shutting_down) = match request.msg_type() {
                "interrupt_request" => {
                    control_interrupt.store(true, Ordering::SeqCst);
                    ("interrupt_reply", json!({ "status": "ok" }), false)
                }
                "shutdown_request" => {
                    let restart = request.content["restart"].as_bool().unwrap_or(false);
                    (
                        "shutdown_reply",
                        json!({ "status": "ok", "restart": restart }),
                        true,
                    )
                }
                "kernel_info_request" => ("kernel_info_reply", kernel_info(), false),
                other => {
                    log(&format!("unknown control message {other}"));
                    continue;
                }
            };
            control_iopub.status(&request, "busy");
            let frames = wire::encode(
                request.identities.clone(),
                &control_session,
                reply_type,
                Some(&request),
                &content,
                &control_signer,
            );
            if let Some(message) = to_zmq(frames) {
                let _ = control.send(message).await;
            }
            if shutting_down {
                control_iopub.publish("shutdown_reply", Some(&request), content.clone());
            }
            control_iopub.status(&request, "idle");
            if shutting_down {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                std::process::exit(0);
            }
        }
    });

    let mut state = ShellState {
        execution_count: 0,
        history: Vec::new(),
    };
    loop {
        let Ok(received) = shell.recv().await else {
            continue;
        };
        let request = match wire::decode(received.into_vec(), &signer) {
            Ok(request) => request,
            Err(e) => {
                log(&format!("dropped a shell message: {e:?}"));
                continue;
            }
        };
        iopub.status(&request, "busy");
        let (reply_type, content) = handle(&request, &mut state, &engine, &iopub, &interrupt).await;
        let frames = wire::encode(
            request.identities.clone(),
            &session,
            reply_type,
            Some(&request),
            &content,
            &signer,
        );
        if let Some(message) = to_zmq(frames)
            && let Err(e) = shell.send(message).await
        {
            log(&format!("could not reply: {e}"));
        }
        iopub.status(&request, "idle");
    }
}

struct ShellState {
    execution_count: usize,
    /// (execution count, code, the text of the last result)
    history: Vec<(usize, String, String)>,
}

fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": "5.3",
        "implementation": "spel",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "spel",
            "version": env!("CARGO_PKG_VERSION"),
            "mimetype": "text/x-spel",
            "file_extension": ".spel",
            "pygments_lexer": "text",
            "codemirror_mode": "r",
        },
        "banner": format!("spel {} — a language for evaluating health-service programmes", env!("CARGO_PKG_VERSION")),
        "help_links": [],
        "debugger": false,
    })
}

async fn handle(
    request: &Message,
    state: &mut ShellState,
    engine: &std_mpsc::Sender<Request>,
    iopub: &IoPub,
    interrupt: &Arc<AtomicBool>,
) -> (&'static str, Value) {
    let content = &request.content;
    match request.msg_type() {
        "kernel_info_request" => ("kernel_info_reply", kernel_info()),
        "execute_request" => (
            "execute_reply",
            execute(request, state, engine, iopub, interrupt).await,
        ),
        "is_complete_request" => {
            let code = content["code"].as_str().unwrap_or("");
            let reply = match spel_stdlib::is_complete(code) {
                Completeness::Complete => json!({ "status": "complete" }),
                Completeness::Incomplete { indent } => {
                    json!({ "status": "incomplete", "indent": indent })
                }
                Completeness::Invalid => json!({ "status": "invalid" }),
            };
            ("is_complete_reply", reply)
        }
        "complete_request" => {
            let code = content["code"].as_str().unwrap_or("").to_string();
            let cursor = content["cursor_pos"]
                .as_u64()
                .unwrap_or(code.chars().count() as u64) as usize;
            let byte = offsets::byte_offset(&code, cursor);
            let (reply, answer) = oneshot::channel();
            let _ = engine.send(Request::Complete {
                code: code.clone(),
                cursor: byte,
                reply,
            });
            let completions = answer.await.unwrap_or_default();
            let start = offsets::code_points(&code, completions.start);
            let end = offsets::code_points(&code, completions.end);
            let matches: Vec<&str> = completions
                .candidates
                .iter()
                .map(|c| c.text.as_str())
                .collect();
            let types: Vec<Value> = completions
                .candidates
                .iter()
                .map(|c| json!({ "text": c.text, "type": c.kind.label(), "start": start, "end": end, "signature": c.detail }))
                .collect();
            (
                "complete_reply",
                json!({
                    "status": "ok",
                    "matches": matches,
                    "cursor_start": start,
                    "cursor_end": end,
                    "metadata": { "_jupyter_types_experimental": types },
                }),
            )
        }
        "inspect_request" => {
            let code = content["code"].as_str().unwrap_or("").to_string();
            let cursor = content["cursor_pos"].as_u64().unwrap_or(0) as usize;
            let byte = offsets::byte_offset(&code, cursor);
            let (reply, answer) = oneshot::channel();
            let _ = engine.send(Request::Inspect {
                code,
                cursor: byte,
                reply,
            });
            let reply = match answer.await.ok().flatten() {
                Some(text) => {
                    json!({ "status": "ok", "found": true, "data": { "text/plain": text }, "metadata": {} })
                }
                None => json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
            };
            ("inspect_reply", reply)
        }
        "history_request" => ("history_reply", history(content, state)),
        "comm_info_request" => ("comm_info_reply", json!({ "status": "ok", "comms": {} })),
        "shutdown_request" => {
            let restart = content["restart"].as_bool().unwrap_or(false);
            (
                "shutdown_reply",
                json!({ "status": "ok", "restart": restart }),
            )
        }
        other => {
            log(&format!("unknown shell message {other}"));
            (
                "error",
                json!({ "status": "error", "ename": "UnknownMessage", "evalue": other, "traceback": [] }),
            )
        }
    }
}

async fn execute(
    request: &Message,
    state: &mut ShellState,
    engine: &std_mpsc::Sender<Request>,
    iopub: &IoPub,
    interrupt: &Arc<AtomicBool>,
) -> Value {
    let code = request.content["code"].as_str().unwrap_or("").to_string();
    let silent = request.content["silent"].as_bool().unwrap_or(false);
    let store_history = request.content["store_history"].as_bool().unwrap_or(true) && !silent;
    if store_history {
        state.execution_count += 1;
    }
    let count = state.execution_count;
    if !silent {
        iopub.publish(
            "execute_input",
            Some(request),
            json!({ "code": code, "execution_count": count }),
        );
    }
    interrupt.store(false, Ordering::SeqCst);
    let (events, mut received) = mpsc::unbounded_channel();
    let _ = engine.send(Request::Execute {
        code: code.clone(),
        cell: format!("cell[{count}]"),
        events,
    });
    // Every result but the last is display_data; the last is the execute_result.
    let mut held: Option<serde_json::Map<String, Value>> = None;
    let mut pages: Vec<Value> = Vec::new();
    let mut last_text = String::new();
    // Long work shows a line after half a second, updated each second, then replaced
    // by how long it took (one display id per cell). Marked in its metadata so tools that
    // compare stored notebooks can leave out what depends on the machine's speed.
    let display_id = format!("spel-progress-{}", uuid::Uuid::new_v4());
    let mut work: Option<(String, std::time::Instant)> = None;
    let mut progress_shown = false;
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(250));
    let outcome = loop {
        let event = tokio::select! {
            event = received.recv() => event,
            _ = ticker.tick() => {
                if let Some((what, began)) = &work
                    && !silent
                {
                    let elapsed = began.elapsed().as_secs_f64();
                    if elapsed >= 0.5 {
                        let text = format!("{what} … {elapsed:.0} s");
                        let kind = if progress_shown { "update_display_data" } else { "display_data" };
                        iopub.publish(kind, Some(request), json!({ "data": { "text/plain": text }, "metadata": { "spel_progress": true }, "transient": { "display_id": display_id } }));
                        progress_shown = true;
                    }
                }
                continue;
            }
        };
        match event {
            Some(Event::WorkStarted(what)) => work = Some((what, std::time::Instant::now())),
            Some(Event::WorkFinished) => {
                if let Some((what, began)) = work.take()
                    && progress_shown
                {
                    let text = format!("{what}: {:.1} s", began.elapsed().as_secs_f64());
                    iopub.publish("update_display_data", Some(request), json!({ "data": { "text/plain": text }, "metadata": { "spel_progress": true }, "transient": { "display_id": display_id } }));
                    progress_shown = false;
                }
            }
            Some(Event::Stream(text)) if !silent => {
                iopub.publish(
                    "stream",
                    Some(request),
                    json!({ "name": "stdout", "text": text }),
                );
            }
            Some(Event::Stream(_)) => {}
            Some(Event::Page(text)) => {
                pages.push(json!({ "source": "page", "data": { "text/plain": text }, "start": 0 }));
            }
            Some(Event::Result(bundle)) => {
                if let Some(previous) = held.replace(bundle)
                    && !silent
                {
                    iopub.publish(
                        "display_data",
                        Some(request),
                        json!({ "data": previous, "metadata": {}, "transient": {} }),
                    );
                }
            }
            Some(Event::Done(result)) => break result,
            None => {
                break Err(engine::ErrorReport {
                    ename: "spel::internal".into(),
                    evalue: "the engine stopped".into(),
                    traceback: vec!["internal error: the engine stopped".into()],
                });
            }
        }
    };
    match outcome {
        Ok(()) => {
            if let Some(bundle) = held
                && !silent
            {
                last_text = bundle
                    .get("text/plain")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                iopub.publish(
                    "execute_result",
                    Some(request),
                    json!({ "execution_count": count, "data": bundle, "metadata": {}, "transient": {} }),
                );
            }
            if store_history {
                state.history.push((count, code, last_text));
            }
            json!({ "status": "ok", "execution_count": count, "user_expressions": {}, "payload": pages })
        }
        Err(error) => {
            if let Some(bundle) = held
                && !silent
            {
                iopub.publish(
                    "display_data",
                    Some(request),
                    json!({ "data": bundle, "metadata": {}, "transient": {} }),
                );
            }
            if !silent {
                iopub.publish(
                    "error",
                    Some(request),
                    json!({ "ename": error.ename, "evalue": error.evalue, "traceback": error.traceback }),
                );
            }
            if store_history {
                state.history.push((count, code, String::new()));
            }
            json!({
                "status": "error",
                "execution_count": count,
                "ename": error.ename,
                "evalue": error.evalue,
                "traceback": error.traceback,
            })
        }
    }
}

/// `tail`, `range` and `search` over this session's inputs (session number 1).
fn history(content: &Value, state: &ShellState) -> Value {
    let output = content["output"].as_bool().unwrap_or(false);
    let entry = |(count, code, text): &(usize, String, String)| {
        if output {
            json!([1, count, [code, text]])
        } else {
            json!([1, count, code])
        }
    };
    let entries: Vec<Value> = match content["hist_access_type"].as_str().unwrap_or("tail") {
        "range" => {
            let start = content["start"].as_u64().unwrap_or(0) as usize;
            let stop = content["stop"].as_u64().map_or(usize::MAX, |s| s as usize);
            state
                .history
                .iter()
                .filter(|(c, _, _)| *c >= start && *c < stop)
                .map(entry)
                .collect()
        }
        "search" => {
            let pattern = content["pattern"].as_str().unwrap_or("*");
            let unique = content["unique"].as_bool().unwrap_or(false);
            let n = content["n"].as_u64().map_or(usize::MAX, |n| n as usize);
            let mut seen = std::collections::HashSet::new();
            let mut found: Vec<Value> = state
                .history
                .iter()
                .rev()
                .filter(|(_, code, _)| glob_match(pattern, code))
                .filter(|(_, code, _)| !unique || seen.insert(code.clone()))
                .take(n)
                .map(entry)
                .collect();
            found.reverse();
            found
        }
        _ => {
            let n = content["n"].as_u64().unwrap_or(10) as usize;
            let skip = state.history.len().saturating_sub(n);
            state.history.iter().skip(skip).map(entry).collect()
        }
    };
    json!({ "status": "ok", "history": entries })
}

/// `*` and `?` globbing, as IPython's history search.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], t) || (!t.is_empty() && matches(p, &t[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}
