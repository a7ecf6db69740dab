//! Record identifiers: version 7 UUIDs.
//!
//! Owns how a new record gets its `_uuid`: a time-ordered version 7 UUID (RFC 9562), so
//! records sort by when they were captured and the `_uuid` index grows at its end. The uuid
//! crate keeps the clock and the counter ([`::uuid::ContextV7`]) and lays out the bits
//! ([`::uuid::Builder::from_unix_timestamp_millis`]); this file only feeds them. Knows nothing
//! of records or tables.

use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use ::uuid::{Builder, ClockSequence, ContextV7};

/// One clock sequence for the whole process, so that UUIDs of every generator are ordered.
static CONTEXT: Mutex<ContextV7> = Mutex::new(ContextV7::new());

/// Bits of the counter [`ContextV7`] keeps: reseeded at random every millisecond, then
/// incremented, so UUIDs of one millisecond sort in the order they were made.
const COUNTER_BITS: u32 = 42;

/// Generates version 7 (time-ordered) UUIDs as text: the millisecond clock, then the uuid
/// crate's 42-bit counter (RFC 9562, method 1), shared by the whole process, so every UUID
/// made in this process sorts after the ones made before it, even within one millisecond or
/// by another generator; then 32 random bits.
///
/// The random bits come from SipHash, keyed once per generator from the system's random source,
/// over a count: unpredictable without a system call per UUID (an import makes one per record;
/// the uuid crate's own `now_v7` would cost a call to the system's random source for each).
#[derive(Debug, Default)]
pub struct UuidV7 {
    keys: std::collections::hash_map::RandomState,
    made: u64,
}

impl UuidV7 {
    /// A generator.
    pub fn new() -> UuidV7 {
        UuidV7::default()
    }

    /// The next UUID, written as text into `buf`.
    pub fn next<'b>(&mut self, buf: &'b mut [u8; 36]) -> &'b str {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        // the context moves time forward when the clock goes back or the counter overflows
        let (counter, secs, nanos) = CONTEXT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .generate_timestamp_sequence(now.as_secs(), now.subsec_nanos());
        let millis = secs.saturating_mul(1000).saturating_add(u64::from(nanos / 1_000_000));
        let mut hasher = self.keys.build_hasher();
        hasher.write_u64(self.made);
        self.made += 1;
        let random = hasher.finish() as u32;
        // 74 bits follow the version: the counter at the top, the random bits below
        let payload = (u128::from(counter) << (74 - COUNTER_BITS)) | u128::from(random);
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&((payload >> 62) as u16).to_be_bytes());
        bytes[2..].copy_from_slice(&((payload as u64) & (u64::MAX >> 2)).to_be_bytes());
        Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid().hyphenated().encode_lower(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UUIDs of several generators used one after the other (imports in one process) keep the
    /// order in which they were made, whatever the millisecond.
    #[test]
    fn uuids_keep_time_order_across_generators() {
        let mut made = Vec::new();
        for _ in 0..50 {
            let mut g = UuidV7::new();
            for _ in 0..200 {
                let mut buf = [0u8; 36];
                made.push(g.next(&mut buf).to_string());
            }
        }
        for w in made.windows(2) {
            assert!(w[0] < w[1], "{} made before {}", w[0], w[1]);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        for u in [&made[0], &made[made.len() - 1]] {
            let parsed = ::uuid::Uuid::parse_str(u).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7, "{u}");
            assert_eq!(parsed.get_variant(), ::uuid::Variant::RFC4122, "{u}");
            let (secs, _) = parsed.get_timestamp().expect("a v7 timestamp").to_unix();
            assert!(secs.abs_diff(now) < 600, "{u} carries the time it was made: {secs} vs {now}");
        }
    }

    /// The random bits differ between UUIDs of one millisecond and between generators.
    #[test]
    fn uuids_of_one_millisecond_differ_in_their_random_bits() {
        let tail = |u: &str| u[u.len() - 8..].to_string();
        let (mut a, mut b) = (UuidV7::new(), UuidV7::new());
        let mut tails = std::collections::HashSet::new();
        for _ in 0..1000 {
            let (mut x, mut y) = ([0u8; 36], [0u8; 36]);
            tails.insert(tail(a.next(&mut x)));
            tails.insert(tail(b.next(&mut y)));
        }
        assert!(tails.len() > 1990, "{} distinct random tails of 2000", tails.len());
    }
}
