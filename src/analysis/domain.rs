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
