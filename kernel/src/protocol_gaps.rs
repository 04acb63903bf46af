//! Where jupyter-protocol 2.0.3 and what Jupyter's clients send or expect disagree, and
//! what this kernel does about each. Everything else uses the crate's types as they are.
//!
//! 1. `ExecuteResult::new` (any `ExecuteResult` with `transient: None`) serializes as
//!    `"transient": null`; the message schema (jupyter_client's, as jupyter_kernel_test
//!    checks it) wants an object. [`execute_result`] and [`display_data`] set an empty
//!    [`Transient`], which is `{}`. (`DisplayData` would leave a `None` transient out; we
//!    send `{}` there too, as the kernel always has.)
//! 2. `ExecuteReply.user_expressions: None` serializes as `null`; the schema wants an
//!    object. [`execute_reply`] uses an empty map.
//! 3. `HistoryRequest` requires every field of its variant (`n` and `unique` for a
//!    search, `session`, `start` and `stop` for a range), but jupyter_client sends only
//!    what its caller gave: a plain search has neither `n` nor `unique`, so the request
//!    does not deserialize at all. [`history_request`] reads the fields itself, with
//!    IPython's defaults (tail: the last 10; search and range: no limit).
//! 4. The other request types have no defaults for fields a front end may leave out
//!    (`silent` and `store_history` of an execute request, `cursor_pos` of a completion
//!    or inspection, `restart` of a shutdown, ...). The kernel has always answered such
//!    requests, with defaults; [`content`] reads a request that does not deserialize over
//!    its defaults (a completion's cursor defaults to the end of the code). A request
//!    without its `code`, or with a cursor outside it, is not guessed at: it gets an
//!    error reply ([`malformed`], [`error_reply`]).
//!
//! Seen but harmless, so not worked around: `IsCompleteReply` always carries `indent`
//! (`""` unless incomplete), where the specification leaves it out; protocol 5.3's schema
//! allows the extra key and clients ignore it.

use std::collections::HashMap;

use jupyter_protocol::{
    CompleteRequest, DisplayData, ErrorOutput, ExecuteReply, ExecuteRequest, ExecuteResult,
    ExecutionCount, HistoryRequest, InspectRequest, IsCompleteRequest, JupyterMessageContent,
    Media, Payload, ReplyError, ReplyStatus, ShutdownRequest, Transient, UnknownMessage,
};
use serde_json::{Map, Value};

/// Gap 1: an `execute_result` whose `transient` is `{}`.
pub fn execute_result(count: usize, data: Media) -> ExecuteResult {
    ExecuteResult {
        transient: Some(Transient::default()),
        ..ExecuteResult::new(ExecutionCount::new(count), data)
    }
}

/// Gap 1: a `display_data` whose `transient` is `{}`.
pub fn display_data(data: Media) -> DisplayData {
    DisplayData {
        transient: Some(Transient::default()),
        ..DisplayData::new(data)
    }
}

/// Gap 2: an `execute_reply` whose `user_expressions` is `{}`; `Err` is the error reply.
pub fn execute_reply(count: usize, outcome: Result<Vec<Payload>, ErrorOutput>) -> ExecuteReply {
    let (status, payload, error) = match outcome {
        Ok(payload) => (ReplyStatus::Ok, payload, None),
        Err(e) => (
            ReplyStatus::Error,
            Vec::new(),
            Some(Box::new(ReplyError {
                ename: e.ename,
                evalue: e.evalue,
                traceback: e.traceback,
            })),
        ),
    };
    ExecuteReply {
        status,
        execution_count: ExecutionCount::new(count),
        payload,
        user_expressions: Some(HashMap::new()),
        error,
    }
}

/// Gap 3: a `history_request` read field by field, each with its default when it is
/// missing or not of its type.
pub fn history_request(content: &Value) -> HistoryRequest {
    let flag = |key: &str| content[key].as_bool().unwrap_or(false);
    let count = |key: &str, default: i32| {
        content[key]
            .as_u64()
            .map_or(default, |n| i32::try_from(n).unwrap_or(i32::MAX))
    };
    let (output, raw) = (flag("output"), flag("raw"));
    match content["hist_access_type"].as_str().unwrap_or("tail") {
        "range" => HistoryRequest::Range {
            session: content["session"]
                .as_i64()
                .and_then(|s| i32::try_from(s).ok()),
            start: count("start", 0),
            stop: count("stop", i32::MAX),
            output,
            raw,
        },
        "search" => HistoryRequest::Search {
            pattern: content["pattern"].as_str().unwrap_or("*").to_string(),
            unique: flag("unique"),
            output,
            raw,
            n: count("n", i32::MAX),
        },
        _ => HistoryRequest::Tail {
            n: count("n", 10),
            output,
            raw,
        },
    }
}

