import pytest

from inkbench.tasks.metrics import ErrorRates, cer, wer


def test_cer_is_total_edits_over_total_reference_length() -> None:
    # "kitten"->"sitting": 3 edits over 7 reference chars; "ab"->"ab": 0 over 2.
    assert cer(["kitten", "ab"], ["sitting", "ab"]) == pytest.approx(3 / 9)


def test_wer_counts_word_edits() -> None:
    # one substitution + one deletion over 4 reference words; second pair exact (2 words)
    assert wer(["the cat sat", "a b"], ["the dog sat down", "a b"]) == pytest.approx(2 / 6)


def test_empty_prediction_is_all_deletions() -> None:
    assert cer([""], ["abc"]) == 1.0
    assert wer([""], ["abc def"]) == 1.0


def test_metric_accumulates_like_one_call() -> None:
    preds, refs = ["abd", "x", "hello world"], ["abc", "xy", "hello word"]
    metric = ErrorRates()
    metric.update(preds[:1], refs[:1])
    metric.update(preds[1:], refs[1:])
    result = metric.compute()
    assert float(result["cer"]) == pytest.approx(cer(preds, refs))
    assert float(result["wer"]) == pytest.approx(wer(preds, refs))
    assert int(metric.lines) == 3


def test_length_mismatch() -> None:
    with pytest.raises(ValueError):
        cer(["a"], ["a", "b"])
