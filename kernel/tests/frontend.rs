//! A dummy frontend on real zeromq sockets with a random key, as ark tests its kernel:
//! the message order of an execution, the MIME types of results, forged signatures
//! ignored, and the heartbeat answered while a cell runs.

use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use jupyter_protocol::{JupyterMessage, JupyterMessageContent, UnknownMessage};
use serde_json::{Value, json};
use spel_kernel::wire::{self, Signer};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A message's content as JSON, as a client sees it.
fn content(message: &JupyterMessage) -> Value {
    serde_json::to_value(&message.content).unwrap()
}

fn parent_id(message: &JupyterMessage) -> &str {
    message
        .parent_header
        .as_ref()
        .map_or("", |parent| parent.msg_id.as_str())
}

struct Frontend {
    shell: zeromq::DealerSocket,
    iopub: zeromq::SubSocket,
    heartbeat: zeromq::ReqSocket,
    signer: Signer,
}

impl Frontend {
    /// Sends a request whose content is given as JSON (so it may leave fields out, as a
    /// front end may).
    async fn send(&mut self, msg_type: &str, content: Value, signer: &Signer) -> String {
        let request = JupyterMessage::new(
            UnknownMessage {
                msg_type: msg_type.into(),
                content,
            },
            None,
        );
        let frames = wire::encode(vec![], &request, signer);
        self.shell
            .send(ZmqMessage::try_from(frames).unwrap())
            .await
            .unwrap();
        request.header.msg_id
    }

    async fn reply(&mut self) -> Option<JupyterMessage> {
        let received = tokio::time::timeout(Duration::from_secs(10), self.shell.recv())
            .await
            .ok()?
            .ok()?;
        wire::decode(received.into_vec(), &self.signer)
            .ok()
            .map(|r| r.message)
    }

    /// The iopub messages answering `msg_id`, up to its `idle`.
    async fn outputs(&mut self, msg_id: &str) -> Vec<JupyterMessage> {
        let mut out = Vec::new();
        loop {
            let received = tokio::time::timeout(Duration::from_secs(10), self.iopub.recv())
                .await
                .unwrap()
                .unwrap();
            let frames: Vec<Bytes> = received.into_vec();
            let Ok(received) = wire::decode(frames, &self.signer) else {
                continue;
            };
            let message = received.message;
            if parent_id(&message) != msg_id {
                continue;
            }
            let idle = message.message_type() == "status"
                && content(&message)["execution_state"] == "idle";
            out.push(message);
            if idle {
                return out;
            }
        }
    }
}

