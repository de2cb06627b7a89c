"""Writing a lab run's three files: ``results.json``, ``report.md`` (figures as PNG files next to
it) and ``report.html`` (self-contained: figures embedded as base64 PNG, inline CSS)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os

import numpy as np

from ..io import atomic_write


def jsonable(value):
    """Plain JSON types from NumPy scalars/arrays and nested containers (NaN/inf become strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def format_cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def command_for(name: str, seed: int, quick: bool, out: str, data=None) -> str:
    parts = ["glassnet", "lab", "run", name, "--seed", str(seed)]
    if quick:
        parts.append("--quick")
    if data:
        parts += ["--data", str(data)]
    parts += ["--out", out]
    return " ".join(parts)


def _png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_report(lab, results: dict, supported: bool, explanation: str, out: str, duration: float) -> dict:
    """Write the three files (and one PNG per figure) into ``out``; return the JSON summary."""
    experiment = lab.experiment
    os.makedirs(out, exist_ok=True)
    command = command_for(experiment.name, lab.seed, lab.quick, out, lab.data)
    figure_files = []
    images = []
    for item in lab.figures:
        data = _png_bytes(item["figure"])
        filename = f"{item['name']}.png"
        atomic_write(os.path.join(out, filename), lambda f, data=data: f.write(data))
        figure_files.append({"file": filename, "caption": item["caption"]})
        images.append((filename, item["caption"], data))
    summary = {
        "experiment": experiment.name, "title": experiment.title, "claim": experiment.claim,
        "criterion": experiment.criterion,
        "verdict": {"supported": bool(supported), "explanation": explanation},
        "parameters": jsonable(lab.params), "seed": lab.seed, "quick": lab.quick,
        "data": None if lab.data is None else str(lab.data), "command": command,
        "duration_seconds": round(duration, 3), "results": jsonable(results),
        "tables": jsonable(lab.tables), "figures": figure_files, "notes": list(lab.notes),
    }
    text = json.dumps(summary, indent=2)
    atomic_write(os.path.join(out, "results.json"), lambda f: f.write(text.encode("utf-8")))
    markdown = _markdown(summary)
    atomic_write(os.path.join(out, "report.md"), lambda f: f.write(markdown.encode("utf-8")))
    page = _html(summary, images)
    atomic_write(os.path.join(out, "report.html"), lambda f: f.write(page.encode("utf-8")))
    return summary


def _verdict_word(summary) -> str:
    return "SUPPORTED" if summary["verdict"]["supported"] else "NOT SUPPORTED"


def _markdown(summary: dict) -> str:
    lines = [f"# {summary['title']}", "", f"**Claim.** {summary['claim']}", "",
             f"**Test.** {summary['criterion']}", "",
             f"**Verdict: {_verdict_word(summary)}.** {summary['verdict']['explanation']}", ""]
    lines += ["## Parameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {format_cell(v)} |" for k, v in summary["parameters"].items()]
    lines += ["", f"Seed {summary['seed']}{', quick mode' if summary['quick'] else ''}; "
                  f"ran in {summary['duration_seconds']:.1f} s.", ""]
    for table in summary["tables"]:
        lines += [f"## {table['title']}", ""]
        if table["caption"]:
            lines += [table["caption"], ""]
        lines.append("| " + " | ".join(table["columns"]) + " |")
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in table["rows"]]
        lines.append("")
    for figure in summary["figures"]:
        lines += [f"![{figure['caption'] or figure['file']}]({figure['file']})", ""]
        if figure["caption"]:
            lines += [f"*{figure['caption']}*", ""]
    for note in summary["notes"]:
        lines += [f"> {note}", ""]
    lines += ["## Rerun", "", "```bash", summary["command"], "```", ""]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:960px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{padding:.8em 1em;border-radius:8px;margin:1em 0}.yes{background:#e6f4ea;border:1px solid #34a853}
.no{background:#fce8e6;border:1px solid #ea4335}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f5f5f7}td:first-child,
th:first-child{text-align:left}figure{margin:1em 0}img{max-width:100%}figcaption{color:#555;font-size:.9em}
pre{background:#f5f5f7;padding:.6em;overflow-x:auto}.claim{font-size:1.05em}
"""


def _html(summary: dict, images: list) -> str:
    e = html.escape
    verdict_class = "yes" if summary["verdict"]["supported"] else "no"
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{e(summary['title'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(summary['title'])}</h1>",
             f"<p class='claim'><b>Claim.</b> {e(summary['claim'])}</p>",
             f"<p><b>Test.</b> {e(summary['criterion'])}</p>",
             f"<div class='verdict {verdict_class}'><b>Verdict: {_verdict_word(summary)}.</b> "
             f"{e(summary['verdict']['explanation'])}</div>",
             "<h2>Parameters</h2><table><tr><th>parameter</th><th>value</th></tr>"]
    parts += [f"<tr><td>{e(str(k))}</td><td>{e(format_cell(v))}</td></tr>" for k, v in summary["parameters"].items()]
    parts.append("</table>")
    parts.append(f"<p>Seed {summary['seed']}{', quick mode' if summary['quick'] else ''}; "
                 f"ran in {summary['duration_seconds']:.1f} s.</p>")
    for table in summary["tables"]:
        parts.append(f"<h2>{e(table['title'])}</h2>")
        if table["caption"]:
            parts.append(f"<p>{e(table['caption'])}</p>")
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in table["columns"]) + "</tr>")
        for row in table["rows"]:
            parts.append("<tr>" + "".join(f"<td>{e(format_cell(v))}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    if images:
        parts.append("<h2>Figures</h2>")
    for filename, caption, data in images:
        encoded = base64.b64encode(data).decode("ascii")
        parts.append(f"<figure><img alt='{e(caption or filename)}' src='data:image/png;base64,{encoded}'>"
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    for note in summary["notes"]:
        parts.append(f"<p><i>{e(note)}</i></p>")
    parts.append(f"<h2>Rerun</h2><pre>{e(summary['command'])}</pre></body></html>")
    return "\n".join(parts)
