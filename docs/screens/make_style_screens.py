"""Screenshots of StyleGAN editing at a laptop size (offscreen Qt), on a seeded random-weight StyleGAN2.

    QT_QPA_PLATFORM=offscreen python docs/screens/make_style_screens.py [--size 1280x800] [--out docs/screens]

No trained StyleGAN can be shipped or downloaded here, so the generator is NVIDIA's architecture at 128 px
with seeded random weights (tests/stylegan_fixtures.seeded): its pictures are textures, but every control
acts on it exactly as on a trained one. Writes

- ``stylegan-wplus-layers.png``: W+ editing, an InterFaceGAN-style w boundary applied to layers 0-3 only,
  the sliders showing one layer's w, the Generator panel raised;
- ``style-mixing-grid.png``: the mixing-grid figure (rows 1-4 x columns 5-8, fine layers from the columns);
- ``stylegan-look-inside.png``: the preview showing a synthesis layer's feature maps.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENTLAB_HOME", tempfile.mkdtemp(prefix="latentlab-screens-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from docs.screens.make_screens import spin, wait_until  # noqa: E402


def generator_file(folder: Path) -> Path:
    from latentlab.core.checkpoints import save_checkpoint
    from latentlab.core.zoo.stylegan2 import StyleGAN2Generator
    from latentlab.core.zoo.stylegan2_layers import EqualLinear
    from tests.stylegan_fixtures import seeded

    g = seeded(StyleGAN2Generator(channels=[64, 64, 64, 64, 32, 32], mapping=[64, 64, 64, 64]), seed=3)
    # The mapping's equalized-lr weights as StyleGAN2 initialises them (N(0, 1) / lr_mul), so that w depends on
    # z as in a trained network; the average w is then the mean of mapped samples, as training tracks it.
    torch.manual_seed(3)
    with torch.no_grad():
        for m in g.style.modules():
            if isinstance(m, EqualLinear):
                m.weight.normal_(0.0, 1.0 / m.lr_mul)
        g.latent_avg.copy_(g.map(torch.randn(4096, g.z_dim)).mean(0))
    return save_checkpoint(g, folder / "stylegan2-128px-random.safetensors")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)

    from latentlab.ui.app import make_app
    from latentlab.ui.main_window import MainWindow

    folder = Path(tempfile.mkdtemp(prefix="latentlab-style-"))
    path = generator_file(folder)
    app = make_app()
    win = MainWindow(device="cpu")
    win.resize(w, h)
    win.show()
    win.open_paths([path])
    wait_until(app, lambda: win.state.current is not None, 60)
    entry = win.state.current
    g = entry.model
    win.state.random_sample(7)
    win.state.set_style(entry, space="w+")
    boundary = np.random.default_rng(0).standard_normal((1, g.w_dim)).astype(np.float32)
    np.save(folder / "stylegan_random_pose_w_boundary.npy", boundary)
    win.directions.load(folder / "stylegan_random_pose_w_boundary.npy")
    row = win.directions.rows[0]
    row.layer_from.setValue(0)
    row.layer_to.setValue(4)
    row.slider.setFloatValue(2.5)
    win.sliders.layer.setValue(2)
    win.docks["Generator"].raise_()
    win.docks["Directions"].raise_()
    spin(3.0)
    win.grab().save(str(args.out / "stylegan-wplus-layers.png"))
    print(f"window {win.width()}x{win.height()} (asked {w}x{h}) -> stylegan-wplus-layers.png")

    panel = win.generator
    panel.rows_edit.setText("1-4")
    panel.cols_edit.setText("5-8")
    panel.preset.setCurrentIndex(3)
    panel._apply_preset(3)
    done = []
    panel.runner.finished.connect(done.append)
    panel.export_grid(args.out / "style-mixing-grid.png")
    wait_until(app, lambda: bool(done), 120)
    print(f"mixing grid, layers {panel.layer_range()} -> style-mixing-grid.png")

    panel.look_layer.setCurrentIndex(panel.look_layer.count() - 4)  # a 64 px conv layer
    panel.look_box.setChecked(True)
    win.docks["Generator"].raise_()
    win.docks["Generator"].widget().ensureWidgetVisible(panel.look_box)
    spin(3.0)
    win.grab().save(str(args.out / "stylegan-look-inside.png"))
    print("look inside -> stylegan-look-inside.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
