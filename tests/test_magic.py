"""The notebook magics (%load_ext scaleml; %%scaleml cells) in an IPython shell in this process."""


def test_a_failing_cell_under_the_magic_fails():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert shell.run_cell("%load_ext scaleml").success
    assert not shell.run_cell("%%scaleml local\nraise ValueError('the cell failed')").success
    assert shell.run_cell("%%scaleml local\nx = 1").success


def test_a_session_backend_with_resume_reads_back_what_a_cell_fitted(tmp_path, capfd):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert shell.run_cell("%load_ext scaleml").success
    setup = ("from sklearn.datasets import make_classification\nfrom sklearn.linear_model import LogisticRegression\n"
             "from sklearn.model_selection import cross_val_score\nX, y = make_classification(100, 4, random_state=0)")
    assert shell.run_cell(setup).success
    for _ in range(2):
        assert shell.run_cell(f"%scaleml local -o resume={tmp_path}").success
        assert shell.run_cell("scores = cross_val_score(LogisticRegression(), X, y, cv=4)").success
        assert shell.run_cell("%scaleml off").success
    said = capfd.readouterr().err
    assert "0 units read back, 4 fitted and written" in said
    assert "4 units read back, 0 fitted and written" in said
