//! Tests between groups on the full design: the design-based t test of the difference between
//! two groups' means or proportions (R's `svyttest(y ~ group, subset(design, group %in% c(a,
//! b)))`, equivalently `svycontrast` of `svyby` with df `degf - 1`), and the Rao-Scott
//! adjusted chi-square for a categorical outcome by group (`svychisq(~outcome + group,
//! design)`, the second-order `statistic = "F"` and the first-order `"Chisq"`).
//!
//! Owns the test statistics, their degrees of freedom and p-values. Must not group rows, read
//! or format; the variances come from the engine ([`Design::influence_covariance`]), the
//! distributions from `statrs`.

use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor, StudentsT};

use super::columns::{covariance, t_quantile};
use crate::analysis::engine::{Design, DesignError, Grouping};

/// A design-based t test of the difference between two groups.
#[derive(Debug, Clone, PartialEq)]
pub struct TTest {
    /// Group `b` minus group `a`.
    pub difference: f64,
    /// Its standard error (the groups' covariance taken into account).
    pub se: f64,
    /// `difference / se`.
    pub statistic: f64,
    /// PSUs holding the two groups' rows used minus their strata, minus 1.
    pub df: f64,
    /// Two-sided p-value from t(df).
    pub p_value: f64,
    /// Confidence interval of the difference, t(df).
    pub ci: (f64, f64),
}

/// The t test of a difference with its standard error and df.
pub fn t_test(difference: f64, se: f64, df: f64, level: f64) -> TTest {
    let statistic = difference / se;
    let p_value = match StudentsT::new(0.0, 1.0, df) {
        Ok(t) if statistic.is_finite() => 2.0 * t.cdf(-statistic.abs()),
        _ => f64::NAN,
    };
    let q = if df >= 1.0 { t_quantile(1.0 - (1.0 - level) / 2.0, df) } else { f64::NAN };
    TTest {
        difference,
        se,
        statistic,
        df,
        p_value,
        ci: (difference - q * se, difference + q * se),
    }
}

/// Tests the difference between the means of `y` (NaN = no answer; 0/1 for a proportion) in
/// groups `a` and `b` of `grouping`, as `svyttest` on the two groups' domain.
pub fn two_group_t_test(design: &Design, y: &[f64], grouping: &Grouping, a: usize, b: usize, level: f64) -> Result<TTest, DesignError> {
    if a >= grouping.n_groups() || b >= grouping.n_groups() || a == b {
        return Err(DesignError::InvalidArgument(format!(
            "groups {a} and {b} of {} cannot be compared",
            grouping.n_groups()
        )));
    }
    let lin = design.linearize_mean(y, grouping)?;
    let est = lin.estimates();
    // the difference's influence: +b's rows, -a's rows; others outside the domain
    let col: Vec<f64> = lin
        .row_groups()
        .iter()
        .zip(lin.influence())
        .map(|(&g, &z)| match g as usize {
            g if g == b => z,
            g if g == a => -z,
            _ => f64::NAN,
        })
        .collect();
    let cov = covariance(design, &[col])?;
    Ok(t_test(est[b] - est[a], cov.get(0, 0).sqrt(), cov.df[0] - 1.0, level))
}

/// The Rao-Scott test of independence of a categorical outcome and a grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct RaoScott {
    /// Categories and groups present.
    pub table: (usize, usize),
    /// Pearson's X^2 of the weighted table scaled to the rows used.
    pub pearson: f64,
    /// The second-order corrected F (`statistic = "F"`): X^2 / trace(Delta).
    pub f: f64,
    /// Its numerator df, trace(Delta)^2 / trace(Delta^2).
    pub ndf: f64,
    /// Its denominator df, `ndf` times the design df.
    pub ddf: f64,
    /// p-value of the F.
    pub p_value: f64,
    /// First-order (`statistic = "Chisq"`) p-value: X^2 / mean(diag(Delta)) on chi-square.
    pub chisq_p_value: f64,
    /// Its df, (categories - 1) (groups - 1).
    pub chisq_df: f64,
    /// Design df of the rows used (PSUs minus strata).
    pub design_df: f64,
}

