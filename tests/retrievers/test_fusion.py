import math

import pytest

from retrievers.fusion import linear_fusion, normalize_scores, reciprocal_rank_fusion


def test_rrf_matches_hand_computed_scores():
    sparse = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    dense = [("c", 0.9), ("a", 0.8), ("d", 0.1)]
    fused = dict(reciprocal_rank_fusion([sparse, dense], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)
    ranked = [pid for pid, _ in reciprocal_rank_fusion([sparse, dense], k=60)]
    assert ranked == ["a", "c", "b", "d"]


def test_rrf_weights_top_k_and_deterministic_ties():
    fused = reciprocal_rank_fusion([[("x", 1.0)], [("y", 1.0)]], k=60)
    assert [pid for pid, _ in fused] == ["x", "y"]  # equal scores: by id
    weighted = reciprocal_rank_fusion([[("x", 1.0)], [("y", 1.0)]], k=60, weights=[1.0, 2.0], top_k=1)
    assert weighted == [("y", pytest.approx(2 / 61))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[("x", 1.0)]], weights=[1.0, 2.0])


def test_normalisations():
    assert normalize_scores({"a": 1.0, "b": 3.0}, "minmax") == {"a": 0.0, "b": 1.0}
    z = normalize_scores({"a": 1.0, "b": 3.0}, "zscore")
    assert z == {"a": pytest.approx(-1.0), "b": pytest.approx(1.0)}
    assert normalize_scores({"a": 2.0, "b": 2.0}, "zscore") == {"a": 0.0, "b": 0.0}
    assert normalize_scores({"a": 2.0}, "none") == {"a": 2.0}


def test_linear_fusion_is_dprs_bm25_plus_lambda_sim():
    sparse = {"a": 10.0, "b": 4.0}
    dense = {"a": 0.2, "b": 0.9}
    fused = dict(linear_fusion(sparse, dense, weight=1.1, normalization="none"))
    assert fused["a"] == pytest.approx(10.0 + 1.1 * 0.2)
    assert fused["b"] == pytest.approx(4.0 + 1.1 * 0.9)
    # normalised: minmax puts both runs on [0, 1], so the dense run can win
    ranked = linear_fusion(sparse, dense, weight=1.1, normalization="minmax")
    assert [pid for pid, _ in ranked] == ["b", "a"]
    assert dict(ranked)["b"] == pytest.approx(0.0 + 1.1 * 1.0)


def test_linear_fusion_gives_a_missing_id_the_runs_lowest_score_and_leaves_inputs_alone():
    sparse = {"a": 3.0, "b": 1.0}
    dense = {"c": 0.5, "a": 0.7}
    before = (dict(sparse), dict(dense))
    fused = dict(linear_fusion(sparse, dense, weight=1.0, normalization="none"))
    assert fused["c"] == pytest.approx(1.0 + 0.5)
    assert fused["b"] == pytest.approx(1.0 + 0.5)
    assert (sparse, dense) == before
    assert linear_fusion({}, {}) == []
    assert all(math.isfinite(s) for _, s in linear_fusion({"a": 1.0}, {"a": 1.0}))


def test_relative_and_distribution_based_fusion_scale_each_run_before_adding():
    from retrievers.fusion import Fusion, Normalization, fusion_normalization

    sparse = {"a": 10.0, "b": 5.0, "c": 0.0}
    dense = {"a": 0.2, "b": 0.6, "c": 1.0}
    rsf = dict(linear_fusion(sparse, dense, weight=1.0, normalization=fusion_normalization(Fusion.RSF, "zscore")))
    assert rsf == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})  # min-max: 1 + 0, 0.5 + 0.5, 0 + 1
    values = [10.0, 5.0, 0.0]
    mean, sd = sum(values) / 3, math.sqrt(sum((v - 5.0) ** 2 for v in values) / 3)
    scaled = normalize_scores(sparse, Normalization.DBSF)
    assert scaled["a"] == pytest.approx((10.0 - (mean - 3 * sd)) / (6 * sd))
    assert 0 < scaled["c"] < scaled["b"] < scaled["a"] < 1  # mean +- 3 sd maps to [0, 1]
    assert fusion_normalization("linear", "minmax") is Normalization.MINMAX  # linear keeps the one configured
    assert fusion_normalization("dbsf", "zscore") is Normalization.DBSF
