//! Resolving expressions unit by unit: each unit's scope (its parents' variables, then its own
//! questions, then its own derived variables in dependency order), derived variables
//! type-checked in it, and each question's `relevant`, `constraint` and `required` compiled.
//!
//! Owns what an expression may see and the messages about types and names in expressions.
//! Reading the keys is done before (`question`, `units`); the order of derived variables comes
//! from `order`. It must not report problems of the YAML shape.

use std::collections::HashMap;

use super::super::expr::{self, Context, ExprType, Scope, VarInfo};
use super::super::instruments::Library;
use super::super::model::{Compiled, Derived, Question, Required, Unit};
use super::super::yaml::{did_you_mean, Node, Problem};
use super::order::DerivedOrder;
use super::question::{RawDerived, RawQuestion};
use super::units::RawUnit;
use super::{expr_places, is_id, Sink};

/// What every unit's resolution shares.
pub(super) struct Resolver<'a, 'n> {
    pub library: &'a Library,
    /// Tables of the survey, for question expressions.
    pub survey_ctx: &'a Context,
    pub raw_derived: &'a [RawDerived<'n>],
    pub derived: &'a DerivedOrder,
    /// Whether the one unit got the row-number key (see `units::add_row_key`).
    pub key_auto: bool,
}

impl Resolver<'_, '_> {
    /// Builds the units in `order` (parents first), each in its parent's scope.
    pub(super) fn build_units(&self, raw_units: Vec<RawUnit>, order: &[usize], sink: &mut Sink) -> Vec<Unit> {
        let mut all_ids_by_unit: HashMap<String, String> = HashMap::new();
        for u in &raw_units {
            for q in &u.questions {
                all_ids_by_unit.insert(q.q.id.clone(), u.id.clone());
            }
        }
        for d in self.raw_derived {
            all_ids_by_unit.insert(d.id.clone(), d.unit.clone());
        }
        let mut units: Vec<Unit> = Vec::new();
        let mut raw_units_opt: Vec<Option<RawUnit>> = raw_units.into_iter().map(Some).collect();
        for &ui in order {
            let Some(ru) = raw_units_opt[ui].take() else { continue };
            let parent_scope = ru
                .parent
                .as_ref()
                .and_then(|(p, _)| units.iter().find(|x| &x.id == p))
                .map(|p| p.scope.clone())
                .unwrap_or_default();
            let unit = self.build_unit(&ru, parent_scope, &all_ids_by_unit, sink);
            units.push(unit);
        }
        units
    }

    fn build_unit(&self, ru: &RawUnit, parent_scope: Scope, all_ids_by_unit: &HashMap<String, String>, sink: &mut Sink) -> Unit {
        let mut scope = parent_scope;
        let own_start = scope.len();
        let mut questions: Vec<Question> = Vec::new();
        for rq in &ru.questions {
            let mut q = rq.q.clone();
            q.slot = scope.push(var_info_q(&q));
            questions.push(q);
        }
        let mut scope_elsewhere: HashMap<String, String> = HashMap::new();
        for (id, unit) in all_ids_by_unit {
            if scope.slot(id).is_none() && unit != &ru.id {
                scope_elsewhere.insert(id.clone(), format!("belongs to unit '{unit}', which is not visible from unit '{}'", ru.id));
            }
        }
        let derived = self.compile_derived(&ru.id, &mut scope, &scope_elsewhere, sink);
        // question expressions see the whole unit scope
        let ctx_q = {
            let mut c = self.survey_ctx.clone();
            c.elsewhere = scope_elsewhere;
            c
        };
        for (q, rq) in questions.iter_mut().zip(&ru.questions) {
            self.compile_question(q, rq, &scope, &ctx_q, sink);
        }
        if let Some((k, _)) = &ru.key {
            if let Some(q) = questions.iter_mut().find(|q| &q.id == k) {
                q.required = Required::Yes;
            }
        }
        Unit {
            id: ru.id.clone(),
            label: ru.label.clone(),
            key: ru.key.as_ref().map(|k| k.0.clone()).unwrap_or_default(),
            key_auto: self.key_auto,
            parent: ru.parent.as_ref().map(|p| p.0.clone()),
            questions,
            derived,
            instruments: ru.instruments.clone(),
            scope,
            own_start,
        }
    }

