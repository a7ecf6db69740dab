//! Typed geography codes and the small value types of the geography module.
//!
//! This file owns the types that are valid by construction: GSS codes for LSOAs
//! ([`LsoaCode`]), Scottish data zones ([`DataZoneCode`]), wards ([`WardCode`]) and local
//! authority districts ([`LadCode`]); the union of small-area codes an index is keyed by
//! ([`AreaCode`]); UK postcodes normalised for case and spacing ([`Postcode`]); deprivation
//! deciles and quintiles ([`ImdDecile`], [`ImdQuintile`]); and the vintage enums
//! ([`IndexKind`], [`LsoaVintage`], [`Nation`]). Every constructor checks its input and
//! returns a [`CodeError`] saying what was expected; nothing here panics on user data.

use std::fmt;
use std::str::FromStr;

/// A UK nation, as given by the first letter of a GSS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nation {
    /// `E` codes.
    England,
    /// `W` codes.
    Wales,
    /// `S` codes.
    Scotland,
    /// `N` codes.
    NorthernIreland,
}

impl Nation {
    fn from_letter(b: u8) -> Option<Nation> {
        match b {
            b'E' => Some(Nation::England),
            b'W' => Some(Nation::Wales),
            b'S' => Some(Nation::Scotland),
            b'N' => Some(Nation::NorthernIreland),
            _ => None,
        }
    }

    /// The nation's name as used in messages (`England`, `Wales`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Nation::England => "England",
            Nation::Wales => "Wales",
            Nation::Scotland => "Scotland",
            Nation::NorthernIreland => "Northern Ireland",
        }
    }
}

impl fmt::Display for Nation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A code or postcode that failed its constructor's check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what} (expected {expected})")]
pub struct CodeError {
    /// What was being parsed, e.g. `LSOA code`.
    pub what: &'static str,
    /// The offending text (cut to 60 characters).
    pub value: String,
    /// What a valid value looks like, e.g. `E01 or W01 followed by 6 digits`.
    pub expected: &'static str,
}

impl CodeError {
    fn new(what: &'static str, value: &str, expected: &'static str) -> CodeError {
        CodeError {
            what,
            value: value.chars().take(60).collect(),
            expected,
        }
    }
}

