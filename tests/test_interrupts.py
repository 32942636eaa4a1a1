"""Ctrl-C (SIGINT) or SIGTERM during a fit: the process exits, and every process it
started (loky workers, LocalCluster nannies and workers) is gone.

Each case runs a real fit in a child Python process, waits until its worker
processes are busy, signals it, and watches every process the child started.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CHILD = textwrap.dedent(
    """
    import sys
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    from scaleml import Scaled

    if __name__ == "__main__":
        X, y = load_digits(return_X_y=True)
        grid = {"n_estimators": [200, 300, 400, 500], "max_depth": [6, 8, None]}
        search = GridSearchCV(RandomForestClassifier(random_state=0), grid, cv=5, n_jobs=-1)
        print("fitting", flush=True)
        Scaled(search, backend=sys.argv[1]).fit(X, y)
        print("finished", flush=True)
    """
)


def _busy_descendants(proc, timeout=90):
    """Every process the child started, once at least two exist and one works."""
    parent = psutil.Process(proc.pid)
    seen = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            seen.setdefault(child.pid, child)
        busy = [p for p in seen.values() if p.is_running() and p.cpu_percent(0.1) > 30]
        if len(seen) >= 2 and busy:
            time.sleep(0.5)
            for child in parent.children(recursive=True):
                seen.setdefault(child.pid, child)
            return list(seen.values())
        assert proc.poll() is None, "the child ended before its workers started"
    pytest.fail("the child's workers never became busy")


def _alive(processes):
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("backend", ["local", "dask"])
def test_interrupted_fit_leaves_no_process(tmp_path, backend, sig, status):
    pytest.importorskip("distributed") if backend == "dask" else None
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), backend], stdout=subprocess.PIPE,
                            stderr=(tmp_path / "err.txt").open("w"), text=True)
    try:
        assert proc.stdout.readline().strip() == "fitting"
        started = _busy_descendants(proc)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, (tmp_path / "err.txt").read_text()[-2000:]
    deadline = time.monotonic() + 30
    while _alive(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [(p.pid, " ".join(p.cmdline())[:100]) for p in _alive(started)]
    assert not left, f"still running after the child exited: {left}"