/// `svychisq(~outcome + group, design)` on the rows where both are known (a domain of the full
/// design): `outcome` and `groups` give each row's category and group (`Grouping::NONE` for no
/// answer or no group).
pub fn rao_scott(design: &Design, outcome: &Grouping, groups: &Grouping) -> Result<RaoScott, DesignError> {
    let n = design.n_rows();
    let (oc, gc) = (outcome.codes(), groups.codes());
    if oc.len() != n || gc.len() != n {
        return Err(DesignError::LengthMismatch {
            what: "rao-scott input",
            expected: n,
            got: oc.len().min(gc.len()),
        });
    }
    let used: Vec<bool> = (0..n).map(|i| oc[i] != Grouping::NONE && gc[i] != Grouping::NONE).collect();
    let dense = |codes: &[u32], k: usize| {
        let mut index = vec![u32::MAX; k];
        let mut m = 0;
        for (i, &c) in codes.iter().enumerate() {
            if used[i] && index[c as usize] == u32::MAX {
                index[c as usize] = 0;
            }
        }
        for slot in index.iter_mut().filter(|s| **s == 0) {
            *slot = m;
            m += 1;
        }
        (index, m as usize)
    };
    let (ri, nr) = dense(oc, outcome.n_groups());
    let (ci, nc) = dense(gc, groups.n_groups());
    if nr < 2 || nc < 2 {
        return Err(DesignError::InvalidArgument(format!(
            "a test of association needs 2 or more categories and groups with answers ({nr} and {nc})"
        )));
    }
    let k = nr * nc;
    let cell = |i: usize| ri[oc[i] as usize] as usize + nr * ci[gc[i] as usize] as usize;
    let w = design.weights();
    let mut wk = vec![0.0; k];
    let mut total = 0.0;
    let mut n_used = 0usize;
    for i in (0..n).filter(|&i| used[i]) {
        wk[cell(i)] += w[i];
        total += w[i];
        n_used += 1;
    }
    let p: Vec<f64> = wk.iter().map(|x| x / total).collect();
    // influence of each cell proportion (svymean of the cell indicators)
    let cols: Vec<Vec<f64>> = (0..k)
        .map(|j| {
            (0..n)
                .map(|i| if used[i] { w[i] * (f64::from(cell(i) == j) - p[j]) / total } else { f64::NAN })
                .collect()
        })
        .collect();
    let joint = covariance(design, &cols)?;
    let nu = joint.df.iter().copied().fold(0.0, f64::max);
    let big_n = n_used as f64;
    let pr: Vec<f64> = (0..nr).map(|r| (0..nc).map(|c| p[r + nr * c]).sum()).collect();
    let pc: Vec<f64> = (0..nc).map(|c| (0..nr).map(|r| p[r + nr * c]).sum()).collect();
    let mut pearson = 0.0;
    for r in 0..nr {
        for c in 0..nc {
            let e = pr[r] * pc[c];
            if e > 0.0 {
                pearson += big_n * (p[r + nr * c] - e).powi(2) / e;
            }
        }
    }
    let delta = delta_matrix(&p, &joint.cov, nr, nc, big_n)
        .ok_or_else(|| DesignError::InvalidArgument("the table's design effects cannot be computed (singular matrix)".into()))?;
    let m = (nr - 1) * (nc - 1);
    let tr: f64 = (0..m).map(|i| delta[i * m + i]).sum();
    let tr2: f64 = (0..m).map(|i| (0..m).map(|j| delta[i * m + j] * delta[j * m + i]).sum::<f64>()).sum();
    let f = pearson / tr;
    let ndf = tr * tr / tr2;
    let ddf = ndf * nu;
    let p_value = FisherSnedecor::new(ndf, ddf).map(|d| d.sf(f)).unwrap_or(f64::NAN);
    let chisq_p_value = ChiSquared::new(m as f64).map(|d| d.sf(pearson / (tr / m as f64))).unwrap_or(f64::NAN);
    Ok(RaoScott {
        table: (nr, nc),
        pearson,
        f,
        ndf,
        ddf,
        p_value,
        chisq_p_value,
        chisq_df: m as f64,
        design_df: nu,
    })
}

/// Rao and Scott's Delta = (C' D^-1 C / N)^-1 (C' D^-1 V D^-1 C), C the interaction columns
/// of the saturated model made orthogonal to the main effects (`svychisq`), row-major m x m.
fn delta_matrix(p: &[f64], v: &[f64], nr: usize, nc: usize, big_n: f64) -> Option<Vec<f64>> {
    let k = nr * nc;
    let q = nr + nc - 1;
    let m = (nr - 1) * (nc - 1);
    // X1: intercept, rows 2..nr, cols 2..nc; X12: the interactions (rows fastest)
    let x1 = |cell: usize, j: usize| -> f64 {
        let (r, c) = (cell % nr, cell / nr);
        f64::from(j == 0 || (j < nr && r == j) || (j >= nr && c == j - nr + 1))
    };
    let x12 = |cell: usize, j: usize| -> f64 {
        let (r, c) = (cell % nr, cell / nr);
        f64::from(r == 1 + j % (nr - 1) && c == 1 + j / (nr - 1))
    };
    // C = X12 - X1 (X1'X1)^-1 X1'X12
    let mut xtx = vec![0.0; q * q];
    let mut xty = vec![0.0; q * m];
    for cell in 0..k {
        for a in 0..q {
            for b in 0..q {
                xtx[a * q + b] += x1(cell, a) * x1(cell, b);
            }
            for b in 0..m {
                xty[a * m + b] += x1(cell, a) * x12(cell, b);
            }
        }
    }
    let coef = solve(xtx, q, xty, m)?;
    let mut cm = vec![0.0; k * m];
    for cell in 0..k {
        for b in 0..m {
            cm[cell * m + b] = x12(cell, b) - (0..q).map(|a| x1(cell, a) * coef[a * m + b]).sum::<f64>();
        }
    }
    let inv_p: Vec<f64> = p.iter().map(|&x| if x == 0.0 { 0.0 } else { 1.0 / x }).collect();
    let mut denom = vec![0.0; m * m];
    let mut numr = vec![0.0; m * m];
    // iD C, then C' (iD/N) C and (iD C)' V (iD C)
    let dc: Vec<f64> = (0..k * m).map(|i| cm[i] * inv_p[i / m]).collect();
    for a in 0..m {
        for b in 0..m {
            denom[a * m + b] = (0..k).map(|cell| cm[cell * m + a] * dc[cell * m + b]).sum::<f64>() / big_n;
            let mut s = 0.0;
            for i in 0..k {
                for j in 0..k {
                    s += dc[i * m + a] * v[i * k + j] * dc[j * m + b];
                }
            }
            numr[a * m + b] = s;
        }
    }
    solve(denom, m, numr, m)
}

