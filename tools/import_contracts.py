"""An import-linter contract type for the facade rule of docs/ARCHITECTURE.md.

Every package directly inside a container (``harness.measure``, ``harness.slo``, ...) is a
boundary: code outside it imports from its ``__init__`` (``from harness.measure import
Recorder``), never from a submodule (``from harness.measure.recorder import Recorder`` or ``import
harness.measure.recorder``). Inside a package, modules import each other freely. Plain modules
such as ``harness.errors`` have no submodules, so the rule does not touch them.

Why a custom type and not import-linter's ``protected`` contract: grimp records ``from
harness.slo import compare`` as an import of the *module* ``harness.slo.compare`` when a
submodule and a re-exported function share a name (``compare``, ``evaluate``, ``distribution``),
so a module-level check would flag the very import the rule asks for. This contract reads the
import statement grimp recorded and accepts it when it names the package itself
(``from harness.slo import ...``). Relative imports are not used in this project and are not
accepted across packages. A new package is covered the moment it exists: no list to maintain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from importlinter import Contract, ContractCheck, fields, output

__all__ = ["FacadeContract", "Violation"]


@dataclass(frozen=True, order=True)
class Violation:
    """One import of a package's submodule from outside the package."""

    importer: str
    imported: str
    line_number: int
    line: str


class FacadeContract(Contract):
    """Packages inside ``containers`` are imported only through their ``__init__``.

    Configuration options:
        - containers: the parent packages whose child packages are facades (e.g. ``harness``).
    """

    type_name = "facades"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        violations: list[Violation] = []
        for container in self.containers:  # type: ignore[attr-defined]
            for package in sorted(graph.find_children(container)):
                violations.extend(_violations(graph, package))
        return ContractCheck(kept=not violations, metadata={"violations": sorted(violations)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for v in check.metadata["violations"]:
            package = ".".join(v.imported.split(".")[:2])
            output.print_error(
                f"{v.importer} -> {v.imported} (l.{v.line_number}): import it from {package}",
                bold=False,
            )
            output.print_error(f"    {v.line}", bold=False)
        output.new_line()


def _violations(graph: Any, package: str) -> list[Violation]:
    facade = re.compile(rf"^\s*from\s+{re.escape(package)}\s+import\b")
    found: list[Violation] = []
    for submodule in sorted(graph.find_descendants(package)):
        for importer in sorted(graph.find_modules_that_directly_import(submodule)):
            if importer == package or importer.startswith(package + "."):
                continue  # inside the package: free
            details = graph.get_import_details(importer=importer, imported=submodule)
            for detail in details or [{"line_number": 0, "line_contents": "?"}]:
                line = str(detail["line_contents"])
                if not facade.match(line):
                    found.append(Violation(importer, submodule, int(detail["line_number"]), line))
    return found