    /// Type-checks the derived variables of `unit` in dependency order, adding each to
    /// `scope`; names of other units' variables are "elsewhere", for better messages.
    fn compile_derived(&self, unit: &str, scope: &mut Scope, scope_elsewhere: &HashMap<String, String>, sink: &mut Sink) -> Vec<Derived> {
        let mut derived: Vec<Derived> = Vec::new();
        for &di in &self.derived.order {
            let d = &self.raw_derived[di];
            if d.unit != unit || self.derived.in_cycle.contains(&di) {
                continue;
            }
            let Some(ast) = &self.derived.asts[di] else { continue };
            let mut ctx = (*d.ctx).clone();
            for (k, v) in scope_elsewhere {
                if scope.slot(k).is_none() {
                    ctx.elsewhere.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            // derived variables not yet placed (later in order, other unit) are "elsewhere"
            match expr::check(ast, scope, &ctx, None) {
                Ok((e, ty)) => {
                    if let Some(one) = checked_derived(d, e, ty, scope, sink) {
                        derived.push(one);
                    }
                }
                Err(errs) => {
                    let place = expr_places(d.expr);
                    let mut ps: Vec<Problem> = errs
                        .into_iter()
                        .map(|er| Problem {
                            pos: place(er.at),
                            message: format!("derived variable '{}': {}", d.id, er.message),
                        })
                        .collect();
                    sink.add(&d.file, &mut ps);
                }
            }
        }
        derived
    }

    /// Compiles a question's `relevant`, `constraint`, `alert` and `required` in its unit's scope (and
    /// its instrument's tables and params).
    fn compile_question(&self, q: &mut Question, rq: &RawQuestion, scope: &Scope, ctx_q: &Context, sink: &mut Sink) {
        let mut qctx = ctx_q.clone();
        if let Some(inst) = &q.instrument {
            if let Some(doc) = self.library.get(inst) {
                qctx.tables.extend(doc.tables.iter().map(|(k, v)| (k.clone(), v.clone())));
                qctx.params.extend(doc.params.iter().map(|(k, v)| (k.clone(), v.value)));
            }
        }
        let mut c = Condition {
            question: &q.id,
            file: &rq.file,
            scope,
            ctx: &qctx,
            sink,
        };
        q.relevant = rq.relevant.and_then(|n| c.compile(n, "relevant", None));
        q.constraint = rq.constraint.and_then(|n| c.compile(n, "constraint", Some(q.slot)));
        q.alert = rq.alert.and_then(|n| c.compile(n, "alert", Some(q.slot)));
        if let Some(r) = rq.required.and_then(|n| c.required(n)) {
            q.required = Required::When(r);
        }
    }
}

/// A derived variable whose expression type-checked: its declared type compared, and its slot
/// taken in `scope`. None (reported) for a multiple choice.
fn checked_derived(d: &RawDerived, e: expr::Expr, ty: ExprType, scope: &mut Scope, sink: &mut Sink) -> Option<Derived> {
    if let Some((want, tpos)) = d.ty {
        if want != ty {
            sink.add(
                &d.file,
                &mut vec![Problem {
                    pos: tpos,
                    message: format!(
                        "derived variable '{}': type mismatch: declared {}, but the expression gives a {}",
                        d.id,
                        want.name(),
                        ty.name()
                    ),
                }],
            );
        }
    }
    if ty == ExprType::Multi {
        sink.add(
            &d.file,
            &mut vec![Problem {
                pos: d.pos,
                message: format!("derived variable '{}' cannot be a multiple choice", d.id),
            }],
        );
        return None;
    }
    let mut kind_problems = Vec::new();
    if let Some((_, pos)) = d.higher_is {
        if !matches!(ty, ExprType::Num | ExprType::Bool) {
            kind_problems.push(Problem {
                pos,
                message: format!(
                    "derived variable '{}': higher_is applies to a number or a yes/no variable, not a {}",
                    d.id,
                    ty.name()
                ),
            });
        }
    }
    if (d.range.0.is_some() || d.range.1.is_some()) && ty != ExprType::Num {
        kind_problems.push(Problem {
            pos: d.pos,
            message: format!("derived variable '{}': min and max apply to a number, not a {}", d.id, ty.name()),
        });
    }
    if !kind_problems.is_empty() {
        sink.add(&d.file, &mut kind_problems);
    }
    let codes = d.choices.as_ref().map(|c| c.codes());
    let slot = scope.push(VarInfo { id: d.id.clone(), ty, codes });
    Some(Derived {
        id: d.id.clone(),
        label: d.label.clone(),
        expr: Compiled {
            text: d.expr.scalar().unwrap_or("").to_string(),
            expr: e,
            ty,
        },
        choices: d.choices.clone(),
        instrument: d.instrument.clone(),
        higher_is: d.higher_is.map(|(h, _)| h),
        min: d.range.0,
        max: d.range.1,
        headline: d.headline,
        slot,
    })
}

/// Compiles the conditions of one question.
struct Condition<'a> {
    question: &'a str,
    file: &'a str,
    scope: &'a Scope,
    ctx: &'a Context,
    sink: &'a mut Sink,
}

impl Condition<'_> {
    fn report(&mut self, pos: super::super::yaml::Pos, message: String) {
        self.sink.add(self.file, &mut vec![Problem { pos, message }]);
    }

