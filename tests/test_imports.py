import subprocess
import sys


def _python(code: str) -> str:
    """What a fresh interpreter prints running ``code``."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_core_import_stays_light():
    code = (
        "import sys, oasst_quality, oasst_quality.agreement, oasst_quality.aggregation, oasst_quality.consensus, "
        "oasst_quality.skew, oasst_quality.language, oasst_quality.toxicity, oasst_quality.reward, "
        "oasst_quality.report, oasst_quality.cli; "
        "print(sorted(m for m in ('torch', 'transformers', 'detoxify', 'lingua', 'langdetect') if m in sys.modules))"
    )
    assert _python(code) == "[]"


def test_networkx_waits_for_a_graph():
    """``import oasst_quality`` and a load leave networkx unimported; a tree's graph imports it."""
    code = (
        "import sys, oasst_quality as oq, pandas as pd; "
        "ds = oq.load(pd.DataFrame({'message_id': ['a', 'b'], 'parent_id': [None, 'a'], "
        "'message_tree_id': ['a', 'a'], 'role': ['prompter', 'assistant']})); "
        "print('networkx' in sys.modules, end=' '); ds.forest['a']; print('networkx' in sys.modules)"
    )
    assert _python(code) == "False True"


def test_threadpoolctl_waits_for_a_blas_thread_limit():
    """The package imports threadpoolctl only when a summary first limits BLAS to one thread."""
    code = (
        "import sys, oasst_quality, oasst_quality.per_annotator, oasst_quality.aggregation\n"
        "from oasst_quality._util import one_blas_thread\n"
        "print('threadpoolctl' in sys.modules, end=' ')\n"
        "with one_blas_thread():\n"
        "    print('threadpoolctl' in sys.modules)"
    )
    assert _python(code) == "False True"


def _import_graph() -> dict[str, set[str]]:
    """Module -> the oasst_quality modules it imports, at module level or inside a function (a lazy
    import is an edge too); imports under ``if TYPE_CHECKING:`` never run and are left out."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "oasst_quality"
    names = {}
    for path in root.rglob("*.py"):
        parts = ["oasst_quality", *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        names[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in names.items():
        package = module if is_package else module.rpartition(".")[0]
        edges = graph.setdefault(module, set())
        skipped: set[int] = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in names and t != module}
    return graph


def test_the_import_graph_has_no_cycle():
    import networkx as nx

    graph = nx.DiGraph([(a, b) for a, targets in _import_graph().items() for b in targets])
    assert len(graph) > 20  # the graph was read
    cycles = sorted(sorted(c) for c in nx.simple_cycles(graph))
    assert not cycles, cycles


def test_analyses_never_reach_io_the_report_or_the_cli():
    import networkx as nx

    graph = nx.DiGraph([(a, b) for a, targets in _import_graph().items() for b in targets])

    def room(module: str) -> str:
        return module.split(".")[1] if "." in module else ""

    generic = {"agreement", "aggregation", "coding", "consensus", "language", "published", "skew", "toxicity"}
    analyses = [m for m in graph if room(m) in generic | {"per_annotator", "estimate", "verdicts", "reward"}]
    assert len(analyses) > 12  # the modules were found
    edge = {m for m in graph if room(m) in {"io", "report", "cli", "scale", "summaries"}}
    reached = {a: sorted(nx.descendants(graph, a) & edge) for a in analyses}
    assert not {a: r for a, r in reached.items() if r}, reached


def test_the_blas_thread_limit_finds_scipys_blas_whatever_was_imported_first():
    """``_blas_pools`` called before anything imported scipy.optimize still holds scipy's OpenBLAS."""
    code = (
        "from oasst_quality._util import _blas_pools\n"
        "found = len(_blas_pools().lib_controllers)\n"
        "import scipy.optimize\n"
        "from threadpoolctl import ThreadpoolController\n"
        "print(found == len(ThreadpoolController().lib_controllers))"
    )
    assert _python(code) == "True"
