//! WXBizMsgCrypt-compatible callback crypto: the signature, AES-256-CBC, the plaintext layout.
//!
//! What WeCom's published libraries (and its docs' 加解密方案说明) do:
//!
//! - `EncodingAESKey` is 43 characters of base64; `AESKey = Base64_Decode(EncodingAESKey + "=")`,
//!   32 bytes. The IV is the key's first 16 bytes.
//! - The plaintext is `random(16) ‖ msg_len(4, big-endian) ‖ msg ‖ receive_id`, padded with
//!   PKCS#7 to a multiple of **32** bytes (pad values 1..=32), encrypted with AES-256-CBC and
//!   base64-encoded (`msg_encrypt`).
//! - The receive id is the corp id (企业 ID) for a self-built app's callbacks and the empty
//!   string for the AI bot (智能机器人: "企业内部智能机器人场景中,ReceiveId为\"\"").
//! - `msg_signature = hex(SHA1(concat(sort([token, timestamp, nonce, msg_encrypt]))))`.
//!
//! Every function here takes any input without panicking: a bad input is a [`CryptoError`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::Aes256;
use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The length of an `EncodingAESKey`.
pub const ENCODING_AES_KEY_LEN: usize = 43;
/// The block size WeCom pads the plaintext to (PKCS#7 with 32-byte blocks, not AES's 16).
pub const PAD_BLOCK: usize = 32;
/// How far a callback's `timestamp` may be from now, by default.
pub const DEFAULT_TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);

/// The random prefix and the length field before the message.
const HEADER: usize = 16 + 4;

/// Why a callback was refused, or a key not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The `EncodingAESKey` is not 43 base64 characters decoding to 32 bytes.
    #[error("the EncodingAESKey must be 43 characters of A-Z, a-z, 0-9 ({0})")]
    BadKey(&'static str),
    /// `msg_signature` does not match the token, timestamp, nonce and ciphertext.
    #[error("msg_signature does not match")]
    BadSignature,
    /// `timestamp` is not a number of seconds.
    #[error("timestamp is not a number of seconds")]
    BadTimestamp,
    /// `timestamp` is further from now than the window allows (a replay, or a wrong clock).
    #[error("timestamp is {skew_secs} s from now, more than the {window_secs} s allowed")]
    StaleTimestamp { skew_secs: u64, window_secs: u64 },
    /// The ciphertext is not base64.
    #[error("the ciphertext is not base64")]
    BadBase64,
    /// The ciphertext is not whole AES blocks, or too short to hold its header, or its length
    /// field points past its end.
    #[error("the ciphertext is truncated")]
    Truncated,
    /// The PKCS#7 padding (to 32-byte blocks) is malformed.
    #[error("bad padding")]
    BadPadding,
    /// The plaintext ends with another receive id (another corp, or an app's message sent to
    /// the AI bot's route).
    #[error("the message is for another receive id")]
    WrongReceiveId,
    /// The message is not UTF-8.
    #[error("the message is not UTF-8")]
    BadUtf8,
    /// The system's random number generator failed (encryption only).
    #[error("no random bytes: {0}")]
    Random(String),
}

/// Base64 as WeCom's libraries read it: standard alphabet, padding optional, and the unused
/// low bits of the last character allowed to be set (WeCom's random `EncodingAESKey`s have them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes an `EncodingAESKey` into the 32-byte AES key.
pub fn decode_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let key = encoding_aes_key.trim();
    if key.len() != ENCODING_AES_KEY_LEN {
        return Err(CryptoError::BadKey("wrong length"));
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CryptoError::BadKey("not alphanumeric"));
    }
    let bytes = LENIENT
        .decode(key)
        .map_err(|_| CryptoError::BadKey("not base64"))?;
    bytes
        .try_into()
        .map_err(|_| CryptoError::BadKey("not 32 bytes"))
}

/// The `msg_signature` of a callback or reply: hex SHA1 of the four strings, sorted and joined.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut sha1 = Sha1::new();
    for part in parts {
        sha1.update(part.as_bytes());
    }
    sha1.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The crypto of one callback URL: its token, its key and the receive id its messages carry.
///
/// `Debug` shows neither the token nor the key.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    receive_id: String,
    window: Duration,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("token", &"<set>")
            .field("key", &"<set>")
            .field("receive_id", &self.receive_id)
            .field("window", &self.window)
            .finish()
    }
}

