"""Progressive decoding: drafts on the way to the full image, exactly the full decode at the end."""

from __future__ import annotations

import pytest
import torch

from latentlab.core.progressive import DraftPlan, Progressive, StopDecoding, run_levels, upsample_to
from tests.format_fixtures import tiny_stylegan2


def test_stylegan2_hands_over_every_skip_level_and_ends_on_the_exact_decode():
    g = tiny_stylegan2(channels=(8, 8, 4, 4)).eval()
    assert isinstance(g, Progressive) and g.draft_resolutions == (4, 8, 16, 32)
    z = torch.randn(2, g.info.latent_dim, generator=torch.Generator().manual_seed(0))
    seen = []
    out, reached, total = run_levels(g, z, None, None, lambda res, img: seen.append((res, tuple(img.shape))))
    with torch.inference_mode():
        assert torch.equal(out, g.decode(z))
    assert [r for r, _ in seen] == [4, 8, 16, 32] and seen[0][1] == (2, 3, 4, 4)
    assert list(reached) == [4, 8, 16, 32] and total >= reached[32]
    draft, _, _ = run_levels(g, z, 8, None, None)
    assert draft.shape[-1] == 8 and float(draft.min()) >= 0.0 and float(draft.max()) <= 1.0


def test_a_decode_that_is_no_longer_wanted_stops_between_layers():
    g = tiny_stylegan2(channels=(8, 8, 4, 4)).eval()
    calls = []

    def stop_after_a_while():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(StopDecoding):
        run_levels(g, torch.zeros(1, g.info.latent_dim), None, stop_after_a_while, None)
    assert len(calls) == 4


def test_the_plan_drafts_only_slow_models_and_picks_the_finest_level_in_budget():
    plan = DraftPlan(frame_budget_ms=40, fraction=0.1, budget_ms=120)
    key = (1, "cpu")
    assert plan.level(key, (32, 64, 128)) is None  # nothing measured yet
    plan.timings(key).record({32: 30.0, 64: 90.0, 128: 300.0}, 1000.0)
    assert plan.level(key, (32, 64, 128)) == 64  # 128 costs more than a tenth of the full decode
    fast = (2, "cpu")
    plan.timings(fast).record({32: 1.0}, 20.0)
    assert plan.level(fast, (32,)) is None  # the full image fits in a frame: no draft
    slow = (3, "cpu")
    plan.timings(slow).record({32: 500.0}, 2000.0)
    assert plan.level(slow, (32,)) == 32  # nothing fits: the coarsest level still beats waiting


def test_a_draft_is_shown_at_the_full_image_size():
    img = torch.rand(1, 3, 16, 16)
    assert upsample_to(img, (64, 64)).shape == (1, 3, 64, 64)
    assert upsample_to(img, (16, 16)) is img