/// Checks a 9-character GSS code against a list of 3-character prefixes (case-insensitive,
/// surrounding white space ignored) and returns it upper-cased.
fn parse_gss(s: &str, prefixes: &[&[u8; 3]]) -> Option<[u8; 9]> {
    let b = s.trim().as_bytes();
    if b.len() != 9 {
        return None;
    }
    let mut out = [0u8; 9];
    for (o, c) in out.iter_mut().zip(b) {
        *o = c.to_ascii_uppercase();
    }
    if !prefixes.iter().any(|p| out[..3] == p[..]) {
        return None;
    }
    if !out[3..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(out)
}

/// The numeric part of a GSS code (the last 6 digits).
fn gss_number(b: &[u8; 9]) -> u32 {
    b[3..].iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
}

macro_rules! gss_code {
    ($(#[$doc:meta])* $name:ident, $what:expr, $expected:expr, [$($prefix:expr),+]) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 9]);

        impl $name {
            /// The prefixes a valid code starts with.
            pub const PREFIXES: &'static [&'static [u8; 3]] = &[$($prefix),+];

            /// Parses and checks a code (case-insensitive; surrounding spaces ignored).
            pub fn new(s: &str) -> Result<Self, CodeError> {
                parse_gss(s, Self::PREFIXES)
                    .map($name)
                    .ok_or_else(|| CodeError::new($what, s, $expected))
            }

            /// The code as text, upper case, e.g. `E01012571`.
            pub fn as_str(&self) -> &str {
                // Only ASCII letters and digits are ever stored.
                std::str::from_utf8(&self.0).unwrap_or("")
            }

            /// The nation the code belongs to.
            pub fn nation(&self) -> Nation {
                Nation::from_letter(self.0[0]).unwrap_or(Nation::England)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CodeError;
            fn from_str(s: &str) -> Result<Self, CodeError> {
                Self::new(s)
            }
        }
    };
}

gss_code!(
    /// A Lower Layer Super Output Area code: `E01` (England) or `W01` (Wales) and 6 digits.
    /// The same code type serves LSOA 2011 and LSOA 2021 (most codes exist in both).
    LsoaCode,
    "LSOA code",
    "E01 or W01 followed by 6 digits",
    [b"E01", b"W01"]
);

gss_code!(
    /// A Scottish Data Zone code: `S01` and 6 digits.
    DataZoneCode,
    "data zone code",
    "S01 followed by 6 digits",
    [b"S01"]
);

gss_code!(
    /// An electoral ward code: `E05`, `W05`, `S13` or `N08` and 6 digits.
    WardCode,
    "ward code",
    "E05, W05, S13 or N08 followed by 6 digits",
    [b"E05", b"W05", b"S13", b"N08"]
);

gss_code!(
    /// A local authority district code: `E06`, `E07`, `E08`, `E09`, `W06`, `S12` or `N09`
    /// and 6 digits.
    LadCode,
    "local authority district code",
    "E06, E07, E08, E09, W06, S12 or N09 followed by 6 digits",
    [b"E06", b"E07", b"E08", b"E09", b"W06", b"S12", b"N09"]
);

/// The highest English LSOA 2011 code. Every English LSOA code above it was created for
/// the 2021 boundaries (checked: the 1,945 LSOA 2021 codes of IoD2025 that are not in
/// IoD2019 run from `E01033769` to `E01035762`).
pub const LAST_ENGLISH_LSOA11: u32 = 33_768;
/// The highest Welsh LSOA 2011 code number (`W01001958`, from the ONS 2011 lookup).
pub const LAST_WELSH_LSOA11: u32 = 1_958;

impl LsoaCode {
    /// True when the code cannot be an LSOA 2011 code because it was numbered after the
    /// last 2011 code of its nation (`E01033768`, `W01001958`), i.e. an LSOA 2021-only
    /// code. Codes of 2011 LSOAs that were retired in 2021 are not detected here.
    pub fn is_2021_only(&self) -> bool {
        let n = gss_number(&self.0);
        match self.nation() {
            Nation::Wales => n > LAST_WELSH_LSOA11,
            _ => n > LAST_ENGLISH_LSOA11,
        }
    }
}

/// A small-area code an index is keyed by: an LSOA (England, Wales) or a data zone
/// (Scotland).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AreaCode {
    /// An English or Welsh LSOA.
    Lsoa(LsoaCode),
    /// A Scottish data zone.
    DataZone(DataZoneCode),
}

impl AreaCode {
    /// Parses an LSOA (`E01`/`W01`) or data zone (`S01`) code.
    pub fn new(s: &str) -> Result<AreaCode, CodeError> {
        if let Ok(l) = LsoaCode::new(s) {
            return Ok(AreaCode::Lsoa(l));
        }
        DataZoneCode::new(s)
            .map(AreaCode::DataZone)
            .map_err(|_| CodeError::new("LSOA code", s, "E01, W01 or S01 followed by 6 digits"))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        match self {
            AreaCode::Lsoa(c) => c.as_str(),
            AreaCode::DataZone(c) => c.as_str(),
        }
    }

    /// The nation the area is in.
    pub fn nation(&self) -> Nation {
        match self {
            AreaCode::Lsoa(c) => c.nation(),
            AreaCode::DataZone(_) => Nation::Scotland,
        }
    }

    /// The LSOA code, if this is an LSOA.
    pub fn lsoa(&self) -> Option<LsoaCode> {
        match self {
            AreaCode::Lsoa(c) => Some(*c),
            AreaCode::DataZone(_) => None,
        }
    }

    /// True for an LSOA 2021-only code (see [`LsoaCode::is_2021_only`]).
    pub fn is_2021_only(&self) -> bool {
        self.lsoa().is_some_and(|c| c.is_2021_only())
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AreaCode({})", self.as_str())
    }
}

impl FromStr for AreaCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        Self::new(s)
    }
}