async fn start() -> Frontend {
    let key = uuid::Uuid::new_v4().to_string();
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let connection: jupyter_protocol::ConnectionInfo = serde_json::from_value(json!({
        "ip": "127.0.0.1", "transport": "tcp",
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2],
        "control_port": ports[3], "hb_port": ports[4],
        "key": key, "signature_scheme": "hmac-sha256",
    }))
    .unwrap();
    let urls = (
        connection.shell_url(),
        connection.iopub_url(),
        connection.hb_url(),
    );
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _ = runtime.block_on(spel_kernel::server::serve(connection));
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut shell = zeromq::DealerSocket::new();
    shell.connect(&urls.0).await.unwrap();
    let mut iopub = zeromq::SubSocket::new();
    iopub.connect(&urls.1).await.unwrap();
    iopub.subscribe("").await.unwrap();
    let mut heartbeat = zeromq::ReqSocket::new();
    heartbeat.connect(&urls.2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    Frontend {
        shell,
        iopub,
        heartbeat,
        signer: Signer::new(&key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_order_mime_types_forgery_and_heartbeat() {
    let mut frontend = start().await;
    let signer = frontend.signer.clone();

    let id = frontend
        .send("kernel_info_request", json!({}), &signer)
        .await;
    let reply = frontend.reply().await.expect("a kernel_info_reply");
    let JupyterMessageContent::KernelInfoReply(info) = &reply.content else {
        panic!("not a kernel_info_reply: {reply:?}");
    };
    assert_eq!(info.language_info.file_extension.as_deref(), Some(".spel"));
    assert_eq!(parent_id(&reply), id);
    assert_eq!(reply.header.username, "spel");

    let id = frontend
        .send("execute_request", json!({ "code": "t = table x = [1, 2]\nt\n6 * 7", "silent": false, "store_history": true, "user_expressions": {}, "allow_stdin": false }), &signer)
        .await;
    let reply = frontend.reply().await.expect("an execute_reply");
    assert_eq!(content(&reply)["status"], "ok");
    assert_eq!(content(&reply)["user_expressions"], json!({}));
    let outputs = frontend.outputs(&id).await;
    let kinds: Vec<&str> = outputs.iter().map(|m| m.message_type()).collect();
    assert_eq!(
        kinds,
        [
            "status",
            "execute_input",
            "display_data",
            "execute_result",
            "status"
        ]
    );
    assert!(
        content(&outputs[2])["data"]["text/html"]
            .as_str()
            .unwrap()
            .contains("<table>")
    );
    assert_eq!(content(&outputs[2])["transient"], json!({}));
    let result = content(&outputs[3]);
    assert_eq!(result["data"]["text/plain"], "42");
    assert_eq!(result["execution_count"], 1);
    assert_eq!(result["transient"], json!({}));

    // A message signed with another key is never run and never answered.
    let forged = Signer::new("not-the-key");
    frontend
        .send("execute_request", json!({ "code": "forged = 1" }), &forged)
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(800), frontend.shell.recv())
            .await
            .is_err()
    );

    // The heartbeat answers while a cell runs.
    let id = frontend
        .send(
            "execute_request",
            json!({ "code": "gpps = simulate gpps, n = 300000, seed = 2", "silent": false }),
            &signer,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let began = std::time::Instant::now();
    frontend
        .heartbeat
        .send(ZmqMessage::from(b"ping".to_vec()))
        .await
        .unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(2), frontend.heartbeat.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo.get(0).unwrap().as_ref(), b"ping");
    assert!(began.elapsed() < Duration::from_millis(500));
    let reply = frontend.reply().await.expect("the long cell's reply");
    assert_eq!(parent_id(&reply), id);

    let id = frontend
        .send(
            "execute_request",
            json!({ "code": "forged", "silent": false }),
            &signer,
        )
        .await;
    let reply = frontend.reply().await.unwrap();
    assert_eq!(content(&reply)["status"], "error");
    let outputs = frontend.outputs(&id).await;
    assert_eq!(
        outputs
            .iter()
            .filter(|m| m.message_type() == "error")
            .count(),
        1
    );
}

/// Requests as front ends send them, not always with every field jupyter-protocol
/// requires: an execute request with only its code, a history search without `n` or
/// `unique` (jupyter_client's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_fields_left_out_are_answered() {
    let mut frontend = start().await;
    let signer = frontend.signer.clone();
    let id = frontend
        .send("execute_request", json!({ "code": "6 * 7" }), &signer)
        .await;
    let reply = frontend.reply().await.expect("an execute_reply");
    assert_eq!(content(&reply)["execution_count"], 1);
    let outputs = frontend.outputs(&id).await;
    assert!(outputs.iter().any(|m| m.message_type() == "execute_result"));

    frontend
        .send(
            "history_request",
            json!({ "hist_access_type": "search", "pattern": "6*", "output": false, "raw": true }),
            &signer,
        )
        .await;
    let reply = frontend.reply().await.expect("a history_reply");
    assert_eq!(reply.message_type(), "history_reply");
    assert_eq!(content(&reply)["history"], json!([[1, 1, "6 * 7"]]));
}

/// A request without its code, or with a cursor outside it, gets an error reply of its
/// own type; an unknown request is logged and left unanswered, as ipykernel leaves it
/// (busy and idle are still published); a history search of forty stars answers. After
/// all of them the kernel still executes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_unknown_requests_leave_the_kernel_answering() {
    let mut frontend = start().await;
    let signer = frontend.signer.clone();
    for (msg_type, request, says) in [
        (
            "execute_request",
            json!({ "silent": false }),
            "without `code`",
        ),
        ("execute_request", json!({ "code": ["x"] }), "not a string"),
        (
            "complete_request",
            json!({ "code": "fil", "cursor_pos": 99 }),
            "not a position",
        ),
        (
            "inspect_request",
            json!({ "code": "fil", "cursor_pos": -3 }),
            "not a position",
        ),
        (
            "is_complete_request",
            json!({ "code": null }),
            "not a string",
        ),
    ] {
        frontend.send(msg_type, request, &signer).await;
        let reply = frontend.reply().await.expect("an error reply");
        let expected = msg_type.replace("_request", "_reply");
        assert_eq!(reply.message_type(), expected);
        let body = content(&reply);
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["evalue"].as_str().unwrap().contains(says), "{body}");
    }

    let id = frontend
        .send("frobnicate_request", json!({}), &signer)
        .await;
    let states: Vec<Value> = frontend
        .outputs(&id)
        .await
        .iter()
        .map(|m| content(m)["execution_state"].clone())
        .collect();
    assert_eq!(states, [json!("busy"), json!("idle")]);

    let pattern = format!("{}a", "*".repeat(40));
    frontend
        .send(
            "history_request",
            json!({ "hist_access_type": "search", "pattern": pattern, "output": false, "raw": true }),
            &signer,
        )
        .await;
    let reply = frontend
        .reply()
        .await
        .expect("a history_reply, not silence");
    assert_eq!(reply.message_type(), "history_reply");

    frontend
        .send("execute_request", json!({ "code": "6 * 7" }), &signer)
        .await;
    let reply = frontend.reply().await.expect("an execute_reply");
    assert_eq!(content(&reply)["status"], "ok");
}

