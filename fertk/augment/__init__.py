"""Built-in augmentations and illumination normalisations, registered through the ``register_augmentations`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports (cv2, torch)
happen only when a component is built.

- illumination (uint8 gray image or batch → uint8): ``he``, ``lm``, ``ws`` (λ=0.5),
  ``none``, and the paper's ``aug`` training scheme (HE, LM and WS copies);
- geometric (torch batch → float batch, one ``grid_sample`` per batch): ``geometric``
  (random 96 crop of 120, flip, ±10° rotation, 0.9-1.1 scale), ``paper`` (random crop and
  mirror only), ``random_crop``, ``hflip``;
- camera (float batch → float batch, after the geometric one): ``blur``, ``noise``, ``jpeg``,
  ``downup`` and ``camera`` (all four), each image degraded with probability ``p``.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl

_ILL = "fertk.augment.illumination"
_GEO = "fertk.augment.geometric"
_CAM = "fertk.augment.camera"


@hookimpl
def register_augmentations(register):
    register("he", f"{_ILL}:build_he", description="Histogram equalisation (paper, section 5)",
             kind="illumination")
    register("lm", f"{_ILL}:build_lm", description="Linear map of min..max to the full range (paper)",
             kind="illumination")
    register("ws", f"{_ILL}:build_ws", description="Weighted sum 0.5*HE + 0.5*LM (paper; option lam)",
             kind="illumination", options=["lam"])
    register("none", f"{_ILL}:build_illumination", description="No illumination normalisation",
             kind="illumination")
    register("aug", f"{_ILL}:build_aug",
             description="Paper's 'Aug' training scheme: HE, LM and WS copies of every image",
             kind="illumination", options=["copies", "lam", "include_original", "mode"])
    register("geometric", f"{_GEO}:build_geometric",
             description="Batch random 96 crop of 120 + flip + small rotation/scale, one grid_sample",
             kind="geometric", options=["crop", "size", "shift", "flip", "rotate", "scale", "seed"])
    register("paper", f"{_GEO}:build_paper",
             description="Paper's training augmentation: random 96x96 crop of 120x120 + mirror",
             kind="geometric", options=["crop", "size", "shift", "flip", "seed"])
    register("random_crop", f"{_GEO}:build_random_crop", description="Random crop window only",
             kind="geometric", options=["crop", "size", "shift", "seed"])
    register("hflip", f"{_GEO}:build_hflip", description="Central crop + random horizontal flip",
             kind="geometric", options=["crop", "size", "flip", "seed"])
    register("blur", f"{_CAM}:build_blur", description="Gaussian blur, sigma 0.4-1.5 px of a 48 px face",
             kind="camera", options=["p", "sigma"])
    register("noise", f"{_CAM}:build_noise", description="Additive Gaussian noise, std 0.01-0.06",
             kind="camera", options=["p", "std"])
    register("jpeg", f"{_CAM}:build_jpeg", description="JPEG compression at quality 15-60 (OpenCV)",
             kind="camera", options=["p", "quality"])
    register("downup", f"{_CAM}:build_downup", description="Down-sampling to 35-75 % of the side and back",
             kind="camera", options=["p", "scale"])
    register("camera", f"{_CAM}:build_camera",
             description="blur, down-up, noise and JPEG, each with probability p (0.25)",
             kind="camera", options=["p", "blur_p", "blur_sigma", "downup_p", "downup_scale",
                                     "noise_p", "noise_std", "jpeg_p", "jpeg_quality"])
