"""`import scaleml` and `scaleml --help` must not import any engine (DESIGN principle 3)."""

import importlib.util
import json
import subprocess
import sys

import pytest

ENGINES = ("dask", "distributed", "dask_ml", "torch", "cupy")


def _modules_after(code: str) -> list[str]:
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"print(json.dumps([m for m in {ENGINES!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def engines_installed():
    installed = [m for m in ENGINES if importlib.util.find_spec(m) is not None]
    if not {"dask", "torch"} <= set(installed):
        pytest.skip("dask and torch must be installed for this check to mean anything")
    return installed


@pytest.mark.parametrize(
    "code",
    [
        "import scaleml",
        "import scaleml; scaleml.Scaled; scaleml.backends.available()",
        "import scaleml.nn; scaleml.nn.CNNClassifier(epochs=3).get_params()",
        "from scaleml.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from scaleml.cli import main\n"
        "try:\n    main(['explain', 'StandardScaler', 'RandomForestClassifier'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "Scaled-and-registry", "nn-unfitted", "cli-help", "cli-explain"],
)
def test_no_engine_imported(engines_installed, code):
    assert _modules_after(code) == []


def test_probe_detects_an_import(engines_installed):
    # The probe itself works: importing dask shows up.
    assert _modules_after("import dask") == ["dask"]
