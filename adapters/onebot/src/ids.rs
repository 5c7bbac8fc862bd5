//! Ids as OneBot implementations send them: numbers or strings, sometimes either for one field.

use serde_json::Value;

/// The id in `value` as a string: a number as its decimal digits, a string trimmed.
/// `None` for anything else, or an empty string.
pub(crate) fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        _ => None,
    }
}

/// An id for an action's parameters: a JSON number when it is one (what the spec says and every
/// implementation accepts), else the string as it is.
pub(crate) fn id_param(id: &str) -> Value {
    if let Ok(n) = id.parse::<i64>() {
        Value::from(n)
    } else if let Ok(n) = id.parse::<u64>() {
        Value::from(n)
    } else {
        Value::from(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_come_as_numbers_or_strings() {
        assert_eq!(id_of(&json!(123456789)).as_deref(), Some("123456789"));
        assert_eq!(id_of(&json!(" 42 ")).as_deref(), Some("42"));
        assert_eq!(id_of(&json!("")), None);
        assert_eq!(id_of(&json!(null)), None);
        assert_eq!(id_of(&json!({"id": 1})), None);
    }

    #[test]
    fn params_are_numbers_when_they_can_be() {
        assert_eq!(id_param("987654321"), json!(987654321));
        assert_eq!(
            id_param("18446744073709551615"),
            json!(18446744073709551615u64)
        );
        assert_eq!(id_param("abc"), json!("abc"));
    }
}
