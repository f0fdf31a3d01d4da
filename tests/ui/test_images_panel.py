"""Real images in: encode with a VAE, invert into a generator, drop files on the window."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from tests.ui.conftest import make_checkpoint_entry, open_and_wait


def _png(path, value=200):
    arr = np.zeros((40, 40), np.uint8)
    arr[10:30, 12:28] = value
    Image.fromarray(arr).save(path)
    return path


def test_dropped_image_is_encoded_into_the_current_latent_and_bookmarked(qtbot, window, tiny_ckpt, tmp_path):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    img = _png(tmp_path / "square.png")
    window.drop_paths([str(img)])
    assert window.images.images.shape == (1, 1, 64, 64)
    window.images.run()
    qtbot.waitUntil(lambda: window.images.result is not None, timeout=30000)
    with torch.inference_mode():
        expected = entry.model.encode(torch.from_numpy(window.images.images)).mean[0].numpy()
    assert np.allclose(window.state.z, expected, atol=1e-5)
    assert [b.name for b in window.state.bookmarks] == ["encoded: square"]
    assert "PSNR" in window.images.status.text()


class TinyGenerator(torch.nn.Module):
    """A generator without an encoder: images are a linear function of the latent."""

    def __init__(self):
        super().__init__()
        from latentlab.core.model import ModelInfo

        torch.manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(3, 64 * 64) * 0.5)
        self.info = ModelInfo("tiny-gen", 3, (1, 64, 64))

    def decode(self, z):
        return torch.sigmoid(z @ self.w).view(-1, 1, 64, 64)

    def sample_prior(self, n, generator=None):
        return torch.randn(n, 3, generator=generator).to(self.w.device)


def test_generator_images_are_inverted_with_a_loss_plot(qtbot, window, tmp_path):
    gen = TinyGenerator().eval()
    window.state.add_model(make_checkpoint_entry(gen, "gen"))
    assert window.images.method.currentData() == "invert"
    target_z = np.array([0.8, -0.4, 0.3], np.float32)
    with torch.inference_mode():
        target = gen.decode(torch.from_numpy(target_z)[None]).numpy()
    path = tmp_path / "target.png"
    Image.fromarray((target[0, 0] * 255).round().astype(np.uint8)).save(path)
    window.images.add_paths([str(path)])
    window.images.steps.setValue(150)
    window.images.run()
    qtbot.waitUntil(lambda: window.images.result is not None, timeout=120000)
    assert len(window.images._losses) > 10
    assert window.images._losses[-1] < window.images._losses[0]
    assert np.abs(window.state.z - target_z).max() < 0.15
    assert window.state.bookmarks[-1].name == "inverted: target"


def test_a_corrupt_image_is_reported(qtbot, window, tiny_ckpt, tmp_path):
    open_and_wait(qtbot, window, tiny_ckpt)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    window.drop_paths([str(bad)])
    assert window.banner.level == "error" and "broken.png" in window.banner.text
