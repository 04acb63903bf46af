//! A dummy frontend on real zeromq sockets with a random key, as ark tests its kernel:
//! the message order of an execution, the MIME types of results, forged signatures
//! ignored, and the heartbeat answered while a cell runs.

use std::net::TcpListener;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use spel_kernel::wire::{self, Message, Signer};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Frontend {
    shell: zeromq::DealerSocket,
    iopub: zeromq::SubSocket,
    heartbeat: zeromq::ReqSocket,
    signer: Signer,
}

impl Frontend {
    async fn send(&mut self, msg_type: &str, content: Value, signer: &Signer) -> String {
        let frames = wire::encode(vec![], "frontend", msg_type, None, &content, signer);
        let header: Value = serde_json::from_slice(&frames[2]).unwrap();
        self.shell
            .send(ZmqMessage::try_from(frames).unwrap())
            .await
            .unwrap();
        header["msg_id"].as_str().unwrap().to_string()
    }

    async fn reply(&mut self) -> Option<Message> {
        let received = tokio::time::timeout(Duration::from_secs(10), self.shell.recv())
            .await
            .ok()?
            .ok()?;
        wire::decode(received.into_vec(), &self.signer).ok()
    }

    /// The iopub messages answering `msg_id`, up to its `idle`.
    async fn outputs(&mut self, msg_id: &str) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let received = tokio::time::timeout(Duration::from_secs(10), self.iopub.recv())
                .await
                .unwrap()
                .unwrap();
            let frames: Vec<Bytes> = received.into_vec();
            let Ok(message) = wire::decode(frames, &self.signer) else {
                continue;
            };
            if message.parent_header["msg_id"] != msg_id {
                continue;
            }
            let idle =
                message.msg_type() == "status" && message.content["execution_state"] == "idle";
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
    assert_eq!(reply.msg_type(), "kernel_info_reply");
    assert_eq!(reply.content["language_info"]["file_extension"], ".spel");
    assert_eq!(reply.parent_header["msg_id"], id.as_str());

    let id = frontend
        .send("execute_request", json!({ "code": "t = table x = [1, 2]\nt\n6 * 7", "silent": false, "store_history": true, "user_expressions": {}, "allow_stdin": false }), &signer)
        .await;
    let reply = frontend.reply().await.expect("an execute_reply");
    assert_eq!(reply.content["status"], "ok");
    let outputs = frontend.outputs(&id).await;
    let kinds: Vec<&str> = outputs.iter().map(|m| m.msg_type()).collect();
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
        outputs[2].content["data"]["text/html"]
            .as_str()
            .unwrap()
            .contains("<table>")
    );
    assert_eq!(outputs[3].content["data"]["text/plain"], "42");
    assert_eq!(outputs[3].content["execution_count"], 1);

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
    assert_eq!(reply.parent_header["msg_id"], id.as_str());

    let id = frontend
        .send(
            "execute_request",
            json!({ "code": "forged", "silent": false }),
            &signer,
        )
        .await;
    let reply = frontend.reply().await.unwrap();
    assert_eq!(reply.content["status"], "error");
    let outputs = frontend.outputs(&id).await;
    assert_eq!(
        outputs.iter().filter(|m| m.msg_type() == "error").count(),
        1
    );
}
