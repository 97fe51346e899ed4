"""The default install has no numpy (it comes with the ``knowledge`` extra): the Knowledge
module must then run keyword-only instead of failing the node's start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import importlib.abc, sys
    class NoNumpy(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" or name.startswith("numpy."):
                raise ModuleNotFoundError(name)
            return None
    sys.meta_path.insert(0, NoNumpy())
    import importlib.util
    importlib.util.find_spec = (lambda f: lambda name, *a: None if name == "numpy" else f(name, *a))(
        importlib.util.find_spec)
    from pathlib import Path
    from nodebase.kernel.errors import ConfigInvalid
    from nodebase.knowledge.vectors import make_vector_store
    store = make_vector_store("", Path(sys.argv[1]), dense=False)
    print(type(store).__name__, store.describe()["type"])
    try:
        make_vector_store("", Path(sys.argv[1]), dense=True)
    except ConfigInvalid as exc:
        print("refused", "nodebase[knowledge]" in str(exc.errors))
    from nodebase.kernel.config import load_settings
    from nodebase.app import Nodebase
    nb = Nodebase(load_settings({"data_dir": sys.argv[1], "project_dir": sys.argv[1]},
                                env={"NODEBASE_EMBEDDING_URL": "none"}))
    print("node", type(nb.knowledge.vectors).__name__, "numpy" in sys.modules)
""")


def test_no_numpy_means_keyword_only_not_a_failed_start(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["NoVectorStore none", "refused True",
                                        "node NoVectorStore False"]
