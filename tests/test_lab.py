"""The lab as a whole: the command line, the registry, and the HTML report in a real browser."""

import json
import re
import shutil
import subprocess

import pytest

import glassnet as gn
from glassnet import cli, lab
from glassnet.errors import UnknownNameError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_every_registered_experiment_loads_and_declares_its_claim():
    assert len(lab.names()) == 13
    for name in lab.names():
        experiment = lab.get(name)
        assert experiment.name == name
        assert experiment.title and experiment.claim and experiment.criterion
        assert experiment.settings(quick=True) != {} and set(experiment.quick_parameters) <= set(experiment.parameters)


def test_unknown_experiment_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="perceptron"):
        lab.get("perceptorn")


def test_lab_list_and_run_from_the_command_line(tmp_path, capsys):
    assert cli.main(["lab", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in lab.names())
    assert cli.main(["lab", "run", "perceptron", "--quick", "--seed", "3", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "perceptron" / "results.json").read_text())
    assert summary["seed"] == 3 and summary["quick"] is True
    assert summary["command"] == f"glassnet lab run perceptron --seed 3 --quick --out {tmp_path / 'perceptron'}"
    assert (tmp_path / "perceptron" / "report.md").read_text().startswith("# Perceptron")


def test_same_seed_same_numbers(tmp_path):
    first = lab.run("perceptron", quick=True, seed=1, out=str(tmp_path / "a"), verbose=0)
    second = lab.run("perceptron", quick=True, seed=1, out=str(tmp_path / "b"), verbose=0)
    assert first["results"] == second["results"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_html_report_renders_in_a_real_browser_with_every_image_loaded(tmp_path):
    summary = lab.run("perceptron", quick=True, out=str(tmp_path), verbose=0)
    report = (tmp_path / "perceptron" / "report.html").read_text()
    probe = """<script>
    window.addEventListener('load', function () {
      var images = Array.from(document.images);
      var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
      var box = document.createElement('div'); box.id = 'image-check';
      box.textContent = 'loaded=' + loaded + ' total=' + images.length;
      document.body.appendChild(box);
    });
    </script>"""
    page = tmp_path / "perceptron" / "probe.html"
    page.write_text(report.replace("</body>", probe + "</body>"))
    completed = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.findall(r'id="image-check">loaded=(\d+) total=(\d+)<', completed.stdout)
    assert found, completed.stderr[-2000:]
    loaded, total = map(int, found[0])
    assert total == len(summary["figures"]) > 0
    assert loaded == total
    assert summary["title"] in completed.stdout and "SUPPORTED" in completed.stdout
