//! "Did you mean" suggestions for misspelt names: keys, types, questions, tables, columns.
//!
//! Owns finding the closest known name to an unknown one, in time that stays bounded on hostile
//! input: a definition with thousands of near-miss references to thousands of questions must
//! still validate in about a second. Each comparison is cut off as soon as the distance must
//! exceed the limit, candidates whose length alone rules them out are skipped, and the work one
//! check spends on suggestions is capped (after that, problems are reported without one).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Character comparisons one check (of a definition, say) may spend on suggestions: about
/// 0.1 s of work.
const BUDGET: u64 = 40_000_000;

/// Which check is running: `reset_budget` moves it on, and every thread's spending starts again
/// from zero the next time it suggests (so worker threads of an import share the reset).
static CHECK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (the check this thread's spending belongs to, comparisons spent in it)
    static SPENT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Starts a new budget for suggestions on every thread: called where a check begins (a
/// definition loaded, an analysis request checked, an import started).
pub fn reset_budget() {
    CHECK.fetch_add(1, Ordering::Relaxed);
}

/// Spends `cost`; false once the budget is used up (`spend(0)` asks whether any is left).
fn spend(cost: u64) -> bool {
    let check = CHECK.load(Ordering::Relaxed);
    SPENT.with(|s| {
        let (of, spent) = s.get();
        let spent = if of == check { spent } else { 0 }.saturating_add(cost);
        s.set((check, spent));
        spent <= BUDGET
    })
}

/// Edit distance between two short strings (for "did you mean" suggestions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    bounded(&a, &b, usize::MAX).unwrap_or(usize::MAX)
}

/// The edit distance of `a` and `b` if it is at most `limit`, stopping as soon as it cannot be.
fn bounded(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            row_min = row_min.min(cur[j]);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|d| *d <= limit)
}

/// The closest candidate to `word`, if close enough to be a likely misspelling.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if !spend(0) {
        return None;
    }
    let w: Vec<char> = word.chars().collect();
    let limit = (w.len() / 3).max(1) + usize::from(word.len() > 6);
    let mut best: Option<(usize, &'a str)> = None;
    let mut buf: Vec<char> = Vec::new();
    for c in candidates {
        let clen = c.chars().count();
        if clen.abs_diff(w.len()) > limit {
            continue;
        }
        let cost = (w.len() * clen) as u64 + 1;
        if !spend(cost) {
            return best.map(|(_, c)| c);
        }
        buf.clear();
        buf.extend(c.chars());
        let cap = best.map(|(d, _)| d.saturating_sub(1)).unwrap_or(limit);
        if let Some(d) = bounded(&w, &buf, cap) {
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, c));
                if d == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(_, c)| c)
}

/// " (did you mean 'x'?)" or "".
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("desgin", ["design", "units", "survey"]), Some("design"));
        assert_eq!(suggest("integr", ["integer", "decimal"]), Some("integer"));
        assert_eq!(suggest("zzzzzz", ["design", "units"]), None);
        // the first of equally close candidates, as before
        assert_eq!(suggest("ab", ["ac", "ad"]), Some("ac"));
    }

    #[test]
    fn bounded_agrees_with_full_distance() {
        let words = ["", "a", "ab", "abc", "phq9_1", "phq9_10", "gad7_total", "swemwbs", "wemwbs"];
        for a in words {
            for b in words {
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let d = edit_distance(a, b);
                for limit in 0..8 {
                    assert_eq!(bounded(&ac, &bc, limit), Some(d).filter(|d| *d <= limit), "{a} {b} {limit}");
                }
            }
        }
    }

    /// A reset on one thread gives every thread a new budget (an import's worker threads and a
    /// long-running process would otherwise lose suggestions for good once one check spent it).
    #[test]
    fn r16_reset_reaches_other_threads() {
        let (to_worker, spent) = (std::sync::mpsc::channel::<()>(), std::sync::mpsc::channel::<()>());
        let (go, wait) = (to_worker.0, to_worker.1);
        let worker = std::thread::spawn(move || {
            spend(BUDGET + 1);
            spent.0.send(()).unwrap();
            wait.recv().unwrap();
            (spend(0), suggest("desgin", ["design"]))
        });
        spent.1.recv().unwrap();
        reset_budget();
        go.send(()).unwrap();
        assert_eq!(worker.join().unwrap(), (true, Some("design")));
    }
}
