"""``model.py``: the exported network as one file that needs only torch.

Nothing here is a second copy of the model zoo: the file is generated from the source of
``automtl.models`` itself. Starting from the topology's class, the names each definition uses
are followed through ``automtl.models`` imports (``inspect``/``ast`` on the real modules); the
definitions they reach are copied verbatim in dependency order, the registry decorator and the
``automtl`` imports are dropped, the config classes become ``SimpleNamespace`` (the models only
read attributes) and the config is embedded as a plain dict. A small preprocessing helper
(standardisation and vocabulary lookup from the embedded schema) lets it score raw rows.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pprint
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from automtl.config import ModelConfig
from automtl.export.render import render

MODELS_PACKAGE = "automtl.models"
CONFIG_MODULE = "automtl.config"
#: decorators that only matter inside automtl (registration) and are left out
_DROPPED_DECORATORS = {"register_topology"}
#: imports the generated helpers themselves need, as (module, name or None)
_HELPER_IMPORTS = [("math", None), ("collections.abc", "Mapping"),
                   ("types", "SimpleNamespace"), ("typing", "Any"), ("torch", None),
                   ("torch", "nn")]


@dataclass
class _Module:
    """One parsed ``automtl.models`` module: its source lines, definitions and imports."""

    name: str
    source: str
    definitions: dict[str, ast.stmt] = field(default_factory=dict)
    #: bound name -> (module, imported name or None for ``import x``)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str) -> _Module:
        source = inspect.getsource(importlib.import_module(name))
        parsed = cls(name, source)
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                parsed.definitions[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        parsed.definitions[target.id] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                parsed.definitions[node.target.id] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    parsed.imports[bound] = (alias.name if alias.asname else bound, None)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    parsed.imports[alias.asname or alias.name] = (node.module, alias.name)
        return parsed

    def segment(self, node: ast.stmt) -> str:
        """The definition's source with its leading comments, minus registry decorators."""
        lines = self.source.splitlines()
        dropped: set[int] = set()
        start = node.lineno
        for decorator in getattr(node, "decorator_list", []):
            start = min(start, decorator.lineno)
            if _decorator_name(decorator) in _DROPPED_DECORATORS:
                dropped.update(range(decorator.lineno, (decorator.end_lineno or 0) + 1))
        while start > 1 and lines[start - 2].lstrip().startswith("#"):
            start -= 1
        assert node.end_lineno is not None
        return "\n".join(line for number, line in enumerate(lines[start - 1:node.end_lineno],
                                                             start=start)
                         if number not in dropped)


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _used_names(node: ast.stmt) -> list[str]:
    """Names a definition reads, in source order, ignoring its decorators."""
    roots: list[ast.AST] = [node]
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        decorators = {id(d) for d in node.decorator_list}
        roots = [child for child in ast.iter_child_nodes(node) if id(child) not in decorators]
    names: list[str] = []
    for root in roots:
        for sub in ast.walk(root):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) \
                    and sub.id not in names:
                names.append(sub.id)
    return names


