"""The notebook magics (%load_ext scaleml; %%scaleml cells) in an IPython shell in this process."""


def test_a_failing_cell_under_the_magic_fails():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    assert shell.run_cell("%load_ext scaleml").success
    assert not shell.run_cell("%%scaleml local\nraise ValueError('the cell failed')").success
    assert shell.run_cell("%%scaleml local\nx = 1").success