/// A received message's content as the crate's type. A history request is read by
/// [`history_request`]; a request that does not deserialize is read over its defaults
/// (gap 4), and anything else that does not is kept as an `UnknownMessage`. The second
/// value says what was not as expected, for the log.
pub fn content(msg_type: &str, content: Value) -> (JupyterMessageContent, Option<String>) {
    if let Some(problem) = malformed(msg_type, &content) {
        let unread = UnknownMessage {
            msg_type: msg_type.to_string(),
            content,
        };
        return (unread.into(), Some(problem));
    }
    if msg_type == "history_request" {
        return (history_request(&content).into(), None);
    }
    let strict = match JupyterMessageContent::from_type_and_content(msg_type, content.clone()) {
        Ok(parsed) => return (parsed, None),
        Err(e) => format!("{msg_type}: the content did not deserialize ({e})"),
    };
    let lenient = request_defaults(msg_type, &content).and_then(|defaults| {
        JupyterMessageContent::from_type_and_content(msg_type, overlay(defaults, &content)).ok()
    });
    match lenient {
        Some(parsed) => (parsed, Some(format!("{strict}; read with defaults"))),
        None => (
            UnknownMessage {
                msg_type: msg_type.to_string(),
                content,
            }
            .into(),
            Some(strict),
        ),
    }
}

/// What makes a request unanswerable even with defaults: no `code` string where the
/// request is about code, or a cursor that is not a position in it. Such a request
/// gets an error reply (see [`error_reply`]), not an answer about other code.
pub fn malformed(msg_type: &str, content: &Value) -> Option<String> {
    if !matches!(
        msg_type,
        "execute_request" | "complete_request" | "inspect_request" | "is_complete_request"
    ) {
        return None;
    }
    let Some(code) = content.get("code") else {
        return Some(format!("{msg_type} without `code`"));
    };
    let Some(code) = code.as_str() else {
        return Some(format!("{msg_type} whose `code` is not a string"));
    };
    match content.get("cursor_pos") {
        None | Some(Value::Null) => None,
        Some(cursor) if matches!(msg_type, "complete_request" | "inspect_request") => {
            let length = code.chars().count();
            match cursor.as_u64() {
                Some(at) if at as usize <= length => None,
                _ => Some(format!(
                    "{msg_type} whose `cursor_pos` ({cursor}) is not a position in its code of \
                     {length} characters"
                )),
            }
        }
        Some(_) => None,
    }
}

/// The error reply to a request that could not be read (`execute_request` →
/// `execute_reply` with status `error`); `None` for a message type that is not a request.
pub fn error_reply(
    msg_type: &str,
    problem: &str,
    execution_count: usize,
) -> Option<JupyterMessageContent> {
    reply_with_error(
        msg_type,
        "spel::kernel::bad_request",
        problem,
        execution_count,
    )
}

/// The error reply to a request whose answer panicked (a bug, logged where it happened).
pub fn internal_error_reply(
    msg_type: &str,
    execution_count: usize,
) -> Option<JupyterMessageContent> {
    reply_with_error(
        msg_type,
        "spel::internal",
        "internal error: spel could not answer this request; please report it",
        execution_count,
    )
}

fn reply_with_error(
    msg_type: &str,
    ename: &str,
    problem: &str,
    execution_count: usize,
) -> Option<JupyterMessageContent> {
    let base = msg_type.strip_suffix("_request")?;
    let mut content = serde_json::json!({
        "status": "error",
        "ename": ename,
        "evalue": problem,
        "traceback": [format!("spel kernel: {problem}")],
    });
    if base == "execute" {
        content["execution_count"] = execution_count.into();
        content["user_expressions"] = Value::Object(Map::new());
        content["payload"] = Value::Array(Vec::new());
    }
    Some(
        UnknownMessage {
            msg_type: format!("{base}_reply"),
            content,
        }
        .into(),
    )
}

/// The content of each request this kernel answers, with every field at its default.
fn request_defaults(msg_type: &str, content: &Value) -> Option<Value> {
    let defaults = match msg_type {
        "execute_request" => serde_json::to_value(ExecuteRequest::default()),
        "complete_request" => serde_json::to_value(CompleteRequest {
            code: String::new(),
            cursor_pos: content["code"].as_str().map_or(0, |c| c.chars().count()),
        }),
        "inspect_request" => serde_json::to_value(InspectRequest::default()),
        "is_complete_request" => serde_json::to_value(IsCompleteRequest::default()),
        "shutdown_request" => serde_json::to_value(ShutdownRequest::default()),
        "kernel_info_request" | "interrupt_request" | "comm_info_request" => {
            Ok(Value::Object(Map::new()))
        }
        _ => return None,
    };
    defaults.ok()
}

