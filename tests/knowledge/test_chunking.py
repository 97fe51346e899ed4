"""Bilingual sentence-aware chunking and the CJK keyword terms (pure functions)."""

from __future__ import annotations

import re

import pytest

from nodebase.knowledge import chunking
from nodebase.knowledge.chunking import count_tokens, page_at, sentences, split
from nodebase.knowledge.keywords import document_terms, encode, query_terms

EN = ("The river rises in the mountains. It flows east for nine hundred kilometres! "
      "Does it ever freeze? Only in the coldest winters, when the upper valleys close. ")
ZH = "长江发源于青藏高原。它向东流经十一个省份！冬天会结冰吗？只有最冷的冬天上游才会封冻；下游从不结冰。"


def test_token_count_counts_cjk_characters_and_words() -> None:
    assert count_tokens("Hello, world!") == 2
    assert count_tokens("大熊猫") == 3
    assert count_tokens("I like 大熊猫 a lot") == 7
    assert count_tokens("  ,;. ") == 0


def test_sentences_in_both_languages() -> None:
    text = EN + ZH
    spans = sentences(text)
    got = [text[s:e] for s, e in spans]
    assert got[:4] == ["The river rises in the mountains.", "It flows east for nine hundred kilometres!",
                       "Does it ever freeze?", "Only in the coldest winters, when the upper valleys close."]
    assert got[4:] == ["长江发源于青藏高原。", "它向东流经十一个省份！", "冬天会结冰吗？",
                       "只有最冷的冬天上游才会封冻；", "下游从不结冰。"]


def test_decimal_points_and_abbreviated_numbers_do_not_end_sentences() -> None:
    text = "Version 3.11 is out. It costs 2.50 dollars."
    assert [text[s:e] for s, e in sentences(text)] == ["Version 3.11 is out.", "It costs 2.50 dollars."]


@pytest.mark.parametrize("text", [EN * 40, ZH * 40, (EN + ZH) * 25])
def test_chunks_are_exact_spans_within_limits_and_end_on_sentences(text: str) -> None:
    chunks = split(text)
    assert len(chunks) > 1
    ends = {e for _, e in sentences(text)}
    starts = {s for s, _ in sentences(text)}
    for c in chunks:
        assert c.text == text[c.start:c.end]
        assert c.tokens == count_tokens(c.text)
        assert c.tokens <= chunking.DEFAULT_MAX
        assert c.end in ends, "a chunk ends where a sentence ends"
        assert c.start in starts, "a chunk starts where a sentence starts"
    for c in chunks[:-1]:
        assert c.tokens >= 256, "chunks other than the last are 256-512 tokens"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_overlap_carries_the_last_sentences_forward() -> None:
    chunks = split((EN + ZH) * 25)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end, "consecutive chunks overlap"
        assert count_tokens(a.text[b.start - a.start:]) <= chunking.DEFAULT_OVERLAP
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    text = (EN + ZH) * 25
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_a_very_long_sentence_is_cut_between_words_never_inside_one() -> None:
    words = [f"word{i}" for i in range(1500)]
    text = " ".join(words)  # no sentence end at all
    chunks = split(text)
    assert len(chunks) >= 3
    for c in chunks:
        assert c.tokens <= chunking.DEFAULT_MAX
        assert re.fullmatch(r"word\d+( word\d+)*", c.text), "whole words only"


def test_a_long_chinese_sentence_is_cut_at_commas_first() -> None:
    clause = "我们在山上看到了很多美丽的风景和动物，"
    text = clause * 60 + "结束。"
    chunks = split(text)
    assert len(chunks) >= 2
    for c in chunks[:-1]:
        assert c.text.endswith("，")


def test_tiny_chunks_are_dropped_and_a_short_tail_is_merged() -> None:
    assert split("!!! ... ???") == []
    # a whole document shorter than the minimum is kept as one chunk (it has words)
    assert [c.text for c in split("ok.")] == ["ok."]
    one = split("A short note with six words.")
    assert len(one) == 1 and one[0].text == "A short note with six words."
    text = EN * 40 + "The end."
    chunks = split(text)
    assert chunks[-1].end == len(text)
    assert all(c.tokens >= chunking.DEFAULT_MIN for c in chunks)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        split("x", size=600, max_size=512)
    with pytest.raises(ValueError):
        split("x", size=100, overlap=100)


def test_page_at() -> None:
    assert page_at((), 10) is None
    assert page_at((0, 100, 250), 0) == 1
    assert page_at((0, 100, 250), 99) == 1
    assert page_at((0, 100, 250), 100) == 2
    assert page_at((0, 100, 250), 9999) == 3


def test_keyword_terms_cover_cjk_unigrams_and_bigrams() -> None:
    terms = document_terms("大熊猫 eats Bamboo").split()
    assert terms == [encode(t) for t in ["大", "熊", "猫", "大熊", "熊猫"]] + ["eats", "bamboo"]
    assert all(t.isascii() and t.isalnum() for t in terms)
    # queries use bigrams (a single character stands for itself) and drop English stopwords
    assert query_terms("What do 熊猫 eat?") == [encode("熊猫"), "eat"]
    assert query_terms("猫") == [encode("猫")]
    assert query_terms("café Café") == [encode("café")]
