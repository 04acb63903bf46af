//! Jupyter's wire format: `identities… <IDS|MSG> signature header parent metadata
//! content buffers…`, signed with HMAC-SHA256 over the four JSON frames as sent.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

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

/// A message as received: routing identities and the four parsed frames.
#[derive(Clone, Debug)]
pub struct Message {
    pub identities: Vec<Bytes>,
    pub header: Value,
    pub parent_header: Value,
    pub metadata: Value,
    pub content: Value,
}

impl Message {
    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }
}

#[derive(Debug, PartialEq)]
pub enum DecodeError {
    NoDelimiter,
    TooFewFrames,
    BadSignature,
    BadJson,
}

/// Splits, verifies and parses the frames of a received multipart message.
pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Message, DecodeError> {
    let split = frames
        .iter()
        .position(|f| f.as_ref() == DELIMITER)
        .ok_or(DecodeError::NoDelimiter)?;
    if frames.len() < split + 6 {
        return Err(DecodeError::TooFewFrames);
    }
    let signature = &frames[split + 1];
    let parts: Vec<&[u8]> = frames[split + 2..split + 6]
        .iter()
        .map(|f| f.as_ref())
        .collect();
    if !signer.verify(&parts, signature) {
        return Err(DecodeError::BadSignature);
    }
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).map_err(|_| DecodeError::BadJson);
    Ok(Message {
        identities: frames[..split].to_vec(),
        header: parse(parts[0])?,
        parent_header: parse(parts[1])?,
        metadata: parse(parts[2])?,
        content: parse(parts[3])?,
    })
}

/// A new message's frames: `prefix` is the routing identities (shell, control) or the
/// topic (iopub).
pub fn encode(
    prefix: Vec<Bytes>,
    session: &str,
    msg_type: &str,
    parent: Option<&Message>,
    content: &Value,
    signer: &Signer,
) -> Vec<Bytes> {
    let header = json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "username": "spel",
        "session": session,
        "date": chrono::Utc::now().to_rfc3339(),
        "msg_type": msg_type,
        "version": "5.3",
    });
    let parent_header = parent.map_or_else(|| json!({}), |p| p.header.clone());
    let frames: [Vec<u8>; 4] = [
        serde_json::to_vec(&header).unwrap_or_default(),
        serde_json::to_vec(&parent_header).unwrap_or_default(),
        b"{}".to_vec(),
        serde_json::to_vec(content).unwrap_or_default(),
    ];
    let signature = signer.sign(&frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let mut out = prefix;
    out.push(Bytes::from_static(DELIMITER));
    out.push(Bytes::from(signature));
    out.extend(frames.into_iter().map(Bytes::from));
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
        let frames = encode(
            vec![Bytes::from_static(b"client")],
            "s",
            "status",
            None,
            &json!({"execution_state": "idle"}),
            &signer,
        );
        let message = decode(frames.clone(), &signer).unwrap();
        assert_eq!(message.msg_type(), "status");
        assert_eq!(message.identities, vec![Bytes::from_static(b"client")]);
        let mut tampered = frames;
        let last = tampered.len() - 1;
        tampered[last] = Bytes::from_static(br#"{"execution_state": "busy"}"#);
        assert_eq!(
            decode(tampered, &signer).unwrap_err(),
            DecodeError::BadSignature
        );
        assert_eq!(
            decode(vec![Bytes::from_static(b"x")], &signer).unwrap_err(),
            DecodeError::NoDelimiter
        );
    }
}