impl MsgCrypt {
    /// The crypto for `token` and `encoding_aes_key`, expecting `receive_id` (the corp id for
    /// an app, `""` for the AI bot), with the [`DEFAULT_TIMESTAMP_WINDOW`].
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        receive_id: &str,
    ) -> Result<MsgCrypt, CryptoError> {
        Ok(MsgCrypt {
            token: token.to_owned(),
            key: decode_aes_key(encoding_aes_key)?,
            receive_id: receive_id.to_owned(),
            window: DEFAULT_TIMESTAMP_WINDOW,
        })
    }

    /// The same crypto, taking timestamps up to `window` away from now.
    pub fn with_window(mut self, window: Duration) -> MsgCrypt {
        self.window = window;
        self
    }

    /// The receive id the messages must end with.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The `msg_signature` for these parameters under this crypto's token.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` in constant time.
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        let given = msg_signature.trim().to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Checks that `timestamp` (seconds since the epoch) is within the window around `now`.
    pub fn check_timestamp(&self, timestamp: &str, now: SystemTime) -> Result<(), CryptoError> {
        let given: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| CryptoError::BadTimestamp)?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let skew = now.abs_diff(given);
        if skew > self.window.as_secs() {
            return Err(CryptoError::StaleTimestamp {
                skew_secs: skew,
                window_secs: self.window.as_secs(),
            });
        }
        Ok(())
    }

    /// Checks a callback: the signature first, then the timestamp. Decrypt only after this.
    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
        now: SystemTime,
    ) -> Result<(), CryptoError> {
        self.verify_signature(msg_signature, timestamp, nonce, encrypt)?;
        self.check_timestamp(timestamp, now)
    }

    /// [`verify`](Self::verify), then [`decrypt`](Self::decrypt): the checked plaintext.
    pub fn verify_and_decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
        now: SystemTime,
    ) -> Result<String, CryptoError> {
        self.verify(msg_signature, timestamp, nonce, encrypt, now)?;
        self.decrypt(encrypt)
    }

    /// Decrypts `msg_encrypt` into the message, checking padding, length and receive id.
    ///
    /// Does not check the signature (see [`verify`](Self::verify)). Takes any string.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let mut buf = general_purpose::STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::BadBase64)?;
        if buf.is_empty() || !buf.len().is_multiple_of(16) {
            return Err(CryptoError::Truncated);
        }
        let decryptor = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = decryptor
            .decrypt_padded::<NoPadding>(&mut buf)
            .map_err(|_| CryptoError::Truncated)?;
        let plain = unpad(plain)?;
        if plain.len() < HEADER {
            return Err(CryptoError::Truncated);
        }
        let len_field: [u8; 4] = plain[16..HEADER]
            .try_into()
            .map_err(|_| CryptoError::Truncated)?;
        let msg_len = u32::from_be_bytes(len_field) as usize;
        let rest = &plain[HEADER..];
        if msg_len > rest.len() {
            return Err(CryptoError::Truncated);
        }
        let (msg, receive_id) = rest.split_at(msg_len);
        if receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::WrongReceiveId);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadUtf8)
    }

    /// Encrypts `msg` with 16 fresh random bytes in front: `msg_encrypt`.
    pub fn encrypt(&self, msg: &str) -> Result<String, CryptoError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(self.encrypt_with_random(random, msg))
    }

    /// Encrypts `msg` with the given random prefix (for reproducible tests).
    pub fn encrypt_with_random(&self, random: [u8; 16], msg: &str) -> String {
        let msg = msg.as_bytes();
        let receive_id = self.receive_id.as_bytes();
        let len = HEADER + msg.len() + receive_id.len();
        let pad = PAD_BLOCK - len % PAD_BLOCK;
        let mut buf = Vec::with_capacity(len + pad);
        buf.extend_from_slice(&random);
        // A callback message never nears 4 GiB; saturate rather than wrap if one did.
        buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(receive_id);
        // `pad` is 1..=32, so it fits in a byte.
        buf.resize(len + pad, pad as u8);
        let total = buf.len();
        let encryptor = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let cipher = encryptor
            .encrypt_padded::<NoPadding>(&mut buf, total)
            .map(<[u8]>::to_vec)
            // Cannot fail: the buffer is whole 32-byte blocks.
            .unwrap_or_default();
        general_purpose::STANDARD.encode(cipher)
    }

    /// A passive reply for a self-built app's callback: `msg` (a reply XML) encrypted and
    /// signed, in `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
    pub fn encrypt_reply_xml(
        &self,
        msg: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, CryptoError> {
        let encrypt = self.encrypt(msg)?;
        let signature = self.signature(timestamp, nonce, &encrypt);
        Ok(format!(
            "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature><TimeStamp>{}</TimeStamp><Nonce><![CDATA[{}]]></Nonce></xml>",
            xml_text(timestamp),
            cdata(nonce),
        ))
    }

    /// A passive reply for the AI bot's callback: `msg` (a reply JSON) encrypted and signed,
    /// as `{"encrypt", "msgsignature", "timestamp", "nonce"}`, the timestamp a number of
    /// seconds as WeCom documents it (a timestamp that is not a number stays a string). WeCom
    /// wants the callback's own `nonce` here.
    pub fn encrypt_reply_json(
        &self,
        msg: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<String, CryptoError> {
        let encrypt = self.encrypt(msg)?;
        let signature = self.signature(timestamp, nonce, &encrypt);
        let timestamp = match timestamp.parse::<u64>() {
            Ok(secs) => serde_json::Value::from(secs),
            Err(_) => serde_json::Value::from(timestamp),
        };
        Ok(serde_json::json!({
            "encrypt": encrypt,
            "msgsignature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
        })
        .to_string())
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

/// Strips PKCS#7 padding to 32-byte blocks: the last byte `n` in 1..=32, the last `n` bytes all `n`.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::Truncated)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

/// `text` fit for a CDATA section: `]]>` split across two sections.
fn cdata(text: &str) -> String {
    text.replace("]]>", "]]]]><![CDATA[>")
}

/// `text` fit for XML character data.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
    const KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
    const CORP: &str = "ww1436e0e65a779aee";

    fn crypt() -> MsgCrypt {
        MsgCrypt::new(TOKEN, KEY, CORP).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_key_decodes_with_its_trailing_bits() {
        let key = decode_aes_key(KEY).unwrap();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "eaa91d32babaf274ca76ece72583b5037ed6da8120a64314be4b6d453a2a854b"
        );
        assert_eq!(
            decode_aes_key(&KEY[..42]),
            Err(CryptoError::BadKey("wrong length"))
        );
        assert_eq!(
            decode_aes_key(&format!("{}=", &KEY[..42])),
            Err(CryptoError::BadKey("not alphanumeric"))
        );
    }

    #[test]
    fn round_trip_with_an_empty_receive_id() {
        let aibot = MsgCrypt::new(TOKEN, KEY, "").unwrap();
        let encrypted = aibot.encrypt("{\"msgid\":\"1\"}").unwrap();
        assert_eq!(aibot.decrypt(&encrypted).unwrap(), "{\"msgid\":\"1\"}");
        // An app's message (ending with the corp id) is not the AI bot's, and the other way round.
        let for_app = crypt().encrypt("x").unwrap();
        assert_eq!(aibot.decrypt(&for_app), Err(CryptoError::WrongReceiveId));
        assert_eq!(
            crypt().decrypt(&encrypted),
            Err(CryptoError::WrongReceiveId)
        );
    }

    #[test]
    fn padding_fills_32_byte_blocks() {
        // 20 + 12 + 18 = 50 bytes → padded to 64 (pad 14); 20 + 26 + 18 = 64 → 96 (pad 32).
        for (msg, blocks) in [("a".repeat(12), 2), ("b".repeat(26), 3)] {
            let encrypted = crypt().encrypt_with_random([7; 16], &msg);
            let raw = general_purpose::STANDARD.decode(&encrypted).unwrap();
            assert_eq!(raw.len(), blocks * PAD_BLOCK, "{msg}");
            assert_eq!(crypt().decrypt(&encrypted).unwrap(), msg);
        }
    }

    #[test]
    fn timestamps_outside_the_window_are_stale() {
        let crypt = crypt().with_window(Duration::from_secs(300));
        assert!(crypt.check_timestamp("1000", at(1300)).is_ok());
        assert!(crypt.check_timestamp("1300", at(1000)).is_ok());
        assert_eq!(
            crypt.check_timestamp("1000", at(1301)),
            Err(CryptoError::StaleTimestamp {
                skew_secs: 301,
                window_secs: 300
            })
        );
        assert!(matches!(
            crypt.check_timestamp("1602", at(1301)),
            Err(CryptoError::StaleTimestamp { .. })
        ));
        assert_eq!(
            crypt.check_timestamp("12a", at(0)),
            Err(CryptoError::BadTimestamp)
        );
        assert_eq!(
            crypt.check_timestamp("-5", at(0)),
            Err(CryptoError::BadTimestamp)
        );
    }

    #[test]
    fn signatures_compare_case_insensitively_and_refuse_others() {
        let crypt = crypt();
        let sig = crypt.signature("1", "2", "abc");
        assert!(crypt.verify_signature(&sig, "1", "2", "abc").is_ok());
        assert!(
            crypt
                .verify_signature(&sig.to_uppercase(), "1", "2", "abc")
                .is_ok()
        );
        assert_eq!(
            crypt.verify_signature(&sig, "1", "2", "abd"),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            crypt.verify_signature(&sig[..39], "1", "2", "abc"),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            crypt.verify_signature("", "1", "2", "abc"),
            Err(CryptoError::BadSignature)
        );
    }

    /// Raw plaintext (already padded by the caller) encrypted under the key, base64.
    fn encrypt_raw(crypt: &MsgCrypt, mut plain: Vec<u8>) -> String {
        let len = plain.len();
        let encryptor = cbc::Encryptor::<Aes256>::new(&crypt.key.into(), &crypt.iv().into());
        let out = encryptor
            .encrypt_padded::<NoPadding>(&mut plain, len)
            .unwrap()
            .to_vec();
        general_purpose::STANDARD.encode(out)
    }

    #[test]
    fn malformed_ciphertexts_are_refused() {
        let crypt = crypt();
        assert_eq!(crypt.decrypt("not base64!"), Err(CryptoError::BadBase64));
        assert_eq!(crypt.decrypt(""), Err(CryptoError::Truncated));
        // 24 bytes: not whole AES blocks.
        let short = general_purpose::STANDARD.encode([0u8; 24]);
        assert_eq!(crypt.decrypt(&short), Err(CryptoError::Truncated));

        let good = crypt.encrypt("hello").unwrap();
        let raw = general_purpose::STANDARD.decode(&good).unwrap();
        let cut = general_purpose::STANDARD.encode(&raw[..raw.len() - 16]);
        assert!(matches!(
            crypt.decrypt(&cut),
            Err(CryptoError::BadPadding | CryptoError::Truncated)
        ));

        // Pad byte 0, pad byte 33, and inconsistent pad bytes.
        for last in [0u8, 33] {
            let mut plain = vec![1u8; 64];
            plain[63] = last;
            assert_eq!(
                crypt.decrypt(&encrypt_raw(&crypt, plain)),
                Err(CryptoError::BadPadding)
            );
        }
        let mut plain = vec![4u8; 64];
        plain[61] = 5;
        assert_eq!(
            crypt.decrypt(&encrypt_raw(&crypt, plain)),
            Err(CryptoError::BadPadding)
        );
        // A length field pointing past the end.
        let mut plain = vec![0u8; 64];
        plain[16..20].copy_from_slice(&1000u32.to_be_bytes());
        plain[63] = 1;
        assert_eq!(
            crypt.decrypt(&encrypt_raw(&crypt, plain)),
            Err(CryptoError::Truncated)
        );
        // Too short for the header after unpadding: 16 bytes and 16 bytes of padding.
        let mut plain = vec![16u8; 32];
        plain[..16].fill(0);
        assert_eq!(
            crypt.decrypt(&encrypt_raw(&crypt, plain)),
            Err(CryptoError::Truncated)
        );
        // Not UTF-8.
        let mut plain = Vec::new();
        plain.extend_from_slice(&[0u8; 16]);
        plain.extend_from_slice(&2u32.to_be_bytes());
        plain.extend_from_slice(&[0xff, 0xfe]);
        plain.extend_from_slice(CORP.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        assert_eq!(
            crypt.decrypt(&encrypt_raw(&crypt, plain)),
            Err(CryptoError::BadUtf8)
        );
    }

    #[test]
    fn any_bytes_are_refused_without_panicking() {
        let crypt = crypt();
        // A cheap deterministic generator: every length up to 200, assorted contents.
        let mut state: u32 = 0x9e37_79b9;
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state & 0xff) as u8
                })
                .collect();
            let as_text = String::from_utf8_lossy(&bytes);
            let _ = crypt.decrypt(&as_text);
            let _ = crypt.decrypt(&general_purpose::STANDARD.encode(&bytes));
            let _ = crypt.verify("x", &as_text, &as_text, &as_text, at(0));
        }
    }

    #[test]
    fn replies_are_signed_over_their_ciphertext() {
        let crypt = crypt();
        let xml = crypt
            .encrypt_reply_xml(
                "<xml><Content>好</Content></xml>",
                "1409659813",
                "1372623149",
            )
            .unwrap();
        let grab = |tag: &str| {
            let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
            let end = xml.find(&format!("</{tag}>")).unwrap();
            let inner = &xml[start..end];
            inner
                .strip_prefix("<![CDATA[")
                .and_then(|s| s.strip_suffix("]]>"))
                .unwrap_or(inner)
                .to_owned()
        };
        let encrypt = grab("Encrypt");
        assert_eq!(grab("TimeStamp"), "1409659813");
        assert_eq!(grab("Nonce"), "1372623149");
        assert_eq!(
            grab("MsgSignature"),
            signature(TOKEN, "1409659813", "1372623149", &encrypt)
        );
        assert_eq!(
            crypt.decrypt(&encrypt).unwrap(),
            "<xml><Content>好</Content></xml>"
        );

        let json: serde_json::Value =
            serde_json::from_str(&crypt.encrypt_reply_json("{}", "5", "6").unwrap()).unwrap();
        let encrypt = json["encrypt"].as_str().unwrap();
        assert_eq!(json["msgsignature"], signature(TOKEN, "5", "6", encrypt));
        assert_eq!(
            (&json["timestamp"], &json["nonce"]),
            (&serde_json::json!(5), &serde_json::json!("6"))
        );
        assert_eq!(crypt.decrypt(encrypt).unwrap(), "{}");
    }
}
