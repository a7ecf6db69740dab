//! Seeded synthetic responses for any definition: for demos, tests and benchmarks.
//!
//! Owns generating records that are valid under a definition (types, choices, ranges, skip
//! logic, constraints, required) with a realistic shape: households of 1-5 members in
//! clusters (PSUs) drawn from real LSOAs, strata by deprivation, design weights, and scored
//! instruments whose answers worsen with deprivation. The same seed gives the same file.
//! It writes the combined CSV layout `hearth import` reads; it touches no store.

use std::io::Write;

use crate::schema::date::Date;
use crate::schema::expr::{eval, Value};
use crate::schema::{Definition, QType, Question, Required, Unit};

/// A small, fast, seeded random generator (xoshiro256**).
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator from a seed (SplitMix64 expansion).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e3779b97f4a7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    /// Uniform in [0, 1).
    pub fn unif(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform integer in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unif().max(1e-300);
        let u2 = self.unif();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// An area to sample from: LSOA code, ward code, and IMD decile (1 = most deprived).
#[derive(Debug, Clone)]
pub struct Area {
    /// LSOA code.
    pub lsoa: String,
    /// IMD decile.
    pub decile: u8,
}

/// The Lancashire and Cumbria LSOAs (IMD 2019 deciles) shipped for simulation.
///
/// Read with a CSV reader by column name: ward names such as "Distington, Lowca & Parton" are
/// quoted because they hold a comma, and every LSOA of the lookup must be drawable.
pub fn default_areas() -> Vec<Area> {
    const DATA: &str = include_str!("../fixtures/geography/lancs_cumbria_lsoa11_ward19_imd2019.csv");
    areas_from_csv(DATA.as_bytes()).expect("the shipped area lookup is a valid CSV with LSOA11CD and IMD19_DECILE")
}

/// Areas from a CSV with `LSOA11CD` and `IMD19_DECILE` columns (other columns are ignored).
pub fn areas_from_csv(data: &[u8]) -> Result<Vec<Area>, String> {
    let mut rdr = csv::Reader::from_reader(data);
    let headers = rdr.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let (lsoa, decile) = (col("LSOA11CD")?, col("IMD19_DECILE")?);
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| e.to_string())?;
        let d = rec.get(decile).and_then(|v| v.trim().parse::<u8>().ok()).filter(|d| (1..=10).contains(d));
        let (Some(code), Some(decile)) = (rec.get(lsoa), d) else {
            return Err(format!("data row {}: no LSOA code or decile 1-10", i + 1));
        };
        out.push(Area {
            lsoa: code.to_string(),
            decile,
        });
    }
    Ok(out)
}

/// Chooses `npsu` areas as PSUs: deciles in turn, a seeded random area of each, so that every
/// decile gets at least two PSUs whenever there are enough PSUs (a decile, and a stratum made
/// of deciles, with one PSU would have no variance to estimate from).
fn choose_psus(areas: &[Area], npsu: usize, rng: &mut Rng) -> Vec<usize> {
    let mut by_decile: Vec<Vec<usize>> = vec![Vec::new(); 11];
    for (i, a) in areas.iter().enumerate() {
        by_decile[a.decile as usize].push(i);
    }
    for group in &mut by_decile {
        for i in 0..group.len() {
            let j = rng.range(i as i64, group.len() as i64 - 1) as usize;
            group.swap(i, j);
        }
    }
    let mut chosen = Vec::with_capacity(npsu);
    let mut round = 0;
    while chosen.len() < npsu {
        let before = chosen.len();
        for group in by_decile.iter().filter(|g| !g.is_empty()) {
            if chosen.len() < npsu && round < group.len() {
                chosen.push(group[round]);
            }
        }
        if chosen.len() == before {
            break;
        }
        round += 1;
    }
    chosen
}

/// Options of a simulation.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Households (or respondents, for a flat survey).
    pub households: usize,
    /// Seed.
    pub seed: u64,
    /// Wave number (shifts interview dates).
    pub wave: i64,
    /// Areas to draw clusters from.
    pub areas: Vec<Area>,
    /// Number of clusters (PSUs); default about 2 * sqrt(households), at most one per area.
    pub psus: Option<usize>,
}

/// Instruments whose higher codes are worse (+1) or better (-1).
fn direction(instrument: &str, question: &str) -> f64 {
    match instrument {
        "phq9" | "phq8" | "phq2" | "gad7" | "gad2" | "ucla3" | "general_health" | "auditc" => 1.0,
        "ons4" if question.contains("anx") => 1.0,
        "wemwbs" | "swemwbs" | "ons4" | "ons_loneliness" => -1.0,
        _ => 0.0,
    }
}