    /// A condition (boolean expression) written under `kind`; `dot` is the slot `.` stands for.
    fn compile(&mut self, n: &Node, kind: &str, dot: Option<usize>) -> Option<Compiled> {
        let Some(text) = n.scalar() else {
            let message = format!("question '{}': {kind} must be an expression (text)", self.question);
            self.report(n.pos, message);
            return None;
        };
        match expr::compile(text, self.scope, self.ctx, dot) {
            Ok((e, ty)) => {
                if ty != ExprType::Bool {
                    let message = format!(
                        "question '{}': type mismatch: {kind} must be a condition (boolean), found a {}",
                        self.question,
                        ty.name()
                    );
                    self.report(n.pos, message);
                    return None;
                }
                Some(Compiled {
                    text: text.to_string(),
                    expr: e,
                    ty,
                })
            }
            Err(errs) => {
                let place = expr_places(n);
                let mut ps: Vec<Problem> = errs
                    .into_iter()
                    .map(|er| Problem {
                        pos: place(er.at),
                        message: format!("question '{}': {kind}: {}", self.question, er.message),
                    })
                    .collect();
                self.sink.add(self.file, &mut ps);
                None
            }
        }
    }

    /// `required:` as a condition. A lone word that names nothing (`required: maybe`) is a
    /// wrong value, not an expression.
    fn required(&mut self, n: &Node) -> Option<Compiled> {
        let stray = n.scalar().filter(|t| {
            !n.is_quoted() && is_id(t) && self.scope.slot(t).is_none() && !self.ctx.params.contains_key(*t) && !self.ctx.elsewhere.contains_key(*t)
        });
        if let Some(word) = stray {
            let cands = ["true", "false"].into_iter().chain(self.scope.ids());
            let message = format!(
                "question '{}': required must be true, false or a condition, found '{word}', which is not a question{}",
                self.question,
                did_you_mean(word, cands)
            );
            self.report(n.pos, message);
            return None;
        }
        self.compile(n, "required", None)
    }
}

fn var_info_q(q: &Question) -> VarInfo {
    VarInfo {
        id: q.id.clone(),
        ty: q.expr_type(),
        codes: q.choices.as_ref().map(|c| c.codes()),
    }
}
