//! The checks on names across the whole definition: ids unique over units and instruments, a
//! data column read by one question only, names hearth keeps for its own columns (system and
//! area columns), and the number of columns a unit may store.
//!
//! Owns those rules and their messages. It reads questions and units but changes neither, and
//! must not look inside expressions.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::model::{QType, Unit};
use super::super::yaml::{Pos, Problem};
use super::question::RawDerived;
use super::units::RawUnit;
use super::Sink;

/// Most stored variables (questions other than notes, and derived variables) a unit and its
/// ancestors may have together: SQLite allows 2,000 columns in a table or a query, and hearth
/// keeps the rest for its own columns (record UUID, wave, version, capture details).
pub const MAX_VARIABLES: usize = 1_900;

/// Reports ids used twice (questions and derived variables, in any unit or instrument) and
/// data columns read by two questions. Problems in the survey's own `file` go to `problems`,
/// those in an instrument's file to `sink`.
pub(super) fn unique_ids(raw_units: &[RawUnit], raw_derived: &[RawDerived], file: &str, problems: &mut Vec<Problem>, sink: &mut Sink) {
    let mut seen: HashMap<String, (Arc<str>, Pos)> = HashMap::new();
    let mut dup = |id: &str, pos: Pos, f: &Arc<str>, problems: &mut Vec<Problem>, sink: &mut Sink| {
        if let Some((ff, p)) = seen.get(id) {
            let msg = format!("duplicate id '{id}' (first defined at {}:{}:{})", ff, p.line, p.col);
            if f.as_ref() == file {
                problems.push(Problem { pos, message: msg });
            } else {
                sink.add(f, &mut vec![Problem { pos, message: msg }]);
            }
        } else {
            seen.insert(id.to_string(), (f.clone(), pos));
        }
    };
    for u in raw_units {
        for q in &u.questions {
            dup(&q.q.id, q.q.pos, &q.file, problems, sink);
        }
    }
    for d in raw_derived {
        dup(&d.id, d.pos, &d.file, problems, sink);
    }
    // Each data column feeds one question: `column: x` may not name another question's id
    // or another question's column.
    let mut readers: HashMap<&str, &str> = HashMap::new();
    for u in raw_units {
        for q in u.questions.iter().filter(|q| q.q.column.is_none()) {
            readers.insert(&q.q.id, &q.q.id);
        }
    }
    for u in raw_units {
        for q in u.questions.iter() {
            let Some(col) = q.q.column.as_deref() else { continue };
            if let Some(other) = readers.insert(col, &q.q.id) {
                problems.push(Problem {
                    pos: q.q.pos,
                    message: format!("question '{}': column '{col}' is already read by question '{other}'", q.q.id),
                });
            }
        }
    }
}

/// Reports units that, with their ancestors, store more than [`MAX_VARIABLES`] variables.
pub(super) fn too_many_columns(units: &[Unit], problems: &mut Vec<Problem>) {
    for u in units {
        let mut n = 0;
        let mut at = Some(u);
        let mut hops = 0;
        while let Some(x) = at {
            n += x.questions.iter().filter(|q| q.qtype != QType::Note).count() + x.derived.len();
            at = x.parent.as_ref().and_then(|p| units.iter().find(|v| &v.id == p));
            hops += 1;
            if hops > units.len() {
                break; // a parent cycle, reported elsewhere
            }
        }
        if n > MAX_VARIABLES {
            let pos = u.questions.first().map(|q| q.pos).unwrap_or_default();
            problems.push(Problem {
                pos,
                message: format!(
                    "unit '{}' stores {n} variables (questions and derived variables, its parent units' included): at most {MAX_VARIABLES} fit in a store (SQLite allows 2,000 columns); split the survey or drop variables",
                    u.id
                ),
            });
        }
    }
}

/// Names hearth gives columns of its own: a question or derived variable may not take them.
///
/// `wave`, `version`, `captured_at`, `captured_by` and `UNIT_uuid` are always hearth's (every
/// export writes them). The area columns (`imd_decile`, `ward`...) are hearth's only when the
/// definition has a `geography:` section (`geography` is where it is); without one, a
/// survey's own `imd_decile` is an ordinary question, used as it is by `--by imd_decile`.
pub(super) fn names_clash_with_system_columns(units: &[Unit], geography: Option<Pos>, problems: &mut Vec<Problem>) {
    const SYSTEM: &[&str] = super::super::SYSTEM_COLUMNS;
    let area_columns = super::super::AREA_COLUMNS;
    let uuid_cols: Vec<String> = units.iter().map(|u| format!("{}_uuid", u.id)).collect();
    for u in units {
        for q in &u.questions {
            let id = q.id.as_str();
            if SYSTEM.contains(&id) || uuid_cols.iter().any(|c| c == id) {
                problems.push(Problem {
                    pos: q.pos,
                    message: format!(
                        "question '{id}': '{id}' is a column hearth adds to every record; give the question another id (a data column of that name can still be read with `column: {id}`)"
                    ),
                });
            } else if let Some(gpos) = geography.filter(|_| area_columns.contains(&id)) {
                problems.push(Problem {
                    pos: q.pos,
                    message: format!(
                        "question '{id}' has the name of an area column that the geography section (line {}) adds from the LSOA; rename the question (for example `id: own_{id}` with `column: {id}` to read the data's column), or remove the geography section to use the data's own '{id}'",
                        gpos.line
                    ),
                });
            }
        }
        for d in &u.derived {
            let id = d.id.as_str();
            if let Some(gpos) = geography.filter(|_| area_columns.contains(&id)) {
                problems.push(Problem {
                    pos: gpos,
                    message: format!("derived variable '{id}' has the name of an area column that this geography section adds; rename the derived variable"),
                });
            }
        }
    }
}