fn baseline(dir: f64) -> f64 {
    if dir > 0.0 {
        -1.2
    } else {
        0.6
    }
}

struct Gen<'a> {
    rng: Rng,
    /// The first interview date of the wave (none for a wave past the calendar).
    date0: Option<Date>,
    _def: &'a Definition,
}

impl Gen<'_> {
    fn logistic(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// A raw answer for `q` (text as in a file), given the respondent's latent distress `z`.
    fn answer(&mut self, q: &Question, z: f64, ctx: &Ctx) -> String {
        if let Some(fixed) = ctx.fixed(&q.id) {
            return fixed;
        }
        match q.qtype {
            QType::Note => String::new(),
            QType::Integer => {
                let lo = q.min.unwrap_or(0.0) as i64;
                let hi = q.max.map(|m| m as i64).unwrap_or(lo + 100);
                if hi - lo <= 20 {
                    let mut v = lo;
                    while v < hi && self.rng.unif() < 0.45 {
                        v += 1;
                    }
                    v.to_string()
                } else {
                    self.rng.range(lo, lo + ((hi - lo) as f64 * 0.75) as i64).to_string()
                }
            }
            QType::Decimal => {
                let lo = q.min.unwrap_or(0.0);
                let hi = q.max.unwrap_or(lo + 100.0);
                format!("{:.2}", lo + self.rng.unif() * (hi - lo))
            }
            QType::Text => {
                if q.identifier {
                    format!("Name {}", self.rng.range(1, 99999))
                } else {
                    format!("T{}", self.rng.range(1, 500))
                }
            }
            QType::Boolean => {
                let p = 0.35 + 0.1 * z.clamp(-2.0, 2.0);
                (self.rng.unif() < p).to_string()
            }
            QType::Date => {
                let offset = self.rng.range(0, 180);
                self.date0.and_then(|d| d.add_days(offset)).map(|d| d.to_string()).unwrap_or_default()
            }
            QType::SelectOne => {
                let Some(list) = &q.choices else { return String::new() };
                let n = list.choices.len();
                let dir = q.instrument.as_deref().map(|i| direction(i, &q.id)).unwrap_or(0.0);
                let idx = if dir != 0.0 {
                    let t = baseline(dir) + dir * (z + 0.7 * self.rng.normal());
                    ((Self::logistic(t) * n as f64) as usize).min(n - 1)
                } else {
                    self.rng.range(0, n as i64 - 1) as usize
                };
                list.choices[idx].value.to_string()
            }
            QType::SelectMultiple => {
                let Some(list) = &q.choices else { return String::new() };
                let picked: Vec<String> = list.choices.iter().filter(|_| self.rng.unif() < 0.3).map(|c| c.value.to_string()).collect();
                if picked.is_empty() {
                    list.choices[0].value.to_string()
                } else {
                    picked.join(" ")
                }
            }
            QType::Lsoa => ctx.lsoa.clone(),
            QType::Postcode => {
                let letters = b"ABDEFGHJLNPQRSTUWXYZ";
                let l = |r: &mut Rng| letters[r.range(0, letters.len() as i64 - 1) as usize] as char;
                let a = l(&mut self.rng);
                let b = l(&mut self.rng);
                format!("PR{} {}{}{}", self.rng.range(1, 9), self.rng.range(1, 9), a, b)
            }
        }
    }
}

/// Values fixed by the sample design for the current household.
struct Ctx {
    lsoa: String,
    fixed: Vec<(String, String)>,
}

impl Ctx {
    fn fixed(&self, id: &str) -> Option<String> {
        self.fixed.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone())
    }
}

