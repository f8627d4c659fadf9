"""The PNG products: images binned for display only, a PNG beside every FITS image."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from factor_cli.solution_plots import display_binned, selfcal_images


def test_large_images_are_averaged_in_whole_blocks_for_display():
    data = np.arange(2048 * 2048, dtype=float).reshape(2048, 2048)
    binned = display_binned(data)
    assert binned.shape == (1024, 1024)
    assert binned[0, 0] == data[:2, :2].mean() and np.isclose(binned.mean(), data.mean())
    small = np.ones((512, 512))
    assert display_binned(small) is small
    assert display_binned(np.ones((3200, 3000))).shape == (1066, 1000)  # factor 3, ragged edge dropped


def test_a_png_is_drawn_beside_each_existing_image(tmp_path):
    rng = np.random.default_rng(1)
    image = tmp_path / "verify_post.fits"
    fits.PrimaryHDU(rng.normal(size=(1, 1, 2048, 2048)).astype(np.float32)).writeto(image)
    written = selfcal_images([image, tmp_path / "missing.fits"])
    assert written == [tmp_path / "verify_post.png"] and written[0].stat().st_size > 1000
