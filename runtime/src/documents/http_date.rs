//! HTTP dates (RFC 9110 §5.6.7), the IMF-fixdate form only: `Sun, 06 Nov 1994 08:49:37 GMT`.
//! Servers must send that form; the two obsolete ones parse as `None`, which the caching
//! rules treat as "already expired", the safe reading.

/// Seconds since the Unix epoch of an IMF-fixdate, or `None` when `text` is not one.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let (_weekday, rest) = text.split_once(", ")?;
    let mut fields = rest.split(' ');
    let day: u32 = number(fields.next()?, 2)?;
    let month = month(fields.next()?)?;
    let year: u32 = number(fields.next()?, 4)?;
    let time = fields.next()?;
    if fields.next()? != "GMT" || fields.next().is_some() {
        return None;
    }
    let mut clock = time.split(':');
    let hour: u32 = number(clock.next()?, 2)?;
    let minute: u32 = number(clock.next()?, 2)?;
    let second: u32 = number(clock.next()?, 2)?;
    let valid = (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 61;
    if !valid || clock.next().is_some() || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + u64::from(hour * 3_600 + minute * 60 + second))
}

fn number(text: &str, digits: usize) -> Option<u32> {
    let all_digits = text.len() == digits && text.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| text.parse().ok())?
}

fn month(text: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|name| *name == text)?;
    u32::try_from(index + 1).ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year ≥ 1970), after
/// Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    assert!((1..=12).contains(&month));
    let year = u64::from(if month <= 2 { year - 1 } else { year });
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month = u64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + u64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_imf_fixdate() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "0",
            "-1",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
