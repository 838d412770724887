"""Generation metrics on known strings, scored like LLaMA-Factory (percentages)."""

from __future__ import annotations

import pytest

from training_app.trainer.evaluate import generation_metrics, similarity


def test_identical_strings_score_100():
    result = generation_metrics(["The model answers the question."], ["The model answers the question."])
    for key in ("bleu_4", "rouge_1", "rouge_2", "rouge_l", "exact_match"):
        assert result[key] == pytest.approx(100), key
    assert result["predict_bleu-4"] == result["bleu_4"] and result["predict_rouge-l"] == result["rouge_l"]


def test_disjoint_strings_score_about_zero():
    result = generation_metrics(["xyz qqq www"], ["The answer is Paris"])
    assert result["rouge_1"] == result["rouge_2"] == result["rouge_l"] == result["exact_match"] == 0
    assert result["bleu_4"] < 5


def test_chinese_is_segmented_into_words():
    # Without segmentation a Chinese sentence is one "word" and any difference gives ROUGE 0.
    scores = similarity("我们今天去北京", "我们明天去北京")
    assert 0 < scores["rouge_1"] < 100
    assert similarity("我们今天去北京。", "我们今天去北京。")["rouge_l"] == pytest.approx(100)
    assert similarity("", "北京")["rouge_1"] == 0


def test_scores_are_averaged_over_samples():
    result = generation_metrics(["same text here", "nothing alike"], ["same text here", "totally different"])
    assert result["exact_match"] == 50
    assert result["rouge_1"] == pytest.approx(50)
