"""Long-form planning in bounded steps (issue 30): linear cuts, the same chunks, paragraph ends kept."""

from __future__ import annotations

from polyvox.text.chunks import Chunk, ChunkPlan, chunk_steps, chunk_text, ssml_steps
from polyvox.text.segment import bounded_pieces
from polyvox.text.ssml import Piece

SENTENCE = "Dr. Smith paid 42 dollars on Tuesday, then he left! "


def test_bounded_pieces_cut_after_a_sentence_end_and_lose_nothing() -> None:
    paragraph = SENTENCE * 100
    pieces = bounded_pieces(paragraph, 1000)
    assert "".join(pieces) == paragraph
    assert all(len(p) <= 1000 for p in pieces)
    assert all(p.endswith("left! ") for p in pieces[:-1])
    assert bounded_pieces("x" * 2500, 1000) == ["x" * 1000, "x" * 1000, "x" * 500]  # no space: at the limit


def test_a_long_paragraph_is_planned_in_steps_with_one_paragraph_end() -> None:
    text = SENTENCE * 400 + "\nA second paragraph."  # ~21,000 characters in one paragraph, then one more
    chunks: list[Chunk] = []
    steps = sum(1 for _ in chunk_steps(text, "en", 400, chunks))
    assert steps >= 5
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.paragraph_end for c in chunks].count(True) == 2
    assert chunks[-1].text == "A second paragraph." and chunks[-2].paragraph_end
    assert " ".join(c.text for c in chunks).split() == text.split()
    assert chunks == chunk_text(text, "en", 400)


def test_ssml_steps_keep_pauses_and_rates() -> None:
    plan = ChunkPlan([])
    pieces = [Piece("", pause=0.5), Piece("Fast words here.", rate=1.5), Piece("", pause=2.0), Piece("Slow.")]
    list(ssml_steps(pieces, str.upper, "en", 400, plan))
    assert plan.lead == 0.5
    assert [(c.text, c.rate, c.pause) for c in plan.chunks] == [
        ("FAST WORDS HERE.", 1.5, 2.0),
        ("SLOW.", 1.0, None),
    ]
    assert not any(c.paragraph_end for c in plan.chunks)


def test_ssml_chunks_are_numbered_in_order() -> None:
    plan = ChunkPlan([])  # main numbered a piece's chunks 0, 2, 4: a long-form job rendered the wrong ones
    list(ssml_steps([Piece("One sentence here. " * 60), Piece("Then this.")], str, "en", 400, plan))
    assert [c.index for c in plan.chunks] == list(range(len(plan.chunks))) and len(plan.chunks) == 4
