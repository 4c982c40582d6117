"""hybridlib.book.closing: the closing chapter says what the other chapters' tests say."""

from __future__ import annotations

import json

from hybridlib.book import closing
from hybridlib.evidence import CLAIM, comparison_table, direction
from hybridlib.paths import RESULTS_ENV
from hybridlib.runs import RunStore


def test_the_claim_paragraph_carries_the_results_chapter_s_verdict():
    records = RunStore().load("cpu", accept_code=True)
    row = comparison_table(records, [CLAIM]).iloc[0]
    text = closing.claim_paragraph(records, "cpu")
    assert closing.VERDICT[direction(row)] in text
    assert f"{row.paired_seeds} paired seeds" in text
    assert "is ruled out" in text  # the equivalence test's sentence follows
    assert "says nothing about the claim yet" in closing.claim_paragraph([], "cpu")


def test_the_study_and_scale_paragraphs():
    assert "is open" in closing.study_paragraph([])
    text = closing.scale_paragraph("cpu")
    assert "width 8 for 6 epochs" in text
    assert "at width 64, the official DiffStride recipe for 400 epochs" in text


def test_the_paper_price_uses_a_recorded_gpu_check_when_there_is_one(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    assert "No GPU has measured" in closing.paper_price_paragraph()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "gpu.json").write_text(json.dumps(
        {"device_name": "NVIDIA H100", "paper_price": {"gpu_hours": 321.0}}))
    text = closing.paper_price_paragraph()
    assert "264 runs" in text and "Measured on NVIDIA H100" in text and "about 321 GPU" in text
