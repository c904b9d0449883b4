import math

import pytest

from eval.metrics import (
    answer_contained,
    citation_accuracy,
    exact_match,
    first_answer_rank,
    lexical_support,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    token_f1,
)


def test_first_answer_rank_uses_dpr_token_boundaries():
    texts = ["Founded in 19721 by nobody.", "The tower opened in 1889.", "Opened 1889, again."]
    assert first_answer_rank(texts, ["1889"]) == 2
    assert first_answer_rank(texts, ["1972"]) is None  # 19721 is not 1972
    assert first_answer_rank(texts, ["", "  "]) is None  # empty answers match nothing


def test_recall_mrr_ndcg_by_hand():
    gold = {"a": 1, "b": 1}
    ranked = ["x", "a", "a", "y", "b"]  # the repeat of "a" (a second passage of it) counts once
    assert recall_at_k(ranked, gold, 1) == 0.0
    assert recall_at_k(ranked, gold, 2) == 0.5
    assert recall_at_k(ranked, gold, 4) == 1.0  # distinct documents: x, a, y, b
    assert mrr_at_k(ranked, gold, 1) == 0.0
    assert mrr_at_k(ranked, gold, 5) == 0.5
    # DCG@4 = 1/log2(3) + 1/log2(5); ideal = 1/log2(2) + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranked, gold, 4) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], gold, 2) == pytest.approx(1.0)
    assert recall_at_k(ranked, {}, 5) == 0.0 and ndcg_at_k(ranked, {"z": 0}, 5) == 0.0


def test_graded_ndcg_prefers_the_more_relevant_document_first():
    gold = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b"], gold, 2) == pytest.approx(1.0)
    worse = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], gold, 2) == pytest.approx(worse)


def test_squad_exact_match_and_f1():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the Eiffel tower.", ["Eiffel Tower", "tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    # pred "eiffel" vs gold "eiffel tower": precision 1, recall 1/2, F1 2/3; the best gold wins
    assert token_f1("Eiffel", ["Eiffel Tower", "Paris"]) == pytest.approx(2 / 3)
    assert token_f1("London", ["Paris"]) == 0.0
    assert token_f1("", [""]) == 1.0 and token_f1("the", ["Paris"]) == 0.0


def test_answer_contained_and_citations():
    assert answer_contained("It was designed by Gustave Eiffel in 1887.", ["gustave eiffel"]) == 1.0
    assert answer_contained("Eiffelsson designed it.", ["Eiffel"]) == 0.0
    assert citation_accuracy([], ["Mars"]) is None
    assert citation_accuracy(["Venus is hot.", "Mars is red."], ["Mars"]) == 1.0
    assert citation_accuracy(["Venus is hot."], ["Mars"]) == 0.0


def test_lexical_support_counts_content_words_found_in_the_passages():
    passages = ["Mars is called the red planet because of iron oxide."]
    assert lexical_support("Mars is the red planet.", passages) == 1.0
    # content words: mars, made, green, cheese -> one of four is supported
    assert lexical_support("Mars is made of green cheese.", passages) == pytest.approx(1 / 4)
    assert lexical_support("It is the.", passages) is None
