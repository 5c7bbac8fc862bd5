//! Who may talk to the adapter: the access token and the HTTP POST signature.
//!
//! Secrets are compared in constant time and never logged.

use axum::http::{HeaderMap, StatusCode, header};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Checks the access token of a request: `Authorization: Bearer T`, `Authorization: Token T`
/// (go-cqhttp) or `?access_token=T`. With no token configured everyone is let in.
///
/// Missing → 401, present but wrong (or an unknown scheme) → 403.
pub(crate) fn check_token(
    expected: Option<&str>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), StatusCode> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let from_header = headers.get(header::AUTHORIZATION).map(|value| {
        let value = value.to_str().unwrap_or("").trim();
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
        known.then(|| token.trim().to_owned())
    });
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "access_token")
            .map(|(_, value)| Some(value.into_owned()))
    });
    match from_header.or(from_query) {
        None => Err(StatusCode::UNAUTHORIZED),
        Some(Some(given)) if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        Some(_) => Err(StatusCode::FORBIDDEN),
    }
}

/// Checks `X-Signature: sha1=HEX`, the HMAC-SHA1 of the raw body keyed by `secret`.
///
/// Missing → 401, malformed or wrong → 403.
pub(crate) fn check_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), StatusCode> {
    let value = headers
        .get("x-signature")
        .ok_or(StatusCode::UNAUTHORIZED)?
        .to_str()
        .map_err(|_| StatusCode::FORBIDDEN)?
        .trim();
    let hex = value.strip_prefix("sha1=").ok_or(StatusCode::FORBIDDEN)?;
    let given = decode_hex(hex).ok_or(StatusCode::FORBIDDEN)?;
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| StatusCode::FORBIDDEN)?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| StatusCode::FORBIDDEN)
}

/// The `X-Signature` value for `body`: what an implementation sends.
#[cfg(test)]
fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha1={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
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
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn token_forms() {
        let t = Some("s3cret");
        let none = HeaderMap::new();
        assert_eq!(check_token(None, &none, None), Ok(()));
        assert_eq!(check_token(t, &none, None), Err(StatusCode::UNAUTHORIZED));
        assert_eq!(
            check_token(t, &none, Some("x=1")),
            Err(StatusCode::UNAUTHORIZED)
        );
        for value in ["Bearer s3cret", "Token s3cret", "bearer  s3cret "] {
            assert_eq!(
                check_token(t, &headers(&[("authorization", value)]), None),
                Ok(())
            );
        }
        for value in ["Bearer wrong", "Basic s3cret", "s3cret", "Bearer "] {
            assert_eq!(
                check_token(t, &headers(&[("authorization", value)]), None),
                Err(StatusCode::FORBIDDEN),
                "{value}"
            );
        }
        assert_eq!(
            check_token(t, &none, Some("a=1&access_token=s3cret")),
            Ok(())
        );
        assert_eq!(check_token(t, &none, Some("access_token=s3cre%74")), Ok(()));
        assert_eq!(
            check_token(t, &none, Some("access_token=nope")),
            Err(StatusCode::FORBIDDEN)
        );
        // A wrong header is not rescued by a right query.
        assert_eq!(
            check_token(
                t,
                &headers(&[("authorization", "Bearer no")]),
                Some("access_token=s3cret")
            ),
            Err(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn signatures() {
        let body = br#"{"post_type":"message"}"#;
        let good = signature("key", body);
        assert_eq!(good.len(), "sha1=".len() + 40);
        assert_eq!(
            check_signature("key", &headers(&[("x-signature", &good)]), body),
            Ok(())
        );
        let upper = format!("sha1={}", good[5..].to_uppercase());
        assert_eq!(
            check_signature("key", &headers(&[("x-signature", &upper)]), body),
            Ok(())
        );
        assert_eq!(
            check_signature("key", &HeaderMap::new(), body),
            Err(StatusCode::UNAUTHORIZED)
        );
        for bad in [
            signature("other", body),
            signature("key", b"{}"),
            "sha1=zz".into(),
            good[5..].to_owned(),
        ] {
            assert_eq!(
                check_signature("key", &headers(&[("x-signature", &bad)]), body),
                Err(StatusCode::FORBIDDEN),
                "{bad}"
            );
        }
    }

    #[test]
    fn known_hmac_sha1_vector() {
        // RFC 2202 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
