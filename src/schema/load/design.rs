//! Reading the `design:`, `geography:` and `disclosure:` sections, which name questions of the
//! units already built.
//!
//! Owns the keys of those sections and which questions may serve as a weight, stratum, PSU,
//! FPC, LSOA or postcode. It must not change units or questions.

use super::super::model::{DesignSpec, Disclosure, Fpc, GeographySpec, LonelyPsu, QType, Question, Unit};
use super::super::yaml::{self, did_you_mean, Fields, Node, NodeKind, Problem};

const DESIGN_KEYS: &[&str] = &["weight", "strata", "psu", "fpc", "lonely_psu"];
const GEO_KEYS: &[&str] = &["lsoa", "postcode"];
const DISCLOSURE_KEYS: &[&str] = &["min_base", "min_count", "flag_base", "max_cv"];

/// The questions of every unit, for sections that name them.
pub(super) struct Questions<'a> {
    units: &'a [Unit],
    ids: Vec<String>,
}

impl<'a> Questions<'a> {
    /// The questions of `units`.
    pub(super) fn new(units: &'a [Unit]) -> Questions<'a> {
        let ids = units.iter().flat_map(|u| u.questions.iter().map(|q| q.id.clone())).collect();
        Questions { units, ids }
    }

    fn find(&self, id: &str) -> Option<&'a Question> {
        self.units.iter().find_map(|u| u.question(id))
    }

    /// The question `n` names under `what`: one that exists, has an answer to group or weigh
    /// by, and (if `numeric`) is a number.
    fn name(&self, n: &Node, what: &str, problems: &mut Vec<Problem>, numeric: bool) -> Option<String> {
        let s = yaml::str_of(n, what, problems)?;
        match self.find(&s) {
            None => {
                problems.push(Problem {
                    pos: n.pos,
                    message: format!(
                        "{what} names '{s}', which is not a question{}",
                        did_you_mean(&s, self.ids.iter().map(|x| x.as_str()))
                    ),
                });
                None
            }
            Some(q) => {
                if numeric && !matches!(q.qtype, QType::Integer | QType::Decimal) {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("{what}: '{s}' must be an integer or decimal question, not {}", q.qtype.name()),
                    });
                }
                if q.qtype == QType::SelectMultiple || q.qtype == QType::Note {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("{what}: '{s}' cannot be a {} question", q.qtype.name()),
                    });
                }
                Some(s)
            }
        }
    }

    /// Reads `design:` (weight, strata, PSUs by stage, FPCs by stage, lonely PSUs).
    pub(super) fn design(&self, dn: &Node, problems: &mut Vec<Problem>) -> Option<DesignSpec> {
        let f = Fields::new(dn, "design", DESIGN_KEYS, problems)?;
        let weight = f.get("weight").and_then(|n| self.name(n, "design: weight", problems, true));
        let strata = f.get("strata").and_then(|n| self.name(n, "design: strata", problems, false));
        let list = |n: &'_ Node| -> Vec<Node> {
            match &n.kind {
                NodeKind::Seq(items) => items.clone(),
                _ => vec![n.clone()],
            }
        };
        let psu: Vec<String> = f
            .get("psu")
            .map(list)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| self.name(n, "design: psu", problems, false))
            .collect();
        let mut fpc = Vec::new();
        for n in f.get("fpc").map(list).unwrap_or_default() {
            if let Some(v) = n.as_f64() {
                if v <= 0.0 {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("design: fpc {v} must be positive"),
                    });
                }
                fpc.push(Fpc::Value(v));
            } else if let Some(s) = self.name(&n, "design: fpc", problems, true) {
                fpc.push(Fpc::Column(s));
            }
        }
        let npsu = f.get("psu").map(|n| list(n).len()).unwrap_or(0);
        if !fpc.is_empty() && fpc.len() != npsu.max(1) {
            problems.push(Problem {
                pos: f.key_pos("fpc").unwrap_or(f.pos),
                message: format!("design: fpc gives {} stage(s) but psu gives {}", fpc.len(), npsu.max(1)),
            });
        }
        let lonely_psu = lonely_psu(f.get("lonely_psu"), problems);
        Some(DesignSpec {
            weight,
            strata,
            psu,
            fpc,
            lonely_psu,
        })
    }

    /// Reads `geography:` (the LSOA or postcode question).
    pub(super) fn geography(&self, gn: &Node, problems: &mut Vec<Problem>) -> Option<GeographySpec> {
        let f = Fields::new(gn, "geography", GEO_KEYS, problems)?;
        let one = |key: &str, want: QType, problems: &mut Vec<Problem>| -> Option<String> {
            let n = f.get(key)?;
            let s = self.name(n, &format!("geography: {key}"), problems, false)?;
            if let Some(q) = self.find(&s) {
                if q.qtype != want && q.qtype != QType::Text {
                    problems.push(Problem {
                        pos: n.pos,
                        message: format!("geography: {key} '{s}' must be a {} question, not {}", want.name(), q.qtype.name()),
                    });
                }
            }
            Some(s)
        };
        let lsoa = one("lsoa", QType::Lsoa, problems);
        let postcode = one("postcode", QType::Postcode, problems);
        if f.get("lsoa").is_none() && f.get("postcode").is_none() {
            problems.push(Problem {
                pos: f.pos,
                message: "geography needs lsoa: or postcode:".into(),
            });
        }
        Some(GeographySpec { lsoa, postcode })
    }
}