/// Solves `A X = B` (A n x n, B n x m, row-major) by Gaussian elimination with partial
/// pivoting; None when A is singular.
fn solve(mut a: Vec<f64>, n: usize, mut b: Vec<f64>, m: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0f64, |s, x| s.max(x.abs()));
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() <= 1e-13 * scale {
            return None;
        }
        if piv != col {
            for j in 0..n {
                a.swap(piv * n + j, col * n + j);
            }
            for j in 0..m {
                b.swap(piv * m + j, col * m + j);
            }
        }
        for row in 0..n {
            if row == col {
                continue;
            }
            let f = a[row * n + col] / a[col * n + col];
            if f == 0.0 {
                continue;
            }
            for j in col..n {
                a[row * n + j] -= f * a[col * n + j];
            }
            for j in 0..m {
                b[row * m + j] -= f * b[col * m + j];
            }
        }
    }
    for row in 0..n {
        let d = a[row * n + row];
        for j in 0..m {
            b[row * m + j] /= d;
        }
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::inequality::fixture::Fixture;

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() <= 1e-6 * want.abs(), "{what}: got {got}, R {want}");
    }

    #[test]
    fn the_t_test_between_two_groups_as_r_svyttest() {
        let f = Fixture::load();
        let rows = f.wave_rows(1);
        let design = f.design(&rows, false);
        let y: Vec<f64> = rows.iter().map(|&i| f.num("y")[i]).collect();
        let g = Grouping::new(rows.iter().map(|&i| f.num("quint")[i] as u32 - 1).collect(), 5).unwrap();
        let t = two_group_t_test(&design, &y, &g, 0, 4, 0.95).unwrap();
        let r = &f.json["ttest"];
        close(t.difference, r["difference"].as_f64().unwrap(), "difference");
        close(t.se, r["se"].as_f64().unwrap(), "se");
        close(t.statistic, r["statistic"].as_f64().unwrap(), "t");
        assert_eq!(t.df, r["df"].as_f64().unwrap());
        close(t.p_value, r["p_value"].as_f64().unwrap(), "p");
        assert!(t.ci.0 < t.difference && t.difference < t.ci.1);
        assert!(two_group_t_test(&design, &y, &g, 1, 1, 0.95).is_err());
    }

    #[test]
    fn the_rao_scott_test_as_r_svychisq() {
        let f = Fixture::load();
        let rows = f.wave_rows(1);
        let design = f.design(&rows, false);
        let groups = Grouping::new(rows.iter().map(|&i| f.num("quint")[i] as u32 - 1).collect(), 5).unwrap();
        for (case, var, k) in [(0, "cat", 3u32), (1, "b", 2)] {
            let offset = if var == "cat" { 1 } else { 0 };
            let outcome = Grouping::new(rows.iter().map(|&i| f.num(var)[i] as u32 - offset).collect(), k as usize).unwrap();
            let rs = rao_scott(&design, &outcome, &groups).unwrap();
            let r = &f.json["chisq"][case];
            let id = r["id"].as_str().unwrap();
            close(rs.f, r["F"]["statistic"].as_f64().unwrap(), &format!("{id} F"));
            close(rs.ndf, r["F"]["parameter"]["ndf"].as_f64().unwrap(), &format!("{id} ndf"));
            close(rs.ddf, r["F"]["parameter"]["ddf"].as_f64().unwrap(), &format!("{id} ddf"));
            close(rs.p_value, r["F"]["p_value"].as_f64().unwrap(), &format!("{id} p"));
            close(rs.pearson, r["Chisq"]["statistic"].as_f64().unwrap(), &format!("{id} X2"));
            assert_eq!(rs.chisq_df, r["Chisq"]["parameter"]["df"].as_f64().unwrap());
            close(rs.chisq_p_value, r["Chisq"]["p_value"].as_f64().unwrap(), &format!("{id} chisq p"));
        }
    }

    #[test]
    fn a_table_with_one_category_is_refused() {
        let f = Fixture::load();
        let rows = f.wave_rows(1);
        let design = f.design(&rows, false);
        let one = Grouping::overall(rows.len());
        assert!(rao_scott(&design, &one, &one).is_err());
    }

    #[test]
    fn solve_inverts() {
        let x = solve(vec![2.0, 1.0, 1.0, 3.0], 2, vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        let want = [0.6, -0.2, -0.2, 0.4];
        assert!(x.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15));
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], 2, vec![1.0, 1.0], 1).is_none());
    }
}
