"""Intraclass correlations against the published example of Shrout and Fleiss (1979), Table 2."""

import numpy as np
import pytest

from evoprune_deap.report.reliability import components, icc1, icc_consistency, mean_squares

# 6 targets (masks) rated by 4 judges (seeds); the paper gives ICC(1,1) = .17 and ICC(3,1) = .71.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def test_published_values():
    assert icc1(SHROUT_FLEISS) == pytest.approx(0.166, abs=5e-4)
    assert icc_consistency(SHROUT_FLEISS) == pytest.approx(0.715, abs=5e-4)
    ms = mean_squares(SHROUT_FLEISS)  # the paper's Table 1: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02
    assert (ms["between"], ms["within"], ms["seeds"], ms["residual"]) == pytest.approx(
        (11.24, 6.26, 32.49, 1.02), abs=5e-3
    )


def test_masks_that_do_not_matter_have_no_reliability_and_masks_that_do_have_a_lot():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.75, 0.017, size=(40, 8))
    assert abs(components(noise, common=False)["icc"]) < 0.1
    signal = noise + np.linspace(0, 0.2, 40)[:, None]
    found = components(signal, common=False)
    assert found["icc"] > 0.9 and found["seed_sd"] == pytest.approx(0.017, rel=0.15)
    shared = noise + rng.normal(0, 0.05, size=8)[None, :]  # a seed effect common to every mask
    assert components(shared, common=True)["seed_effect_sd"] > 0.03
    assert components(shared, common=True)["paired_sd"] < components(shared, common=False)["paired_sd"]


def test_a_table_too_small_is_refused():
    with pytest.raises(ValueError, match="2 masks and 2 seeds"):
        icc1(np.ones((1, 5)))


def test_holm_adjusts_the_whole_table_and_keeps_missing_p_values_missing():
    from evoprune_deap.report.statistics import holm

    got = holm(np.array([0.01, np.nan, 0.04, 0.03]))
    np.testing.assert_allclose(got[[0, 2, 3]], [0.03, 0.06, 0.06])  # 3 x 0.01; max(2 x 0.03, 0.04) twice
    assert np.isnan(got[1])
    assert np.isnan(holm(np.array([np.nan])))[0]


def test_band_reliability_gives_the_committed_noise_tables_icc():
    """The figure's ICCs are the table's: each band of results/noise/*/summary.csv, from its scores.csv."""
    import os

    import pandas as pd

    from evoprune_deap.report.reliability import band_reliability, plot_reliability

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "noise")
    studies = {}
    for study in ("elpv_fc1", "elpv_fs", "fashion_mnist_fc1"):
        scores = pd.read_csv(os.path.join(root, study, "scores.csv"))
        summary = pd.read_csv(os.path.join(root, study, "summary.csv"))
        table = summary[(summary["part"] == "val") & (summary["masks"] != "all")]
        found = band_reliability(scores)
        assert [(b["seeds"], b["n_masks"]) for b in found] == list(zip(table["seeds"], table["n_masks"]))
        np.testing.assert_allclose([b["icc"] for b in found], table["icc"], atol=1e-9)
        studies[study] = scores
    figure = plot_reliability(studies)
    assert len(figure.axes) == 6 and figure.axes[0].get_xscale() == "log"
