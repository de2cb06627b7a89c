"""Shared checks for the lab experiment tests (test_lab_fundamentals.py, test_lab_training.py)."""

import json

from glassnet import lab


def run_quick(name, tmp_path_factory, **overrides):
    out = tmp_path_factory.mktemp(name.replace("-", "_"))
    summary = lab.run(name, quick=True, out=str(out), verbose=0, **overrides)
    return summary, out / name


def check_report(name, summary, folder):
    for filename in ("results.json", "report.md", "report.html"):
        assert (folder / filename).is_file(), filename
    saved = json.loads((folder / "results.json").read_text())
    assert saved["experiment"] == name and saved["quick"] is True
    assert isinstance(saved["verdict"]["supported"], bool) and saved["verdict"]["explanation"]
    assert saved["verdict"] == summary["verdict"]
    supported, explanation = lab.get(name).verdict(saved["results"])
    assert supported == saved["verdict"]["supported"]
    assert explanation == saved["verdict"]["explanation"]
    assert saved["figures"], "every experiment draws at least one figure"
    for figure in saved["figures"]:
        assert (folder / figure["file"]).is_file()
    assert saved["tables"], "every experiment reports a table"
    verdict_word = "SUPPORTED" if supported else "NOT SUPPORTED"
    assert f"Verdict: {verdict_word}." in (folder / "report.md").read_text()
    assert f"Verdict: {verdict_word}." in (folder / "report.html").read_text()
    return saved["results"]