fn lonely_psu(n: Option<&Node>, problems: &mut Vec<Problem>) -> LonelyPsu {
    let Some(n) = n else { return LonelyPsu::Fail };
    match n.scalar().and_then(LonelyPsu::parse) {
        Some(l) => l,
        None => {
            let s = n.scalar().unwrap_or("");
            problems.push(Problem {
                pos: n.pos,
                message: format!(
                    "design: lonely_psu {} is not one of {}{}",
                    n.show(),
                    LonelyPsu::NAMES.join(", "),
                    did_you_mean(s, LonelyPsu::NAMES.iter().copied())
                ),
            });
            LonelyPsu::Fail
        }
    }
}

/// Reads `disclosure:` (suppression and flagging thresholds); defaults where absent.
pub(super) fn read_disclosure(section: Option<&Node>, problems: &mut Vec<Problem>) -> Disclosure {
    let mut disclosure = Disclosure::default();
    let Some(dn) = section else { return disclosure };
    let Some(f) = Fields::new(dn, "disclosure", DISCLOSURE_KEYS, problems) else {
        return disclosure;
    };
    let int = |k: &str, d: &mut u32, problems: &mut Vec<Problem>| {
        if let Some(n) = f.get(k) {
            match n.as_i64() {
                Some(v) if (0..=100_000).contains(&v) => *d = v as u32,
                _ => problems.push(Problem {
                    pos: n.pos,
                    message: format!("disclosure: {k} must be a whole number, found {}", n.show()),
                }),
            }
        }
    };
    int("min_base", &mut disclosure.min_base, problems);
    int("min_count", &mut disclosure.min_count, problems);
    int("flag_base", &mut disclosure.flag_base, problems);
    if let Some(v) = f.opt_f64("max_cv", "disclosure", problems) {
        disclosure.max_cv = v;
    }
    disclosure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disclosure_defaults_where_absent_and_refuses_out_of_range_counts() {
        let mut problems = Vec::new();
        assert_eq!(read_disclosure(None, &mut problems), Disclosure::default());
        let n = yaml::parse("min_base: 30\nmin_count: -1\nflag_base: 100001\nmax_cv: 0.3\n").expect("test YAML parses");
        let d = read_disclosure(Some(&n), &mut problems);
        assert_eq!(d.min_base, 30);
        assert_eq!(d.min_count, Disclosure::default().min_count);
        assert_eq!(d.flag_base, Disclosure::default().flag_base);
        assert_eq!(d.max_cv, 0.3);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "disclosure: min_count must be a whole number, found '-1'",
                "disclosure: flag_base must be a whole number, found '100001'",
            ]
        );
    }
}
