//! The webhook's signatures: Ed25519 with a key derived from the bot secret.
//!
//! The platform signs `X-Signature-Timestamp` + raw body and sends the signature hex-encoded in
//! `X-Signature-Ed25519`; the bot signs `event_ts` + `plain_token` to answer the callback
//! validation (op 13). Both sides derive the same key pair from the bot secret: the secret
//! repeated until it is at least 32 bytes long, its first 32 bytes taken as the Ed25519 seed.

use std::fmt;

use ed25519_dalek::{SIGNATURE_LENGTH, Signature, Signer, SigningKey, VerifyingKey};

/// The key pair of a bot secret. Holds the secret's seed: never printed.
pub(crate) struct Keys {
    signing: SigningKey,
    verifying: VerifyingKey,
}

impl Keys {
    pub(crate) fn from_secret(secret: &str) -> Keys {
        let signing = SigningKey::from_bytes(&seed(secret));
        let verifying = signing.verifying_key();
        Keys { signing, verifying }
    }

    /// The hex signature of `message`.
    pub(crate) fn sign_hex(&self, message: &[u8]) -> String {
        encode_hex(&self.signing.sign(message).to_bytes())
    }

    /// Checks the platform's signature `signature_hex` of `timestamp` + `body`.
    pub(crate) fn verify(
        &self,
        timestamp: &str,
        body: &[u8],
        signature_hex: &str,
    ) -> Result<(), BadSignature> {
        let bytes = decode_hex(signature_hex.trim()).ok_or(BadSignature::NotHex)?;
        let bytes: [u8; SIGNATURE_LENGTH] =
            bytes.try_into().map_err(|_| BadSignature::WrongLength)?;
        // The platform's own check: the top three bits of the last byte must be clear.
        if bytes[SIGNATURE_LENGTH - 1] & 0b1110_0000 != 0 {
            return Err(BadSignature::Malformed);
        }
        let signature = Signature::from_bytes(&bytes);
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.verifying
            .verify_strict(&message, &signature)
            .map_err(|_| BadSignature::Mismatch)
    }

    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("public_key", &encode_hex(&self.public_key()))
            .finish_non_exhaustive()
    }
}

/// Why a signature was refused, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadSignature {
    NotHex,
    WrongLength,
    Malformed,
    Mismatch,
}

impl fmt::Display for BadSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadSignature::NotHex => "the signature is not hex",
            BadSignature::WrongLength => "the signature is not 64 bytes",
            BadSignature::Malformed => "the signature is malformed",
            BadSignature::Mismatch => "the signature does not match",
        })
    }
}

/// The Ed25519 seed of a bot secret: the secret repeated until at least 32 bytes, cut to 32.
pub(crate) fn seed(secret: &str) -> [u8; 32] {
    let mut seed = [0u8; 32];
    if secret.is_empty() {
        return seed;
    }
    for (slot, byte) in seed.iter_mut().zip(secret.as_bytes().iter().cycle()) {
        *slot = *byte;
    }
    seed
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

pub(crate) fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_repeats_the_secret() {
        assert_eq!(
            &seed("naOC0ocQE3shWLAfffVLB1rhYPG7"),
            b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
        );
        assert_eq!(&seed("abc"), b"abcabcabcabcabcabcabcabcabcabcab");
        let long = "0123456789abcdefghijklmnopqrstuvwxyz";
        assert_eq!(&seed(long), &long.as_bytes()[..32]);
    }

    /// sign.md's seed example and event-emit.md's op 13 example (the published vectors).
    #[test]
    fn the_published_vectors() {
        let keys = Keys::from_secret("naOC0ocQE3shWLAfffVLB1rhYPG7");
        assert_eq!(
            keys.public_key(),
            [
                215, 195, 98, 254, 120, 174, 248, 31, 242, 50, 135, 180, 147, 98, 139, 93, 176, 42,
                60, 79, 227, 11, 33, 94, 77, 25, 96, 155, 93, 118, 103, 58
            ]
        );
        let keys = Keys::from_secret("DG5g3B4j9X2KOErG");
        assert_eq!(
            keys.sign_hex(b"1725442341Arq0D5A61EgUu4OxUvOp"),
            "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d01bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
        );
    }

    #[test]
    fn bad_signatures_are_told_apart() {
        let keys = Keys::from_secret("DG5g3B4j9X2KOErG");
        let good = keys.sign_hex(b"1725442341{}");
        assert_eq!(keys.verify("1725442341", b"{}", &good), Ok(()));
        assert_eq!(
            keys.verify("1725442341", b"{}", &good.to_uppercase()),
            Ok(())
        );
        assert_eq!(
            keys.verify("1725442342", b"{}", &good),
            Err(BadSignature::Mismatch)
        );
        assert_eq!(
            keys.verify("1725442341", b"{ }", &good),
            Err(BadSignature::Mismatch)
        );
        assert_eq!(keys.verify("1", b"{}", "zz"), Err(BadSignature::NotHex));
        assert_eq!(
            keys.verify("1", b"{}", &good[..64]),
            Err(BadSignature::WrongLength)
        );
        let mut high = decode_hex(&good).unwrap();
        high[63] |= 0x80;
        assert_eq!(
            keys.verify("1725442341", b"{}", &encode_hex(&high)),
            Err(BadSignature::Malformed)
        );
        let other = Keys::from_secret("another-secret");
        assert_eq!(
            other.verify("1725442341", b"{}", &good),
            Err(BadSignature::Mismatch)
        );
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let printed = format!("{:?}", Keys::from_secret("DG5g3B4j9X2KOErG"));
        assert!(
            printed.contains("8b28ded5630f9051c205dd04c6ec56ad0b08b8812b2fe30ee9aece0ab41926f3")
        );
        assert!(!printed.contains("DG5g"), "{printed}");
    }
}
