//! Jupyter's wire format: `identities… <IDS|MSG> signature header parent metadata
//! content buffers…`, signed with HMAC-SHA256 over the four JSON frames as sent, to and
//! from jupyter-protocol's `JupyterMessage`.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use jupyter_protocol::{Header, JupyterMessage};
use serde_json::Value;
use sha2::Sha256;

use crate::protocol_gaps;

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Signs outgoing and checks incoming messages; an empty key means no signing.
#[derive(Clone)]
pub struct Signer {
    key: Option<Hmac<Sha256>>,
}

impl Signer {
    pub fn new(key: &str) -> Self {
        let key = (!key.is_empty())
            .then(|| Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok())
            .flatten();
        Signer { key }
    }

    fn mac(&self, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        let mut mac = self.key.clone()?;
        for part in parts {
            mac.update(part);
        }
        Some(mac)
    }

    pub fn sign(&self, parts: &[&[u8]]) -> String {
        self.mac(parts)
            .map_or_else(String::new, |m| hex::encode(m.finalize().into_bytes()))
    }

    /// Constant-time check of a received signature.
    pub fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(mac) => hex::decode(signature).is_ok_and(|s| mac.verify_slice(&s).is_ok()),
        }
    }
}

/// A message as received, and what about its content was not as expected (for the log;
/// see [`protocol_gaps::content`]).
pub struct Received {
    pub message: JupyterMessage,
    pub lenient: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum DecodeError {
    NoDelimiter,
    TooFewFrames,
    BadSignature,
    BadJson,
    BadHeader,
}

/// Splits and verifies the frames of a received multipart message (the signature over the
/// four JSON frames as received), then reads them into a `JupyterMessage`.
pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Received, DecodeError> {
    let split = frames
        .iter()
        .position(|f| f.as_ref() == DELIMITER)
        .ok_or(DecodeError::NoDelimiter)?;
    if frames.len() < split + 6 {
        return Err(DecodeError::TooFewFrames);
    }
    let parts: Vec<&[u8]> = frames[split + 2..split + 6]
        .iter()
        .map(|f| f.as_ref())
        .collect();
    if !signer.verify(&parts, &frames[split + 1]) {
        return Err(DecodeError::BadSignature);
    }
    let header: Header = serde_json::from_slice(parts[0]).map_err(|_| DecodeError::BadHeader)?;
    // Only replies need the parent; one that does not read is left out.
    let parent_header = jupyter_protocol::deserialize_parent_header(
        &mut serde_json::Deserializer::from_slice(parts[1]),
    )
    .unwrap_or(None);
    let json = |b: &[u8]| serde_json::from_slice::<Value>(b).map_err(|_| DecodeError::BadJson);
    let metadata = json(parts[2])?;
    let (content, lenient) = protocol_gaps::content(&header.msg_type, json(parts[3])?);
    let message = JupyterMessage {
        zmq_identities: frames[..split].to_vec(),
        header,
        parent_header,
        metadata,
        content,
        buffers: frames[split + 6..].to_vec(),
        channel: None,
    };
    Ok(Received { message, lenient })
}

/// A message's frames: `prefix` is the routing identities (shell, control) or the topic
/// (iopub). An absent parent is `{}`.
pub fn encode(prefix: Vec<Bytes>, message: &JupyterMessage, signer: &Signer) -> Vec<Bytes> {
    let parent_header = match &message.parent_header {
        Some(parent) => serde_json::to_vec(parent),
        None => Ok(b"{}".to_vec()),
    };
    let frames: [Vec<u8>; 4] = [
        serde_json::to_vec(&message.header).unwrap_or_default(),
        parent_header.unwrap_or_default(),
        serde_json::to_vec(&message.metadata).unwrap_or_default(),
        serde_json::to_vec(&message.content).unwrap_or_default(),
    ];
    let signature = signer.sign(&frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let mut out = prefix;
    out.push(Bytes::from_static(DELIMITER));
    out.push(Bytes::from(signature));
    out.extend(frames.into_iter().map(Bytes::from));
    out.extend(message.buffers.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_python_hmac() {
        // hmac.new(b"key", b"abc", hashlib.sha256).hexdigest()
        let signer = Signer::new("key");
        assert_eq!(
            signer.sign(&[b"a", b"bc"]),
            "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab"
        );
    }

    #[test]
    fn round_trip_and_tampering() {
        let signer = Signer::new("secret");
        let mut request = JupyterMessage::new(jupyter_protocol::KernelInfoRequest {}, None);
        request.zmq_identities = vec![Bytes::from_static(b"client")];
        let reply = JupyterMessage::new(jupyter_protocol::Status::idle(), Some(&request));
        let frames = encode(reply.zmq_identities.clone(), &reply, &signer);
        let received = decode(frames.clone(), &signer).unwrap();
        assert!(received.lenient.is_none());
        let message = received.message;
        assert_eq!(message.message_type(), "status");
        assert_eq!(message.zmq_identities, [Bytes::from_static(b"client")]);
        let parent = message.parent_header.expect("a parent header");
        assert_eq!(parent.msg_id, request.header.msg_id);
        let mut tampered = frames;
        let last = tampered.len() - 1;
        tampered[last] = Bytes::from_static(br#"{"execution_state": "busy"}"#);
        assert_eq!(
            decode(tampered, &signer).err(),
            Some(DecodeError::BadSignature)
        );
        assert_eq!(
            decode(vec![Bytes::from_static(b"x")], &signer).err(),
            Some(DecodeError::NoDelimiter)
        );
    }

    #[test]
    fn no_parent_is_an_empty_object() {
        let message = JupyterMessage::new(jupyter_protocol::Status::busy(), None);
        let frames = encode(vec![], &message, &Signer::new(""));
        assert_eq!(frames[3].as_ref(), b"{}");
        assert_eq!(frames[5].as_ref(), br#"{"execution_state":"busy"}"#);
    }
}
