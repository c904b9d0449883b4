"""Property-based tests of the answer normalisers: DPR's answer match and SQuAD's exact match."""

import string

from hypothesis import given
from hypothesis import strategies as st

from eval.metrics import exact_match, normalize_answer, token_f1
from retrievers.answer_text import has_answer, normalize

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
# Words of letters and digits that NFD leaves whole. (NFD splits "ç" into "c" and a combining mark, which
# `\w` does not match, so "ç0" becomes the two words "c 0": the nq-vital rules in ../shared/data/README.md
# define matching this way, and the benchmark keeps it; DPR's own tokenizer keeps the marks.)
WORD = st.text(alphabet=string.ascii_letters + string.digits + "øßæ", min_size=1, max_size=12)


@given(TEXT)
def test_dpr_normalisation_is_idempotent_space_padded_and_blind_to_case_and_punctuation(text):
    once = normalize(text)
    assert normalize(once) == once
    assert once.startswith(" ") and once.endswith(" ") and "  " not in once.strip()
    assert normalize(text.upper()) == normalize(text.lower()) or text.upper().lower() != text.lower()
    assert normalize(f"«{text}»!?") == once


@given(st.lists(WORD, min_size=1, max_size=8), st.lists(WORD, max_size=8), st.lists(WORD, max_size=8))
def test_an_answer_matches_a_passage_that_contains_it(answer, before, after):
    passage = " ".join(before + answer + after) + "."
    assert has_answer([normalize(" ".join(answer))], normalize(passage))


@given(WORD, WORD)
def test_an_answer_never_matches_inside_a_longer_word(word, suffix):
    # Only the two longer words: filler words such as "and" could equal the generated answer ("AND").
    assert not has_answer([normalize(word)], normalize(f"{word}{suffix}, {suffix}{word}s."))


@given(TEXT)
def test_squad_normalisation_is_idempotent_and_drops_articles_punctuation_and_case(text):
    once = normalize_answer(text)
    assert normalize_answer(once) == once
    assert once == once.lower() and not set(once) & set(string.punctuation)
    assert normalize_answer(f"The {text}!") == normalize_answer(text) or not once.strip()


@given(st.lists(WORD, min_size=1, max_size=6))
def test_exact_match_and_f1_agree_on_identical_and_reworded_answers(words):
    answer = " ".join(words)
    assert exact_match(answer, [answer]) == 1.0 and token_f1(answer, [answer]) == 1.0
    assert exact_match(f"the {answer.lower()}.", [answer.upper()]) == 1.0 or "ß" in answer
    assert token_f1("", [answer]) == 0.0 or not normalize_answer(answer)
