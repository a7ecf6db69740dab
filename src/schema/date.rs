//! Calendar dates as the definition format means them: ISO 8601 `YYYY-MM-DD` text in files
//! and in the store, a count of days since 1970-01-01 in expressions and analysis.
//!
//! Owns the one date value type: parsing and printing that text, and the day arithmetic
//! (delegated to chrono's proleptic Gregorian calendar). Capture, the store, analysis and
//! simulate all go through it. It knows nothing of questions, missing codes or where a date is
//! stored: checking an answer is capture's, the column's SQL `CHECK` is the store's.

use std::fmt;

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_FROM_CE: i64 = 719_163;

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(chrono::NaiveDate);

impl Date {
    /// Parses `YYYY-MM-DD` exactly: four year digits, two month digits, two day digits, and a
    /// day that exists (`2018-02-30` is no date). Anything else, spaces included, is `None`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> { b[r].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))) };
        Date::from_ymd(num(0..4)? as i32, num(5..7)?, num(8..10)?)
    }

    /// The date of a year, month (1-12) and day of the month, when it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        chrono::NaiveDate::from_ymd_opt(year, month, day).map(Date)
    }

    /// The date `days` days after 1970-01-01 (before it when negative), when the calendar
    /// reaches that far (a quarter of a million years either way).
    pub fn from_days(days: i64) -> Option<Date> {
        let ce = i32::try_from(days.checked_add(UNIX_EPOCH_FROM_CE)?).ok()?;
        chrono::NaiveDate::from_num_days_from_ce_opt(ce).map(Date)
    }

    /// Days since 1970-01-01 (negative before it): the number expressions compute with.
    pub fn days(self) -> i64 {
        i64::from(chrono::Datelike::num_days_from_ce(&self.0)) - UNIX_EPOCH_FROM_CE
    }

    /// The date `n` days later (earlier when negative), when the calendar reaches it.
    pub fn add_days(self, n: i64) -> Option<Date> {
        Date::from_days(self.days().checked_add(n)?)
    }

    /// The year.
    pub fn year(self) -> i32 {
        chrono::Datelike::year(&self.0)
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u32 {
        chrono::Datelike::month(&self.0)
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u32 {
        chrono::Datelike::day(&self.0)
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`, as [`Date::parse`] reads it back (for years 0 to 9999).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year(), self.month(), self.day())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(Date::parse("1970-01-01").map(Date::days), Some(0));
        assert_eq!(Date::parse("2018-05-31").map(Date::days), Some(17682));
        assert_eq!(Date::parse("1969-12-31").map(Date::days), Some(-1));
        assert_eq!(Date::parse("2000-03-01").map(Date::days), Some(11017));
        assert_eq!(Date::parse("0000-01-01").map(Date::days), Some(-719_528));
        assert_eq!(Date::from_ymd(2015, 3, 1).map(Date::days), Some(16495));
    }

    #[test]
    fn days_that_do_not_exist_are_no_dates() {
        for s in ["2018-02-30", "2019-02-29", "1900-02-29", "2018-13-01", "2018-00-10", "2018-04-31", "2018-01-00"] {
            assert_eq!(Date::parse(s), None, "{s}");
        }
        assert!(Date::parse("2000-02-29").is_some());
        assert!(Date::parse("2024-02-29").is_some());
    }

    #[test]
    fn only_the_iso_form_is_read() {
        for s in [
            "31/05/2018",
            "2018-5-31",
            "2018-05-31 ",
            " 2018-05-31",
            "20180531",
            "2018/05/31",
            "",
            "2018-05-3x",
            "2018-05-31T00",
        ] {
            assert_eq!(Date::parse(s), None, "{s:?}");
        }
    }

    /// A year written with a sign used to pass (`"+201"` parses as a number) and then fail the
    /// column's `CHECK (date(x) IS x)` with a database error instead of an answer problem.
    #[test]
    fn a_signed_year_is_not_a_date() {
        for s in ["+201-05-31", "-001-01-01", "+2018-5-31", "2018-+5-31", "2018-05-+1"] {
            assert_eq!(Date::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn every_day_prints_and_parses_back_to_itself() {
        // 1600-01-01 to 2400-12-31: four leap-year cycles of 400 years either side of now
        let (lo, hi) = (Date::parse("1600-01-01").unwrap().days(), Date::parse("2400-12-31").unwrap().days());
        let mut prev: Option<Date> = None;
        for n in lo..=hi {
            let d = Date::from_days(n).expect("in range");
            assert_eq!(d.days(), n);
            let text = d.to_string();
            assert_eq!(Date::parse(&text), Some(d), "{text}");
            if let Some(p) = prev {
                assert!(p < d && p.add_days(1) == Some(d), "{p} then {d}");
            }
            prev = Some(d);
        }
    }

    #[test]
    fn out_of_the_calendar_is_none() {
        assert_eq!(Date::from_days(i64::MAX), None);
        assert_eq!(Date::from_days(i64::MIN), None);
        assert_eq!(Date::from_days(1 << 40), None);
        assert_eq!(Date::parse("2018-05-31").unwrap().add_days(i64::MAX), None);
        assert_eq!(Date::from_ymd(300_000, 1, 1), None);
    }
}
