"""clean_flicker_noise's ``fit_method='fft'``: NSClean (Rauscher 2024), as jwst 3.0 implements
it in ``jwst/clean_flicker_noise/nsclean.py`` and ``clean_flicker_noise.py``
(``fft_clean_full_frame``, ``fft_clean_subarray``).

The background pixels of an image are fitted, in the detector's readout order, with a sum of
low-frequency Fourier vectors (least squares, weighted by the local density of background
pixels), and the fit is subtracted. Full frames are fitted line by line along the fast axis;
subarrays as one time series of the whole readout (pixels plus the 12-pixel new-line overhead
at 10 us a pixel), in overlapping stripes of ~512 background pixels blended with triangular
weights. Only NIRSpec is supported, as in jwst (the step checks the exposure type).

The arithmetic is numpy's FFT and linear algebra in the dtypes jwst uses (float32 / complex64
where jwst casts), in the same order, so results agree with jwst's to float32 rounding.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: new-line overhead (pixels) and pixel dwell time (s) of the SIDECAR readout
NLOH = np.int32(12)
TPIX = np.float32(10.0e-6)


def _to_detector(a, detector):
    """DMS -> detector orientation (fast axis along x, slow along y): NRS1 transposed,
    NRS2 transposed and flipped."""
    return a.transpose() if detector == "NRS1" else a.transpose()[::-1]


def _from_detector(a, detector):
    return a.transpose() if detector == "NRS1" else a[::-1].transpose()


def lowpass_filter(f_half_power, w_cutoff, n):
    """Cosine-edged low-pass gain at the rfft frequencies of ``n`` samples (1 below
    ``f_half_power - w_cutoff / 2``, 0 above ``f_half_power + w_cutoff / 2``)."""
    freq = np.fft.rfftfreq(n)
    cos = (1 + np.cos(np.pi * (freq - f_half_power) / w_cutoff + np.pi / 2)) / 2
    filt = np.where(freq <= f_half_power - w_cutoff / 2, 1, cos)
    return np.where(freq <= f_half_power + w_cutoff / 2, filt, 0)


# --------------------------------------------------------------------------- full frame

def _full_frame_weights(mask, sigma):
    """1 / (background density smoothed by a Gaussian of ``sigma`` pixels along x), 0 off the mask."""
    ny, nx = mask.shape
    kernel = np.zeros((ny, nx), dtype=np.float32)
    x = np.arange(nx)
    mu = nx // 2 + 1
    kernel[ny // 2 + 1] = np.exp(-((x - mu) ** 2) / sigma**2 / 2) / sigma / np.sqrt(2 * np.pi)
    kfft = np.fft.rfft2(np.fft.ifftshift(kernel))
    with np.errstate(divide="ignore"):
        p = 1 / np.fft.irfft2(np.fft.rfft2(np.array(mask, dtype=np.float32)) * kfft, (ny, nx))
    p = np.where(mask, p, 0.0)
    p[~np.isfinite(p)] = 0.0
    return p


def _buffer_kernel(ny, nx, sigma):
    """rfft2 of a 1-D Gaussian of ``sigma`` pixels along y (the "buffing" smooth), complex64."""
    y = np.arange(ny)
    mu = nx // 2 + 1
    g = np.exp(-(((y - mu) / sigma) ** 2) / 2) / sigma / np.sqrt(2 * np.pi)
    kern = np.zeros((ny, nx), dtype=np.float32)
    kern[:, mu] = g
    return np.array(np.fft.rfft2(np.fft.ifftshift(kern)), dtype=np.complex64)


def fit_full_frame(data, mask, fc=1 / (2 * 2048 / 16), kill_width=1 / (2 * 2048 / 16) / 4, sigrej=3.0,
                   weights_kernel_sigma=32):
    """Line-by-line Fourier fit of a full frame in detector orientation (float32 (ny, nx)
    model; the first and last 4 lines, reference rows, are left at 0)."""
    ny, nx = mask.shape
    apodizer = np.array(lowpass_filter(fc, kill_width, nx))
    nvec = np.sum(apodizer > 0)
    p_matrix = _full_frame_weights(mask, weights_kernel_sigma)
    model = np.zeros((ny, nx), dtype=np.float32)
    for y in np.arange(ny)[4:-4]:
        d = data[y][mask[y]]
        p = p_matrix[y][mask[y]]
        if len(d) == 0:
            continue
        mu = np.median(d)
        sd = 1.4826 * np.median(np.abs(d - mu))
        d = np.where(np.logical_and(mu - sigrej * sd <= d, d <= mu + sigrej * sd), d, mu)
        m = np.arange(nx)[mask[y]].reshape((-1, 1))
        k = np.arange(nvec).reshape((1, -1))
        basis = np.array(np.exp(2 * np.pi * 1j * m * k / nx) / m.shape[0], dtype=np.complex64)
        a = basis * p[:, np.newaxis]
        a_h = np.conjugate(a.transpose())
        pinv_pb = np.matmul(np.linalg.inv(np.matmul(a_h, a)), a_h)
        rfft = np.zeros(nx // 2 + 1, dtype=np.complex64)
        rfft[: k.shape[1]] = np.matmul(pinv_pb, p * d)
        rfft *= nx / m.shape[0]
        if kill_width > 0:
            rfft[:nvec] *= apodizer[:nvec]
        model[y] = np.fft.irfft(rfft, nx)
    return model


def fft_clean_full_frame(image, mask, detector, buffer_sigma=1.5):
    """A 2048 x 2048 image (DMS orientation) minus its NSClean background fit (smoothed along
    the dispersion by a Gaussian of ``buffer_sigma``); None if the fit is singular. ``image``
    is modified in place, as jwst's is."""
    det_mask = _to_detector(mask, detector)
    data = _to_detector(image, detector)
    try:
        bkg = fit_full_frame(data, det_mask)
    except np.linalg.LinAlgError:
        log.warning("Error cleaning image; step will be skipped")
        return None
    bkg = np.fft.irfft2(np.fft.rfft2(bkg) * _buffer_kernel(*det_mask.shape, buffer_sigma), s=bkg.shape)
    data -= bkg
    return _from_detector(data, detector)


