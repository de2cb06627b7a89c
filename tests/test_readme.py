"""The README's Python examples run as written (in a temporary folder) and do what they claim."""

import pathlib
import re

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    commands = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert "glassnet train" in commands[0]
    assert "pytest" in commands[1]
    assert text.index("glassnet train") < text.index("```python")


@pytest.mark.parametrize("index", range(2))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(_python_blocks()[index], f"README block {index}", "exec"), namespace)
    if index == 0:
        assert namespace["accuracy"] > 0.9
        assert (tmp_path / "digits.glassnet").exists()
    else:
        printed = capsys.readouterr().out
        predictions = np.array(re.findall(r"\[(.*)\]", printed)[0].split(), dtype=float)
        np.testing.assert_array_equal(predictions.round(), [0, 1, 1, 0])