/// A UK postcode, normalised: upper case, one space before the 3-character inward code
/// (`pr1 2he`, `PR12HE` and `PR1  2HE` all become `PR1 2HE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode {
    buf: [u8; 8],
    len: u8,
}

const POSTCODE_EXPECTED: &str = "an outward code of 2 to 4 letters and digits starting with a letter, then a digit and two letters, e.g. PR1 2HE";

impl Postcode {
    /// Parses a postcode with any case and spacing.
    pub fn new(s: &str) -> Result<Postcode, CodeError> {
        Self::from_bytes(s.as_bytes()).ok_or_else(|| CodeError::new("postcode", s, POSTCODE_EXPECTED))
    }

    /// As [`Postcode::new`], from bytes, without building an error (fast path for large
    /// postcode directories).
    pub fn from_bytes(s: &[u8]) -> Option<Postcode> {
        let mut compact = [0u8; 7];
        let mut n = 0usize;
        for &c in s {
            if c.is_ascii_whitespace() {
                continue;
            }
            if !c.is_ascii_alphanumeric() || n == 7 {
                return None;
            }
            compact[n] = c.to_ascii_uppercase();
            n += 1;
        }
        if n < 5 {
            return None;
        }
        let (out, inw) = compact[..n].split_at(n - 3);
        if !out[0].is_ascii_alphabetic() || !inw[0].is_ascii_digit() || !inw[1].is_ascii_alphabetic() || !inw[2].is_ascii_alphabetic() {
            return None;
        }
        let mut buf = [0u8; 8];
        buf[..out.len()].copy_from_slice(out);
        buf[out.len()] = b' ';
        buf[out.len() + 1..n + 1].copy_from_slice(inw);
        Some(Postcode { buf, len: (n + 1) as u8 })
    }

    /// The normalised postcode, e.g. `PR1 2HE`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    /// The outward code, e.g. `PR1`.
    pub fn outward(&self) -> &str {
        let s = self.as_str();
        s.split(' ').next().unwrap_or(s)
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postcode({})", self.as_str())
    }
}

impl FromStr for Postcode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        Self::new(s)
    }
}

/// A deprivation decile, 1..=10. Decile 1 is the most deprived 10%.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImdDecile(u8);

impl ImdDecile {
    /// A decile, if `d` is in 1..=10.
    pub fn new(d: u8) -> Option<ImdDecile> {
        (1..=10).contains(&d).then_some(ImdDecile(d))
    }

    /// `ceil(rank × 10 / n)`: the rule of the English indices (IoD2019, IoD2025), which
    /// holds with 0 exceptions in both published files. `None` unless `1 <= rank <= n`.
    pub fn from_rank_ceil(rank: u32, n: u32) -> Option<ImdDecile> {
        if rank == 0 || rank > n {
            return None;
        }
        let d = (u64::from(rank) * 10).div_ceil(u64::from(n));
        ImdDecile::new(d as u8)
    }

    /// `floor((rank − 1) × 10 / n) + 1`: the rule of WIMD 2019 and SIMD 2020 (0 exceptions
    /// in both files; it differs from the English rule at the 9 boundary ranks where
    /// `rank × 10 / n` is just above a whole number). `None` unless `1 <= rank <= n`.
    pub fn from_rank_floor(rank: u32, n: u32) -> Option<ImdDecile> {
        if rank == 0 || rank > n {
            return None;
        }
        let d = (u64::from(rank - 1) * 10) / u64::from(n) + 1;
        ImdDecile::new(d as u8)
    }

    /// The decile number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The quintile, `ceil(decile / 2)`: deciles 1–2 are quintile 1 (most deprived).
    pub fn quintile(self) -> ImdQuintile {
        ImdQuintile(self.0.div_ceil(2))
    }
}

