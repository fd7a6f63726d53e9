"""The layer rules of docs/architecture.md, checked on the code itself.

import-linter (run by ``.ci/run``) holds the contracts between packages; these
tests hold what a contract cannot say: no import cycle between any two modules
(imports inside functions included), and algorithm names compared in at most
two places.
"""

import ast
import pathlib

import grimp

import daskmix
from daskmix.mixture.algorithms import ALGORITHMS

PACKAGE = pathlib.Path(daskmix.__file__).parent


def _strongly_connected(graph, modules):
    """Tarjan's strongly connected components of the import graph restricted to ``modules``."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = iter(range(len(modules) * 2 + 1))

    def visit(module):
        index[module] = low[module] = next(counter)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            components.append(component)

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return components


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("daskmix")  # counts imports inside functions too
    modules = set(graph.modules)
    cycles = [sorted(c) for c in _strongly_connected(graph, modules) if len(c) > 1]
    assert cycles == []


def _algorithm_name_comparisons(tree, names):
    """Comparisons of something named like an algorithm with a registered algorithm's name."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        constants = [
            value
            for operand in operands
            for value in (
                [operand.value] if isinstance(operand, ast.Constant)
                else [e.value for e in getattr(operand, "elts", []) if isinstance(e, ast.Constant)]
            )
        ]
        mentions = any("algorithm" in ast.unparse(operand) for operand in operands)
        if mentions and any(c in names for c in constants):
            found.append(node.lineno)
    return found


def test_algorithm_names_compared_in_at_most_two_places():
    names = set(ALGORITHMS)
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        sites += [f"{path.relative_to(PACKAGE)}:{line}"
                  for line in _algorithm_name_comparisons(tree, names)]
    assert len(sites) <= 2, sites
