//! Ordering derived variables: each one's expression parsed, the variables it names, and an
//! order in which every derived variable comes after the ones it uses, with cycles reported.
//!
//! Owns the dependency graph of derived variables and its depth-first search. It parses
//! expressions but does not type-check them (`compile` does, in each unit's scope), and it
//! must not look at questions.

use std::collections::{HashMap, HashSet};

use super::super::expr;
use super::super::yaml::{did_you_mean, Problem};
use super::question::RawDerived;
use super::{expr_pos, Sink};

/// Derived variables parsed and placed in dependency order.
pub(super) struct DerivedOrder {
    /// Each derived variable's parsed expression (None after a syntax error), by index.
    pub asts: Vec<Option<expr::Ast>>,
    /// Indices, each after the derived variables it uses.
    pub order: Vec<usize>,
    /// Indices of the derived variables in a cycle (reported, and left out of units).
    pub in_cycle: HashSet<usize>,
}

/// Parses every derived variable, checks that its unit exists, and orders them by dependency.
pub(super) fn order_derived(raw_derived: &[RawDerived], unit_ids: &[&str], sink: &mut Sink) -> DerivedOrder {
    let derived_ids: HashMap<String, usize> = raw_derived.iter().enumerate().map(|(i, d)| (d.id.clone(), i)).collect();
    let mut asts: Vec<Option<expr::Ast>> = Vec::new();
    for d in raw_derived {
        if !unit_ids.contains(&d.unit.as_str()) {
            let m = format!(
                "derived variable '{}': unit '{}' is not a unit{}",
                d.id,
                d.unit,
                did_you_mean(&d.unit, unit_ids.iter().copied())
            );
            sink.add(&d.file, &mut vec![Problem { pos: d.pos, message: m }]);
        }
        asts.push(parse(d, sink));
    }
    let deps: Vec<Vec<usize>> = asts
        .iter()
        .map(|a| {
            let mut ns = Vec::new();
            if let Some(a) = a {
                expr::names(a, &mut ns);
            }
            let mut v: Vec<usize> = ns.iter().filter_map(|(n, _)| derived_ids.get(n).copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let (order, cycles) = depth_first(&deps);
    let mut in_cycle: HashSet<usize> = HashSet::new();
    for c in cycles {
        report_cycle(&c, raw_derived, sink);
        in_cycle.extend(c);
    }
    DerivedOrder { asts, order, in_cycle }
}

/// A derived variable's expression, parsed; None (reported) when it is not text or has a
/// syntax error.
fn parse(d: &RawDerived, sink: &mut Sink) -> Option<expr::Ast> {
    match d.expr.scalar().map(expr::parse::parse) {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            let p = Problem {
                pos: expr_pos(d.expr, e.at),
                message: format!("derived variable '{}': syntax error: {}", d.id, e.message),
            };
            sink.add(&d.file, &mut vec![p]);
            None
        }
        None => {
            let p = Problem {
                pos: d.expr.pos,
                message: format!("derived variable '{}': expr must be text", d.id),
            };
            sink.add(&d.file, &mut vec![p]);
            None
        }
    }
}

/// Post-order of a depth-first search over `deps` (each node after the nodes it depends on),
/// and the cycles met, each as the path from the first node met again back to itself.
fn depth_first(deps: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    fn visit(i: usize, deps: &[Vec<usize>], state: &mut [State], stack: &mut Vec<usize>, order: &mut Vec<usize>, cycles: &mut Vec<Vec<usize>>) {
        state[i] = State::OnStack;
        stack.push(i);
        for &j in &deps[i] {
            if state[j] == State::New {
                visit(j, deps, state, stack, order, cycles);
            } else if state[j] == State::OnStack {
                let start = stack.iter().position(|&s| s == j).unwrap_or(0);
                cycles.push(stack[start..].to_vec());
            }
        }
        stack.pop();
        state[i] = State::Done;
        order.push(i);
    }
    let mut state = vec![State::New; deps.len()];
    let mut order = Vec::new();
    let mut cycles = Vec::new();
    for i in 0..deps.len() {
        if state[i] == State::New {
            visit(i, deps, &mut state, &mut Vec::new(), &mut order, &mut cycles);
        }
    }
    (order, cycles)
}

fn report_cycle(c: &[usize], raw_derived: &[RawDerived], sink: &mut Sink) {
    let names: Vec<&str> = c.iter().map(|&i| raw_derived[i].id.as_str()).collect();
    let first = c[0];
    let msg = if c.len() == 1 {
        format!("derived variable '{}' depends on itself", names[0])
    } else {
        format!(
            "derived variable '{}' depends on itself through a cycle: {} -> {}",
            names[0],
            names.join(" -> "),
            names[0]
        )
    };
    sink.add(
        &raw_derived[first].file,
        &mut vec![Problem {
            pos: raw_derived[first].pos,
            message: msg,
        }],
    );
}

#[cfg(test)]
mod tests {
    use super::depth_first;

    #[test]
    fn dependencies_come_first() {
        // 0 uses 2, 2 uses 1
        let (order, cycles) = depth_first(&[vec![2], vec![], vec![1]]);
        assert_eq!(order, vec![1, 2, 0]);
        assert!(cycles.is_empty());
    }

    #[test]
    fn cycles_are_found_once_each_from_the_first_node_met_again() {
        // 0 -> 1 -> 2 -> 0, and 3 uses itself; 4 uses the cycle
        let (order, cycles) = depth_first(&[vec![1], vec![2], vec![0], vec![3], vec![0]]);
        assert_eq!(cycles, vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(order.len(), 5, "every node placed once: {order:?}");
    }
}
