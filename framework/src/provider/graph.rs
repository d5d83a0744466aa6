//! Checks the dependency graph declared by [`Inject`](super::Inject) constructors before
//! anything is built: every declared dependency has a provider and there is no cycle.
//! Closure constructors (`provide`) declare nothing and are checked while building.

use super::inject::Dependency;
use super::{describe_chain, ProvideError};
use std::any::TypeId;
use std::collections::{HashMap, HashSet};

/// What the check needs to know about one provider.
pub(super) struct Node {
    pub(super) name: &'static str,
    pub(super) dependencies: Option<Vec<Dependency>>,
}

/// Walks the graph from every provider in registration order (depth first).
pub(super) fn check(nodes: &HashMap<TypeId, Node>, order: &[TypeId]) -> Result<(), ProvideError> {
    let mut done = HashSet::new();
    for root in order {
        let mut path = Vec::new();
        visit(nodes, *root, &mut path, &mut done)?;
    }
    Ok(())
}

fn visit(
    nodes: &HashMap<TypeId, Node>,
    id: TypeId,
    path: &mut Vec<(TypeId, &'static str)>,
    done: &mut HashSet<TypeId>,
) -> Result<(), ProvideError> {
    if done.contains(&id) {
        return Ok(());
    }
    let Some(node) = nodes.get(&id) else {
        return Ok(());
    };
    if path.iter().any(|(seen, _)| *seen == id) {
        let mut names: Vec<_> = path.iter().map(|(_, name)| *name).collect();
        names.push(node.name);
        return Err(ProvideError::Cycle {
            chain: names.join(" -> "),
        });
    }
    path.push((id, node.name));
    for (dependency, name) in node.dependencies.iter().flatten() {
        if !nodes.contains_key(dependency) {
            let names: Vec<_> = path.iter().map(|(_, name)| *name).collect();
            return Err(ProvideError::Missing {
                missing: name,
                chain: describe_chain(&names),
            });
        }
        visit(nodes, *dependency, path, done)?;
    }
    path.pop();
    done.insert(id);
    Ok(())
}
