"""Every snippet in README.md runs, so the README cannot drift from the code.

The machinery and the list of snippets not run (NOT_RUN, each with its reason) are
tests/test_docs.py's, shared with the docs site: python blocks run in order, each
plain one in a namespace holding the data it assumes (X, y, a pipeline, ...), IPython
magics on one IPython shell; every command line of the bash blocks runs in a folder
with the files it names. A snippet neither run nor listed fails the test. The README
is the front door: short (DESIGN.md, principle 15), with the Quick start's two jobs.
"""

import pytest

import test_docs as docs

pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return docs.make_folder(tmp_path_factory.mktemp("readme"))


def test_every_python_snippet_runs(folder, monkeypatch):
    monkeypatch.chdir(folder)
    assert docs.run_python_blocks(docs.README) >= 4


@pytest.mark.parametrize("command", docs.command_lines([docs.README]))
def test_every_command_runs(command, folder):
    docs.run_command(command, folder)


def test_nothing_is_left_unaccounted():
    docs.check_kinds(docs.README)


def test_the_readme_is_a_front_door():
    """At most 300 lines, the Quick start's two commands as they are, and links into the docs that exist."""
    import re

    text = docs.README.read_text()
    assert len(text.splitlines()) <= 300
    assert "make demo   # set up, then compare backends" in text and "make test   # set up, then run the test suite" in text
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (docs.ROOT / target).is_file(), f"README links to {target}, which is not there"


def test_every_cluster_profile_loads_and_its_arguments_are_the_engines(tmp_path):
    """The README's profiles of "Past one machine", read as scaleml reads a profile file."""
    shown = [body for lang, body in docs.blocks(docs.README) if lang == "yaml" and "cluster:" in body]
    assert len(shown) >= 4
    for body in shown:
        docs._check_cluster_profile(tmp_path, body)
