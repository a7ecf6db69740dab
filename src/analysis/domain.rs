//! The subpopulation of a request: its expression compiled against the analysis unit, and its
//! mask over the frame.
//!
//! Owns what a `where_` expression may name (the leaf unit's questions and derived variables,
//! the area variables when the definition has geography, `wave`), checking that it is a
//! condition, the variables the frame must hold to evaluate it, and its evaluation to one
//! `bool` per frame row. A subpopulation is a domain of the full design, never a filter: rows
//! outside it stay in the frame and the design. Must not read the store or build designs.

use polars::prelude::{DataFrame, DataType, IntoLazy};

use super::error::WhereProblem;
use super::{frame, AnalysisError};
use crate::schema::expr::{self, ExprType};
use crate::schema::Definition;

/// A compiled subpopulation condition.
pub struct Subpopulation {
    expr: expr::Expr,
    scope: expr::Scope,
}

impl Subpopulation {
    /// Compiles `text` against the leaf unit of `def`: its variables, the area variables (when
    /// the definition has geography) and `wave`. It must be a condition.
    pub fn compile(def: &Definition, text: &str) -> Result<Subpopulation, AnalysisError> {
        let ctx = expr::Context {
            tables: def.tables.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..Default::default()
        };
        let mut scope = def.leaf_unit().scope.clone();
        for g in frame::GEO_VARS.iter().filter(|_| def.geography.is_some()) {
            if scope.slot(g).is_none() {
                let ty = if g.starts_with("imd") { ExprType::Num } else { ExprType::Text };
                scope.push(expr::VarInfo {
                    id: g.to_string(),
                    ty,
                    codes: None,
                });
            }
        }
        if scope.slot("wave").is_none() {
            scope.push(expr::VarInfo {
                id: "wave".into(),
                ty: ExprType::Num,
                codes: None,
            });
        }
        let invalid = |problem: WhereProblem| AnalysisError::Where {
            text: text.to_string(),
            problem,
        };
        let (expr, ty) = expr::compile(text, &scope, &ctx, None).map_err(|problems| invalid(WhereProblem::Invalid { problems }))?;
        if ty != ExprType::Bool {
            return Err(invalid(WhereProblem::NotACondition { found: ty }));
        }
        Ok(Subpopulation { expr, scope })
    }

    /// The variables the condition reads (possibly repeated).
    pub fn variables(&self) -> Vec<String> {
        let mut slots = Vec::new();
        self.expr.slots(&mut slots);
        slots.into_iter().map(|s| self.scope.var(s).id.clone()).collect()
    }

    /// Evaluates the condition on every row of `df` (which holds [`Subpopulation::variables`]):
    /// true for the rows in the subpopulation; a missing result is false.
    pub fn mask(&self, df: &DataFrame) -> Result<Vec<bool>, AnalysisError> {
        let pe = expr::polars::to_polars(&self.expr, &self.scope, None);
        let out = df
            .clone()
            .lazy()
            .select([pe.cast(DataType::Boolean).alias("__where")])
            .collect()
            .map_err(AnalysisError::polars)?;
        let col = out.column("__where").map_err(AnalysisError::polars)?;
        let ca = col.bool().map_err(AnalysisError::polars)?;
        let mut v: Vec<bool> = ca.iter().map(|b| b == Some(true)).collect();
        // a condition that names no column is one value: it holds for every row or none
        v.resize(df.height(), v.first().copied().unwrap_or(false));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    fn def(geography: bool) -> Definition {
        let geo = if geography { "geography: {lsoa: area}\n" } else { "" };
        crate::schema::load_str(
            &format!(
                r#"
survey: t
title: T
version: 1
{geo}units:
  - id: person
    key: id
    questions:
      - {{id: id, type: integer, label: Id}}
      - {{id: area, type: lsoa, label: Area}}
      - {{id: age, type: integer, label: Age}}
"#
            ),
            "t.yaml",
        )
        .unwrap()
    }

    fn problem(def: &Definition, text: &str) -> WhereProblem {
        match Subpopulation::compile(def, text) {
            Err(AnalysisError::Where { text: t, problem }) => {
                assert_eq!(t, text);
                problem
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{text} compiled"),
        }
    }

    #[test]
    fn a_condition_names_its_variables_and_masks_rows() {
        let s = Subpopulation::compile(&def(false), "age >= 65 and wave = 2").unwrap();
        let mut vars = s.variables();
        vars.sort();
        assert_eq!(vars, ["age", "wave"]);
        let df = DataFrame::new(
            4,
            vec![
                Column::new("age".into(), [Some(70i64), Some(70), Some(30), None]),
                Column::new("wave".into(), [2i64, 1, 2, 2]),
            ],
        )
        .unwrap();
        assert_eq!(s.mask(&df).unwrap(), [true, false, false, false], "a missing result is outside");
    }

    #[test]
    fn a_condition_on_no_column_holds_for_every_row_or_none() {
        let df = DataFrame::new(3, vec![Column::new("age".into(), [1i64, 2, 3])]).unwrap();
        let all = Subpopulation::compile(&def(false), "1 = 1").unwrap();
        assert_eq!(all.mask(&df).unwrap(), [true; 3]);
        let none = Subpopulation::compile(&def(false), "1 = 2").unwrap();
        assert_eq!(none.mask(&df).unwrap(), [false; 3]);
    }

    #[test]
    fn problems_are_typed_with_their_columns() {
        match problem(&def(false), "agee > 3") {
            WhereProblem::Invalid { problems } => {
                assert_eq!(problems.len(), 1);
                assert_eq!(problems[0].at, 0);
                assert!(problems[0].message.contains("'agee'"), "{}", problems[0].message);
            }
            p => panic!("{p}"),
        }
        assert_eq!(problem(&def(false), "age + 1"), WhereProblem::NotACondition { found: ExprType::Num });
    }

    #[test]
    fn area_variables_need_geography() {
        assert!(matches!(problem(&def(false), "imd_decile <= 3"), WhereProblem::Invalid { .. }));
        let s = Subpopulation::compile(&def(true), "imd_decile <= 3 and ward != 'x'").unwrap();
        let mut vars = s.variables();
        vars.sort();
        assert_eq!(vars, ["imd_decile", "ward"]);
    }
}