/// Fills one unit's record: answers in question order, respecting skip logic and constraints.
fn fill(gen: &mut Gen, unit: &Unit, values: &mut [Value], z: f64, ctx: &Ctx, out: &mut Vec<String>) {
    for q in &unit.questions {
        if q.qtype == QType::Note {
            continue;
        }
        let relevant = q.relevant.as_ref().is_none_or(|c| eval(&c.expr, values, &Value::Missing).bool() == Some(true));
        if !relevant {
            values[q.slot] = Value::Missing;
            out.push(String::new());
            continue;
        }
        let required = match &q.required {
            Required::No => false,
            Required::Yes => true,
            Required::When(c) => eval(&c.expr, values, &Value::Missing).bool() == Some(true),
        };
        let mut chosen = String::new();
        let mut value = Value::Missing;
        for attempt in 0..200 {
            let raw = gen.answer(q, z, ctx);
            let Ok((_, v)) = crate::capture::answer::parse_answer(q, &raw) else {
                continue;
            };
            let ok = q
                .constraint
                .as_ref()
                .is_none_or(|c| v.is_missing() || eval(&c.expr, values, &v).bool() != Some(false));
            if ok {
                chosen = raw;
                value = v;
                break;
            }
            if attempt == 199 && !required {
                chosen.clear();
            }
        }
        // an occasional refusal where the question offers a missing code
        if !required && !q.missing.is_empty() && !chosen.is_empty() && gen.rng.unif() < 0.01 {
            chosen = q.missing[0].code.to_string();
            value = Value::Missing;
        }
        values[q.slot] = value;
        out.push(chosen);
    }
    for d in &unit.derived {
        values[d.slot] = eval(&d.expr.expr, values, &Value::Missing);
    }
}