@dataclass
class _Extraction:
    """What the walk over the model zoo's source found for one topology."""

    modules: dict[str, _Module] = field(default_factory=dict)
    #: (module, name) in dependency order (each after everything it uses)
    order: list[tuple[str, str]] = field(default_factory=list)
    config_names: set[str] = field(default_factory=set)
    imports: set[tuple[str, str | None, str]] = field(default_factory=set)

    def module(self, name: str) -> _Module:
        if name not in self.modules:
            self.modules[name] = _Module.parse(name)
        return self.modules[name]

    def visit(self, module_name: str, name: str, visiting: set[tuple[str, str]]) -> None:
        key = (module_name, name)
        if key in self.order or key in visiting:
            return
        module = self.module(module_name)
        node = module.definitions.get(name)
        if node is None:
            raise ValueError(f"{module_name} has no top-level definition {name!r}")
        visiting.add(key)
        for used in _used_names(node):
            self.resolve(module, used, visiting)
        visiting.discard(key)
        clash = [m for m, n in self.order if n == name]
        if clash:
            raise ValueError(f"model.py would define {name!r} twice ({clash[0]} and "
                             f"{module_name}); rename one of them")
        self.order.append(key)

    def resolve(self, module: _Module, name: str, visiting: set[tuple[str, str]]) -> None:
        if name in module.definitions:
            self.visit(module.name, name, visiting)
            return
        if name not in module.imports:
            return  # a builtin, or a local name of the definition
        source, imported = module.imports[name]
        if source == MODELS_PACKAGE or source.startswith(MODELS_PACKAGE + "."):
            if imported is None or imported != name:
                raise ValueError(f"{module.name}: import {name!r} from {source} by its own "
                                 "name so model.py can be generated")
            self.visit(source, imported, visiting)
        elif source == CONFIG_MODULE:
            self.config_names.add(name)
        elif source.split(".")[0] == "automtl":
            raise ValueError(f"{module.name} uses {name!r} from {source}: model.py can only "
                             f"contain automtl.models code and the config")
        else:
            self.imports.add((source, imported, name))


def extract(model_class: type) -> _Extraction:
    """Walk the source the topology ``model_class`` needs, starting from the class itself."""
    if not model_class.__module__.startswith(MODELS_PACKAGE):
        raise ValueError(f"{model_class.__qualname__} is not defined in {MODELS_PACKAGE}")
    extraction = _Extraction()
    extraction.visit(model_class.__module__, model_class.__name__, set())
    return extraction


def _import_lines(imports: set[tuple[str, str | None, str]]) -> list[str]:
    """Grouped like isort: ``from __future__``, standard library, then torch."""
    plain: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    for source, imported, bound in imports:
        if imported is None:
            plain.setdefault(source, set()).add(source if bound == source
                                                else f"{source} as {bound}")
        else:
            text = imported if imported == bound else f"{imported} as {bound}"
            names.setdefault(source, set()).add(text)

    def block(third_party: bool) -> list[str]:
        modules = sorted(m for m in set(plain) | set(names)
                         if (m.split(".")[0] == "torch") == third_party)
        out = [f"import {text}" for m in modules for text in sorted(plain.get(m, ()))]
        out += [f"from {m} import {', '.join(sorted(names[m]))}" for m in modules if m in names]
        return out

    return ["from __future__ import annotations", "", *block(False), "", *block(True)]


def model_source(config: ModelConfig, *, title: str = "") -> str:
    """The text of ``model.py`` for ``config`` (its topology's code with ``config`` embedded)."""
    from automtl.models.registry import get_topology

    model_class = get_topology(config.topology)
    extraction = extract(model_class)
    imports = set(extraction.imports)
    imports.update((module, name, name or module) for module, name in _HELPER_IMPORTS)
    definitions = []
    for module_name, name in extraction.order:
        module = extraction.modules[module_name]
        code = module.segment(module.definitions[name])
        definitions.append(f"# from {module_name}\n{code}")
    aliases = "\n".join(f"{name} = SimpleNamespace" for name in sorted(extraction.config_names))
    embedded = pprint.pformat(config.model_dump(mode="json"), width=99, sort_dicts=False)
    replacements: dict[str, Any] = {
        "TITLE": title or f"{config.topology} network",
        "TOPOLOGY": config.topology,
        "CLASS": model_class.__name__,
        "IMPORTS": "\n".join(_import_lines(imports)),
        "CONFIG": embedded,
        "CONFIG_ALIASES": aliases,
        "DEFINITIONS": "\n\n\n".join(definitions),
    }
    return render("model.py.tmpl", **replacements)


def load_module(path: str | Path, name: str = "exported_model") -> ModuleType:
    """Import a generated ``model.py`` from ``path`` (for tests and for checking a bundle)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