/// A seeded xorshift stream for the message fuzzer.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A JSON value of any kind, as a broken client might put in any field.
fn any_value(draw: &mut Draw, depth: usize) -> Value {
    match draw.below(if depth == 0 { 7 } else { 9 }) {
        0 => Value::Null,
        1 => json!(draw.below(2) == 0),
        2 => json!(draw.below(100) as i64 - 50),
        3 => json!(u64::MAX),
        4 => json!(-1e308),
        5 => json!(
            [
                "t |> filter x",
                "6 * 7",
                "",
                "((((",
                "\u{0}",
                "x = 1 + ",
                ":help"
            ][draw.below(7)]
        ),
        6 => json!("*".repeat(draw.below(60)) + "a"),
        7 => Value::Array(
            (0..draw.below(4))
                .map(|_| any_value(draw, depth - 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "code",
                "cursor_pos",
                "silent",
                "store_history",
                "hist_access_type",
                "pattern",
                "n",
                "x",
            ];
            let mut object = serde_json::Map::new();
            for _ in 0..draw.below(5) {
                object.insert(
                    keys[draw.below(keys.len())].into(),
                    any_value(draw, depth - 1),
                );
            }
            Value::Object(object)
        }
    }
}

/// Random and mutated messages, signed with the kernel's key (and some that are not
/// messages at all), on the shell channel: the kernel answers what it can, drops what
/// it cannot read, and afterwards still answers kernel_info and runs a cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_messages_leave_the_kernel_answering() {
    let mut frontend = start().await;
    let signer = frontend.signer.clone();
    let types = [
        "execute_request",
        "complete_request",
        "inspect_request",
        "is_complete_request",
        "history_request",
        "kernel_info_request",
        "comm_info_request",
        "comm_open",
        "frobnicate",
    ];
    let mut draw = Draw(0x5eed_cafe_f00d_1234);
    for _ in 0..400 {
        match draw.below(5) {
            // Frames that are not a message: no delimiter, too few frames, bad JSON
            // under a good signature.
            0 => {
                let junk: Vec<Bytes> = (0..draw.below(8))
                    .map(|_| {
                        Bytes::from(
                            (0..draw.below(20))
                                .map(|_| draw.below(256) as u8)
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                if let Ok(message) = ZmqMessage::try_from(junk) {
                    frontend.shell.send(message).await.unwrap();
                }
            }
            1 => {
                let frames: [&[u8]; 4] = [b"{\"msg_type\": 3}", b"{}", b"[]", b"{not json"];
                let signature = signer.sign(&frames);
                let mut out = vec![Bytes::from_static(b"<IDS|MSG>"), Bytes::from(signature)];
                out.extend(frames.iter().map(|f| Bytes::copy_from_slice(f)));
                frontend
                    .shell
                    .send(ZmqMessage::try_from(out).unwrap())
                    .await
                    .unwrap();
            }
            _ => {
                let content = match any_value(&mut draw, 2) {
                    Value::Object(object) => Value::Object(object),
                    other => json!({ "code": other }),
                };
                frontend
                    .send(types[draw.below(types.len())], content, &signer)
                    .await;
            }
        }
    }
    // Whatever was answered is drained; then the kernel must still answer.
    while tokio::time::timeout(Duration::from_millis(500), frontend.shell.recv())
        .await
        .is_ok()
    {}
    let id = frontend
        .send("kernel_info_request", json!({}), &signer)
        .await;
    let mut answered = false;
    for _ in 0..50 {
        let Some(reply) = frontend.reply().await else {
            break;
        };
        if parent_id(&reply) == id {
            answered = reply.message_type() == "kernel_info_reply";
            break;
        }
    }
    assert!(answered, "no kernel_info_reply after the fuzzed messages");
    let id = frontend
        .send("execute_request", json!({ "code": "6 * 7" }), &signer)
        .await;
    loop {
        let reply = frontend.reply().await.expect("an execute_reply");
        if parent_id(&reply) == id {
            assert_eq!(content(&reply)["status"], "ok");
            break;
        }
    }
}