impl fmt::Display for ImdDecile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A deprivation quintile, 1..=5 (1 = most deprived 20%), derived from a decile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImdQuintile(u8);

impl ImdQuintile {
    /// A quintile, if `q` is in 1..=5.
    pub fn new(q: u8) -> Option<ImdQuintile> {
        (1..=5).contains(&q).then_some(ImdQuintile(q))
    }

    /// The quintile number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ImdQuintile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The LSOA boundaries a file or index is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LsoaVintage {
    /// 2011 boundaries (IoD2019, WIMD 2019; for SIMD 2020, data zones 2011).
    Lsoa2011,
    /// 2021 boundaries (IoD2025).
    Lsoa2021,
}

impl LsoaVintage {
    /// `LSOA2011` or `LSOA2021`.
    pub fn label(self) -> &'static str {
        match self {
            LsoaVintage::Lsoa2011 => "LSOA2011",
            LsoaVintage::Lsoa2021 => "LSOA2021",
        }
    }
}

impl fmt::Display for LsoaVintage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Which deprivation index (and so which nation, vintage and area count) a table holds.
/// Ranks of different indices are not comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexKind {
    /// English Index of Multiple Deprivation 2019, 32,844 LSOAs (2011).
    Imd2019,
    /// English Index of Multiple Deprivation 2025, 33,755 LSOAs (2021).
    Imd2025,
    /// Welsh Index of Multiple Deprivation 2019, 1,909 LSOAs (2011).
    Wimd2019,
    /// Scottish Index of Multiple Deprivation 2020, 6,976 data zones (2011).
    Simd2020,
}

impl IndexKind {
    /// `IMD2019`, `IMD2025`, `WIMD2019` or `SIMD2020`.
    pub fn label(self) -> &'static str {
        match self {
            IndexKind::Imd2019 => "IMD2019",
            IndexKind::Imd2025 => "IMD2025",
            IndexKind::Wimd2019 => "WIMD2019",
            IndexKind::Simd2020 => "SIMD2020",
        }
    }

    /// The nation the index covers.
    pub fn nation(self) -> Nation {
        match self {
            IndexKind::Imd2019 | IndexKind::Imd2025 => Nation::England,
            IndexKind::Wimd2019 => Nation::Wales,
            IndexKind::Simd2020 => Nation::Scotland,
        }
    }

    /// The small-area boundaries the index is published on.
    pub fn lsoa_vintage(self) -> LsoaVintage {
        match self {
            IndexKind::Imd2025 => LsoaVintage::Lsoa2021,
            _ => LsoaVintage::Lsoa2011,
        }
    }

    /// N, the number of areas ranked by the index (ranks run 1..=N, with ties in IMD2019).
    pub fn area_count(self) -> u32 {
        match self {
            IndexKind::Imd2019 => 32_844,
            IndexKind::Imd2025 => 33_755,
            IndexKind::Wimd2019 => 1_909,
            IndexKind::Simd2020 => 6_976,
        }
    }

    /// The national decile of a rank under this index's published rule (see
    /// [`ImdDecile::from_rank_ceil`] and [`ImdDecile::from_rank_floor`]).
    pub fn decile_for_rank(self, rank: u32) -> Option<ImdDecile> {
        let n = self.area_count();
        match self {
            IndexKind::Imd2019 | IndexKind::Imd2025 => ImdDecile::from_rank_ceil(rank, n),
            IndexKind::Wimd2019 | IndexKind::Simd2020 => ImdDecile::from_rank_floor(rank, n),
        }
    }

    /// The decile rule as text, for messages.
    pub fn decile_rule(self) -> &'static str {
        match self {
            IndexKind::Imd2019 | IndexKind::Imd2025 => "ceil(rank x 10 / N)",
            IndexKind::Wimd2019 | IndexKind::Simd2020 => "floor((rank - 1) x 10 / N) + 1",
        }
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
