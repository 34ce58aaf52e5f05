//! CSS2 time values for `<send delay>` and `delayexpr`: `"1s"`, `"500ms"`, `".5s"`.

/// Parses a CSS2 time value into milliseconds (rounded down). `None` if malformed.
pub fn parse_delay_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|&b| b == b'.').count() <= 1
        && number != ".";
    if !valid {
        return None;
    }
    let ms = number.parse::<f64>().ok()? * scale;
    (ms.is_finite() && ms < u64::MAX as f64).then_some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_delay_ms;

    #[test]
    fn css2_times() {
        assert_eq!(parse_delay_ms("1s"), Some(1000));
        assert_eq!(parse_delay_ms(" 500ms "), Some(500));
        assert_eq!(parse_delay_ms(".5s"), Some(500));
        assert_eq!(parse_delay_ms("1.5s"), Some(1500));
        assert_eq!(parse_delay_ms("0s"), Some(0));
        for bad in ["", "s", "1", "-1s", "1 s", "1.2.3s", ".s", "1m"] {
            assert_eq!(parse_delay_ms(bad), None, "{bad}");
        }
    }
}
