"""Plots leave the session's matplotlib backend alone (notebooks keep inline plots)."""

import matplotlib

from dataoptim.evaluate.report import comparison_plot


def test_comparison_plot_does_not_switch_backend(monkeypatch):
    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    result = {"tasks": ["vqa"], "runs": [{"name": "a", "scores": {"vqa": {"accuracy": 0.5}}}, {"name": "b", "scores": {"vqa": {"accuracy": 0.25}}}]}
    png = comparison_plot(result)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and calls == []


def test_summary_plot_does_not_switch_backend(monkeypatch, tmp_path):
    from builder_harness import example_records
    from dataoptim.select.summary import SummaryBuilder

    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    builder = SummaryBuilder("examples")
    for record in example_records().values():
        builder.add_record(record)
    summary = builder.build()
    fig = summary.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG" and calls == []
    assert summary.records == 17 and len(fig.axes) == 2