# --------------------------------------------------------------------------- subarrays

def _apodizer(freq, fc):
    """Gain at ``freq`` (Hz): 1 below fc[0], cosine roll-off to 0 at fc[1], 0 up to fc[2],
    cosine roll-on to 1 at fc[3], 1 above."""
    out = np.zeros(len(freq), dtype=np.float32)
    out[freq < fc[0]] = 1.0
    here = (fc[0] <= freq) & (freq < fc[1])
    out[here] = 0.5 * (np.cos((np.pi / (fc[1] - fc[0])) * (freq[here] - fc[0])) + 1)
    here = (fc[2] <= freq) & (freq < fc[3])
    out[here] = 0.5 * (np.cos((np.pi / (fc[3] - fc[2])) * (freq[here] - fc[2]) + np.pi) + 1)
    out[freq >= fc[3]] = 1.0
    return out


def subarray_model(data, mask, fc=(1061, 1211, 49943, 49957), weight_fit=True):
    """Fourier model (float64 (ny, nx)) of a stripe of a subarray in detector orientation,
    fitted to its background pixels as one readout time series (jwst's NSCleanSubarray with
    ``exclude_outliers=False``: outliers are masked before, over the whole image)."""
    data = np.array(data, dtype=np.float32)
    mask = np.array(mask, dtype=np.bool_)
    ny, nx = np.int32(data.shape[0]), np.int32(data.shape[1])
    fc = np.array(fc, dtype=np.float32)
    n = np.int32(ny * (nx + NLOH))
    freq = np.array(np.fft.rfftfreq(n, TPIX), dtype=np.float32)
    sigma_w = 1 / ((fc[0] + fc[1]) / 2) / TPIX / 2 / 4
    mask[np.isnan(data)] = False
    apod = _apodizer(freq, fc)
    x = np.arange(nx).reshape((1, -1))
    y = np.arange(ny).reshape((-1, 1))
    m = (y * (nx + NLOH) + x)[mask].reshape((-1, 1))
    k = np.arange(len(freq))[apod > 0.0].reshape((1, -1))
    basis = np.array(np.exp(2 * np.pi * 1j * m * k / n) / m.shape[0], dtype=np.complex64)
    rfft = np.zeros(len(freq), dtype=np.complex64)
    if weight_fit:
        t = np.arange(n, dtype=np.float32)
        mu = np.float32(n // 2 + 1)
        sg = np.float32(sigma_w)
        w = np.exp(-((t - mu) ** 2) / sg**2 / 2) / sg / np.sqrt(2 * np.pi)
        wfft = np.fft.rfft(np.fft.ifftshift(w))
        full = np.hstack((mask, np.zeros((ny, NLOH), dtype=np.bool_))).flatten()
        with np.errstate(divide="ignore"):
            p = 1 / np.fft.irfft(np.fft.rfft(np.array(full, dtype=np.float32)) * wfft, n)
        p = p[full]
        p[~np.isfinite(p)] = 0.0
        a = p.reshape((-1, 1)) * basis
        a_h = np.conjugate(a.transpose())
        pinv_pb = np.matmul(np.linalg.inv(np.matmul(a_h, a)), a_h)
        rfft[apod > 0.0] = np.matmul(pinv_pb * p.reshape((1, -1)), data[mask])
    else:
        rfft[apod > 0.0] = np.matmul(np.linalg.pinv(basis), data[mask])
    rfft *= n / m.shape[0]
    return np.fft.irfft(rfft * apod, n).reshape((ny, -1))[:, :nx]


def _exclude_outliers(image, mask, sigrej):
    """Mask pixels more than ``sigrej`` robust sigmas from the median, and their 4 neighbours."""
    med = np.median(image[mask])
    std = 1.4825 * np.median(np.abs((image - med)[mask]))
    outlier = mask & (np.abs(image - med) > sigrej * std)
    mask = mask & (~outlier)
    mask[1:] = mask[1:] & (~outlier[:-1])
    mask[:-1] = mask[:-1] & (~outlier[1:])
    mask[:, 1:] = mask[:, 1:] & (~outlier[:, :-1])
    mask[:, :-1] = mask[:, :-1] & (~outlier[:, 1:])
    return mask


def fft_clean_subarray(image, mask, detector, npix_iter=512, fc=(1061, 1211, 49943, 49957),
                       exclude_outliers=True, sigrej=4, minfrac=0.05):
    """A subarray image (DMS orientation) minus its NSClean fit, float64; None when no pixel
    is usable or a fit is singular.

    Along the slow axis the image is cut into stripes holding ~``npix_iter`` background pixels
    (the rest of the image when less than 1.5 ``npix_iter`` remain), each starting half a
    stripe after the previous one; a stripe with at most ``minfrac`` background pixels gets no
    correction. The stripes' models are blended with weights ``1.001 - |linspace(-1, 1)|``.
    """
    image = _to_detector(image, detector)
    mask = _to_detector(mask, detector)
    if exclude_outliers:
        mask = _exclude_outliers(image, mask, sigrej)
    per_row = np.sum(mask, axis=1)
    cum = np.array([0] + list(np.cumsum(per_row)))
    rows = np.arange(mask.shape[0])[per_row > 0]
    if rows.size == 0:
        log.warning("No good pixels in mask; step will be skipped")
        return None
    i1, imax = int(rows.min()), int(rows.max())
    starts, sizes, models = [], [], []
    while i1 <= imax:
        k = 0
        for k in range(i1 + 1, imax + 2):
            if cum[k] - cum[i1] > npix_iter and cum[-1] - cum[i1] > 1.5 * npix_iter:
                break
        di = k - i1
        starts.append(i1)
        sizes.append(di)
        if np.mean(mask[i1:i1 + di]) > minfrac:
            try:
                models.append(subarray_model(image[i1:i1 + di], mask[i1:i1 + di], fc=fc))
            except np.linalg.LinAlgError:
                log.warning("Error cleaning image; step will be skipped")
                return None
        else:
            log.warning("Insufficient reference pixels for NSClean around row %d; no correction will be made here.",
                        i1)
            models.append(np.zeros(image[i1:i1 + di].shape))
        if k == imax + 1:
            break
        i1 += max(int(np.round(di / 2)), 1)
    model = np.zeros(image.shape)
    total = np.zeros(image.shape)
    for s, di, mod in zip(starts, sizes, models):
        w = 1.001 - np.abs(np.linspace(-1, 1, di))[:, np.newaxis]
        model[s:s + di] += w * mod
        total[s:s + di] += w
    total[model == 0] = 1
    model /= total
    return _from_detector(image - model, detector)