/// The received fields over the defaults, leaving out any whose JSON type is not the
/// default's (as `"silent": "yes"`).
fn overlay(defaults: Value, received: &Value) -> Value {
    let Value::Object(mut merged) = defaults else {
        return defaults;
    };
    if let Value::Object(fields) = received {
        for (key, value) in fields {
            let fits = merged
                .get(key)
                .is_none_or(|default| same_kind(default, value));
            if fits {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(merged)
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jupyter_protocol::{MediaType, Stdio};
    use serde_json::json;

    fn plain(text: &str) -> Media {
        Media::new(vec![MediaType::Plain(text.into())])
    }

    #[test]
    fn transient_and_user_expressions_are_objects() {
        let result = serde_json::to_value(execute_result(3, plain("42"))).unwrap();
        assert_eq!(result["transient"], json!({}));
        assert_eq!(result["execution_count"], 3);
        let shown = serde_json::to_value(display_data(plain("t"))).unwrap();
        assert_eq!(shown["transient"], json!({}));
        let ok = serde_json::to_value(execute_reply(1, Ok(Vec::new()))).unwrap();
        assert_eq!(
            ok,
            json!({ "status": "ok", "execution_count": 1, "payload": [], "user_expressions": {} })
        );
        let error = ErrorOutput {
            ename: "E".into(),
            evalue: "v".into(),
            traceback: vec!["t".into()],
        };
        let failed = serde_json::to_value(execute_reply(2, Err(error))).unwrap();
        assert_eq!(failed["status"], "error");
        assert_eq!(failed["evalue"], "v");
        assert_eq!(failed["user_expressions"], json!({}));
    }

    #[test]
    fn history_search_without_n_or_unique() {
        let request =
            json!({ "hist_access_type": "search", "pattern": "6*", "output": false, "raw": true });
        assert!(
            JupyterMessageContent::from_type_and_content("history_request", request.clone())
                .is_err(),
            "if jupyter-protocol reads this now, the workaround can go"
        );
        let (parsed, note) = content("history_request", request);
        assert!(note.is_none());
        let JupyterMessageContent::HistoryRequest(HistoryRequest::Search {
            pattern,
            unique,
            n,
            ..
        }) = parsed
        else {
            panic!("not a search")
        };
        assert_eq!((pattern.as_str(), unique, n), ("6*", false, i32::MAX));
        assert!(matches!(
            history_request(&json!({})),
            HistoryRequest::Tail { n: 10, .. }
        ));
    }

    #[test]
    fn requests_without_their_code_are_errors() {
        for (msg_type, content_json, says) in [
            (
                "execute_request",
                json!({ "silent": false }),
                "without `code`",
            ),
            ("execute_request", json!({ "code": 42 }), "not a string"),
            ("is_complete_request", json!({}), "without `code`"),
            (
                "complete_request",
                json!({ "code": "abc", "cursor_pos": 9 }),
                "not a position",
            ),
            (
                "inspect_request",
                json!({ "code": "abc", "cursor_pos": -1 }),
                "not a position",
            ),
        ] {
            let (parsed, note) = content(msg_type, content_json);
            assert!(
                matches!(parsed, JupyterMessageContent::UnknownMessage(_)),
                "{msg_type}"
            );
            let problem = note.expect("a note");
            assert!(problem.contains(says), "{problem}");
            let reply = serde_json::to_value(error_reply(msg_type, &problem, 3).unwrap()).unwrap();
            assert_eq!(reply["status"], "error");
        }
        let reply = error_reply("execute_request", "x", 3).unwrap();
        assert_eq!(reply.message_type(), "execute_reply");
        assert!(error_reply("comm_msg", "x", 3).is_none());
        // A cursor at the end is a position; one left out is read as the end (gap 4).
        assert!(
            malformed(
                "complete_request",
                &json!({ "code": "abc", "cursor_pos": 3 })
            )
            .is_none()
        );
        assert!(malformed("complete_request", &json!({ "code": "abc" })).is_none());
    }

    #[test]
    fn requests_missing_fields_are_read_with_defaults() {
        let (parsed, note) = content("execute_request", json!({ "code": "x", "silent": "no" }));
        assert!(note.is_some());
        let JupyterMessageContent::ExecuteRequest(execute) = parsed else {
            panic!("not an execute request")
        };
        assert_eq!(execute.code, "x");
        assert!(!execute.silent && execute.store_history);
        let (parsed, _) = content("complete_request", json!({ "code": "x = \"😀\" |> fil" }));
        let JupyterMessageContent::CompleteRequest(complete) = parsed else {
            panic!("not a complete request")
        };
        assert_eq!(complete.cursor_pos, 14);
        let (parsed, note) = content("comm_open", json!({}));
        assert!(matches!(parsed, JupyterMessageContent::UnknownMessage(_)) && note.is_some());
        let (parsed, note) = content("stream", json!({ "name": "stdout", "text": "hi" }));
        assert!(note.is_none());
        assert!(matches!(
            parsed,
            JupyterMessageContent::StreamContent(jupyter_protocol::StreamContent {
                name: Stdio::Stdout,
                ..
            })
        ));
    }
}