/// Writes `opts.households` simulated households (with their rosters) as one combined CSV:
/// one row per leaf record, parent columns repeated. Returns the number of rows written.
pub fn simulate_csv(def: &Definition, opts: &SimOptions, mut w: impl Write) -> std::io::Result<usize> {
    let leaf = def.leaf_unit().id.clone();
    let lineage = def.lineage(&leaf);
    let mut gen = Gen {
        rng: Rng::new(opts.seed),
        date0: opts
            .wave
            .checked_add(2014)
            .and_then(|y| i32::try_from(y).ok())
            .and_then(|y| Date::from_ymd(y, 3, 1)),
        _def: def,
    };
    let mut areas = opts.areas.clone();
    if areas.is_empty() {
        areas = default_areas();
    }
    // choose PSUs: a seeded sample of areas
    let npsu = opts
        .psus
        .unwrap_or(((opts.households as f64).sqrt() * 2.0) as usize)
        .clamp(2, areas.len().max(2));
    let mut psus = choose_psus(&areas, npsu, &mut gen.rng);
    psus.sort_by_key(|&i| (areas[i].decile, areas[i].lsoa.clone()));
    let design = def.design.clone();
    let strata_q = design
        .as_ref()
        .and_then(|d| d.strata.clone())
        .and_then(|s| def.find_question(&s).map(|(_, q)| q.clone()));
    let psu_q = design.as_ref().and_then(|d| d.psu.first().cloned());
    let weight_q = design.as_ref().and_then(|d| d.weight.clone());
    let fpc_q: Vec<String> = design
        .as_ref()
        .map(|d| {
            d.fpc
                .iter()
                .filter_map(|f| match f {
                    crate::schema::Fpc::Column(c) => Some(c.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    // header
    let mut header: Vec<String> = Vec::new();
    for u in &lineage {
        header.extend(u.questions.iter().filter(|q| q.qtype != QType::Note).map(|q| q.id.clone()));
    }
    let mut wtr = csv::Writer::from_writer(&mut w);
    wtr.write_record(&header)?;
    let mut rows = 0usize;
    let stratum_of = |decile: u8| -> usize {
        let k = strata_q.as_ref().and_then(|q| q.choices.as_ref()).map(|c| c.choices.len()).unwrap_or(1);
        (((decile as usize - 1) * k) / 10).min(k.saturating_sub(1))
    };
    for h in 0..opts.households {
        let p = psus[h % psus.len()];
        let area = &areas[p];
        let deprivation = (5.5 - area.decile as f64) / 4.5; // +1 most deprived .. -1 least
        let mut fixed: Vec<(String, String)> = Vec::new();
        let top = lineage[0];
        let key_q = top.question(&top.key);
        let key_val = match key_q.map(|q| q.qtype) {
            Some(QType::Integer) => (h + 1).to_string(),
            _ => format!("H{:07}", h + 1),
        };
        fixed.push((top.key.clone(), key_val));
        if let Some(sq) = &strata_q {
            if let Some(c) = sq.choices.as_ref() {
                let i = stratum_of(area.decile).min(c.choices.len() - 1);
                fixed.push((sq.id.clone(), c.choices[i].value.to_string()));
            } else {
                fixed.push((sq.id.clone(), stratum_of(area.decile).to_string()));
            }
        }
        if let Some(pq) = &psu_q {
            let is_int = def.find_question(pq).is_some_and(|(_, q)| q.qtype == QType::Integer);
            fixed.push((pq.clone(), if is_int { (p + 1).to_string() } else { area.lsoa.clone() }));
        }
        if let Some(wq) = &weight_q {
            let base = 80.0 + 40.0 * (area.decile as f64);
            fixed.push((wq.clone(), format!("{:.3}", base * (0.8 + 0.4 * gen.rng.unif()))));
        }
        for f in &fpc_q {
            fixed.push((f.clone(), "100000".into()));
        }
        let ctx_h = Ctx {
            lsoa: area.lsoa.clone(),
            fixed,
        };
        let hz = 0.6 * deprivation + 0.5 * gen.rng.normal();
        let mut hvals = vec![Value::Missing; top.scope.len()];
        let mut hrow: Vec<String> = Vec::new();
        // the household size follows the roster
        let members = if lineage.len() > 1 {
            1 + (gen.rng.unif() * gen.rng.unif() * 5.0) as usize
        } else {
            1
        };
        let mut ctx_h = ctx_h;
        for q in &top.questions {
            if q.id.contains("household_size") || q.id == "hh_size" {
                ctx_h.fixed.push((q.id.clone(), (members + gen.rng.range(0, 1) as usize).to_string()));
            }
        }
        fill(&mut gen, top, &mut hvals, hz, &ctx_h, &mut hrow);
        if lineage.len() == 1 {
            wtr.write_record(&hrow)?;
            rows += 1;
            continue;
        }
        let leaf_u = lineage[lineage.len() - 1];
        for m in 0..members {
            let mut vals = hvals.clone();
            vals.resize(leaf_u.scope.len(), Value::Missing);
            let key_val = match leaf_u.question(&leaf_u.key).map(|q| q.qtype) {
                Some(QType::Integer) => (m + 1).to_string(),
                _ => format!("P{}", m + 1),
            };
            let ctx_p = Ctx {
                lsoa: area.lsoa.clone(),
                fixed: vec![(leaf_u.key.clone(), key_val)],
            };
            let z = hz + 0.8 * gen.rng.normal();
            let mut prow = hrow.clone();
            fill(&mut gen, leaf_u, &mut vals, z, &ctx_p, &mut prow);
            wtr.write_record(&prow)?;
            rows += 1;
        }
    }
    wtr.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 14.6): rows were split on commas, so LSOAs whose ward name holds a
    /// quoted comma ("Distington, Lowca & Parton") were silently dropped.
    #[test]
    fn r14_every_lsoa_of_the_lookup_can_be_drawn() {
        const DATA: &str = include_str!("../fixtures/geography/lancs_cumbria_lsoa11_ward19_imd2019.csv");
        let mut rdr = csv::Reader::from_reader(DATA.as_bytes());
        let all: Vec<String> = rdr.records().map(|r| r.unwrap()[0].to_string()).collect();
        let areas = default_areas();
        assert_eq!(areas.len(), all.len());
        for (a, code) in areas.iter().zip(&all) {
            assert_eq!(&a.lsoa, code);
        }
        assert!(areas.iter().any(|a| a.lsoa == "E01019268" && a.decile == 4), "a quoted-comma ward row is read");
        // every area is drawn as a PSU when as many PSUs as areas are asked for
        let chosen = choose_psus(&areas, areas.len(), &mut Rng::new(7));
        let mut sorted = chosen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), areas.len());
    }

    /// Regression (issue 14.7): the demo's deciles 5 and 10 sat in one PSU each.
    #[test]
    fn r14_every_decile_gets_two_psus() {
        let areas = default_areas();
        for seed in 0..20 {
            for npsu in [20, 33, 49] {
                let chosen = choose_psus(&areas, npsu, &mut Rng::new(seed));
                assert_eq!(chosen.len(), npsu);
                for d in 1..=10u8 {
                    let n = chosen.iter().filter(|&&i| areas[i].decile == d).count();
                    assert!(n >= 2, "seed {seed}, {npsu} PSUs: decile {d} has {n}");
                }
            }
        }
    }

    #[test]
    fn areas_csv_errors_name_the_row() {
        let e = areas_from_csv(b"LSOA11CD,IMD19_DECILE\nE01000001,3\nE01000002,11\n").unwrap_err();
        assert!(e.contains("data row 2"), "{e}");
        assert!(areas_from_csv(b"LSOA,IMD\n").unwrap_err().contains("LSOA11CD"));
    }
}
