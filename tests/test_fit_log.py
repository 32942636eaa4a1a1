"""scaleml exec -v's fit log: what it reports, and that it never breaks the script it watches."""

import io
import textwrap


def test_the_fit_log_never_breaks_a_script(tmp_path):
    """An estimator whose get_params fails: the script runs under -v as it runs without."""
    from scaleml.runner import run

    script = tmp_path / "odd.py"
    script.write_text(textwrap.dedent("""
        from sklearn.base import BaseEstimator
        class Odd(BaseEstimator):
            def __init__(self, alpha=1.0):
                self._alpha = alpha  # not stored under its own name: get_params fails
            def fit(self, X, y=None):
                return self
        Odd().fit([[1.0]])
        print("fit ok")
    """))
    report = io.StringIO()
    assert run(str(script), verbose=True, report=report) == 0
    assert "1 fit" in report.getvalue() and "Odd" in report.getvalue()
