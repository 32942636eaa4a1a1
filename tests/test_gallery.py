"""Gallery-style scripts we did not shape for scaleml, run unchanged under `scaleml exec`.

Each script in tests/gallery/ (in the manner of scikit-learn's examples, on bundled
or generated data) runs three ways: plain `python`, `scaleml exec --backend dask`
(on real `dask scheduler` / `dask worker` processes) and `scaleml exec --backend
local -o n_jobs=-1`. The printed numbers must be identical, and on dask the
scheduler must have run the script's work.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GALLERY = sorted((Path(__file__).parent / "gallery").glob("*.py"))


def _run(*args, cwd):
    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=280, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _transitions(client):
    """Task state transitions the scheduler has made so far."""
    return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)


@pytest.mark.parametrize("script", GALLERY, ids=lambda p: p.stem)
def test_gallery_script_gives_the_same_numbers_on_every_backend(script, external_cluster, tmp_path):
    address, client = external_cluster
    plain = _run(script, cwd=tmp_path).stdout
    before = _transitions(client)
    on_dask = _run("-m", "scaleml", "exec", "-b", "dask", "-o", f"address={address}", "-v", script, cwd=tmp_path)
    assert on_dask.stdout == plain
    assert "Dask: " in on_dask.stderr, on_dask.stderr  # the -v report: some fit sent tasks
    assert _transitions(client) > before, "the scheduler ran none of the script's work"
    spread = _run("-m", "scaleml", "exec", "-b", "local", "-o", "n_jobs=-1", script, cwd=tmp_path)
    assert spread.stdout == plain
