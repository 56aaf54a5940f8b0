"""A contract import-linter does not ship: packages meet only at their public surface.

A module outside a listed package may import the package itself (its `__init__`, whose
`__all__` is the surface), never a module inside it. Run by `make lint` (`lint-imports`).
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class PublicSurfaceContract(Contract):
    """Each of `packages` is imported from outside only as a whole."""

    type_name = "public_surface"
    packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Every import of a module inside a package by a module outside it, with lines."""
        violations: list[tuple[str, str, list[int]]] = []
        for package in self.packages:  # type: ignore[attr-defined]
            inside = package.name
            for module in sorted(graph.find_descendants(inside)):
                for importer in sorted(graph.find_modules_that_directly_import(module)):
                    if importer == inside or importer.startswith(inside + "."):
                        continue
                    details = graph.get_import_details(importer=importer, imported=module)
                    lines = sorted(detail["line_number"] for detail in details)
                    violations.append((importer, module, lines))
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """One line per import that goes past a package's surface."""
        for importer, module, lines in check.metadata["violations"]:
            where = ", ".join(str(line) for line in lines)
            package = module.rsplit(".", 1)[0]
            output.print_error(
                f"{importer} (line {where}) imports {module}: "
                f"import the name from {package} (add it to its __all__)"
            )
            output.new_line()
