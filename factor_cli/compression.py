"""Dysco compression of the measurement sets the run writes and keeps (``use_compression``).

A run keeps the time chunks and one residual per selfcal stage (facetsub writes a new MS
instead of changing one in place, so resume and reset can start any direction again), which
is (1 + stages) times the input on disk.  Dysco stores DATA in 16 bits per real/imaginary part
and the weights in 12 bits, Factor's settings (Offringa 2016: at 16 bits the added noise is
far below the thermal noise; measured on `tiny` data: 2e-5 of the visibilities' rms, weights
exact).  Only the chunks and the residuals are compressed: the per-direction data are small
(averaged) and short-lived, and DP3/WSClean add columns to some of them.

DP3 (the PyPI wheel's casacore), python-casacore and Debian's WSClean 3.1 all read Dysco
columns, so compressed chunks and residuals, and a Dysco-compressed input MS (LINC writes
them), need nothing else.
"""

from __future__ import annotations

DYSCO_SETTINGS: dict[str, object] = {
    "msout.storagemanager": "dysco",
    "msout.storagemanager.databitrate": 16,
    "msout.storagemanager.weightbitrate": 12,
    "msout.storagemanager.distribution": "TruncatedGaussian",
    "msout.storagemanager.disttruncation": 1.5,
    "msout.storagemanager.normalization": "RF",
}

# Size of a compressed chunk or residual relative to the uncompressed one, as an upper bound
# for the disk-space check: 0.49 measured on a `benchmark` chunk (16 channels); with more
# channels per row the per-row columns weigh less and the ratio falls towards ~0.4.
SIZE_RATIO = 0.5


def msout_settings(compress: bool) -> dict[str, object]:
    """DP3 ``msout.*`` settings of an MS the run keeps."""
    return dict(DYSCO_SETTINGS) if compress else {}
