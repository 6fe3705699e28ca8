"""Procedural gray face renderer: identities, expression parameters, 68 landmarks, shading.

A face is a height field (ellipsoid head, nose ridge, eye sockets, brow ridge, cheeks, lips)
lit by a Lambertian light whose direction varies, with dark features (brows, eyes, nostrils,
mouth, hair) drawn on top from the 68 landmarks in dlib order. Landmarks are produced first
from an :class:`Identity` and an expression parameter vector, so they are exact ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Expression parameters (action-unit-like), all 0 for a neutral face.
PARAMS = (
    "brow_inner_up",  # AU1
    "brow_outer_up",  # AU2
    "brow_lower",  # AU4: brows down and pulled together
    "eye_open",  # + widen (AU5), - narrow (AU6/7)
    "nose_wrinkle",  # AU9
    "upper_lip_up",  # AU10
    "corner_up_l",  # AU12, image-left corner
    "corner_up_r",  # AU12, image-right corner
    "corner_down",  # AU15
    "lip_stretch",  # AU20 (+) / pucker (-)
    "lip_press",  # AU24
    "jaw_drop",  # AU26/27
)
P = {name: i for i, name in enumerate(PARAMS)}

#: Apex parameters of the seven CK+ classes (1..7 in CK+ numbering).
CLASS_APEX: dict[str, dict[str, float]] = {
    "anger": {"brow_lower": 1.0, "eye_open": -0.35, "lip_press": 1.0, "corner_down": 0.3},
    "contempt": {"corner_up_r": 0.9, "lip_press": 0.3, "eye_open": -0.1},
    "disgust": {"nose_wrinkle": 1.0, "upper_lip_up": 1.0, "brow_lower": 0.55, "eye_open": -0.3,
                "corner_down": 0.3},
    "fear": {"brow_inner_up": 1.0, "brow_outer_up": 0.4, "brow_lower": 0.45, "eye_open": 0.8,
             "lip_stretch": 1.0, "jaw_drop": 0.35},
    "happy": {"corner_up_l": 1.0, "corner_up_r": 1.0, "lip_stretch": 0.5, "jaw_drop": 0.25,
              "eye_open": -0.3},
    "sadness": {"brow_inner_up": 1.0, "brow_lower": 0.3, "corner_down": 1.0, "eye_open": -0.2},
    "surprise": {"brow_inner_up": 1.0, "brow_outer_up": 1.0, "eye_open": 0.9, "jaw_drop": 1.0,
                 "lip_stretch": -0.3},
}

#: Poses of the ``--motion`` variant; its classes are ordered pairs of them.
MOTION_POSES: dict[str, dict[str, float]] = {
    "smile": {"corner_up_l": 1.0, "corner_up_r": 1.0, "lip_stretch": 0.5, "jaw_drop": 0.2},
    "raise": {"brow_inner_up": 1.0, "brow_outer_up": 1.0, "eye_open": 0.8},
    "frown": {"brow_lower": 1.0, "corner_down": 1.0, "eye_open": -0.3},
}


def param_vector(values: dict[str, float]) -> np.ndarray:
    v = np.zeros(len(PARAMS), np.float64)
    for k, x in values.items():
        v[P[k]] = x
    return v


@dataclass
class Identity:
    """Shape and appearance of one synthetic person."""

    face_w: float  # half width of the face, in canonical units
    face_h: float  # jaw vertical radius
    eye_dx: float  # half distance between eye centres
    eye_y: float
    eye_w: float
    brow_gap: float
    brow_thick: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    skin: float  # albedo of skin 0..1
    hair: float  # albedo of hair
    hair_style: int
    iris: float
    background: float
    expressiveness: float  # scales expression amplitude

    @classmethod
    def random(cls, rng: np.random.Generator) -> Identity:
        u = rng.uniform
        skin, hair = u(0.55, 0.85), u(0.02, 0.16)
        # the background stays darker than the face and lighter than the hair, so the face
        # outline has contrast whatever the draw (as in lab recordings such as CK+)
        background = float(np.clip(skin - u(0.2, 0.38), hair + 0.18, 1.0))
        return cls(
            face_w=u(0.9, 1.08), face_h=u(1.06, 1.22), eye_dx=u(0.33, 0.42), eye_y=u(-0.34, -0.24),
            eye_w=u(0.16, 0.19), brow_gap=u(0.17, 0.24), brow_thick=u(0.045, 0.08),
            nose_len=u(0.9, 1.15), nose_w=u(0.16, 0.24), mouth_y=u(0.5, 0.6), mouth_w=u(0.33, 0.42),
            lip_thick=u(0.055, 0.085), skin=skin, hair=hair,
            hair_style=int(rng.integers(0, 3)), iris=u(0.05, 0.35), background=background,
            expressiveness=u(0.75, 1.15),
        )


def _arc(x0: float, x1: float, y: float, bend: float, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    xs = x0 + (x1 - x0) * t
    ys = y - bend * np.sin(np.pi * t)
    return np.stack([xs, ys], 1)


def landmarks68(ident: Identity, params: np.ndarray) -> np.ndarray:
    """68 points (dlib order) in canonical face units (x right, y down, nose tip near 0)."""
    p = params * ident.expressiveness
    g = lambda name: float(p[P[name]])  # noqa: E731
    pts = np.zeros((68, 2))
    jaw_drop = g("jaw_drop")
    # jaw 0-16: from the image-left ear level down to the chin and up to the image-right side
    phi = np.linspace(0.0, np.pi, 17)
    ey = -0.15  # ear level: centre of the head ellipse's lower half (see render_face)
    ry = ident.face_h + 0.22 * jaw_drop + 0.2
    pts[0:17, 0] = -0.97 * (ident.face_w + 0.02) * np.cos(phi)
    pts[0:17, 1] = ey + 0.97 * ry * np.sin(phi)
    # eyebrows 17-21 (image-left, outer→inner) and 22-26 (image-right, inner→outer)
    by = ident.eye_y - ident.brow_gap
    inner_up, outer_up, lower = g("brow_inner_up"), g("brow_outer_up"), g("brow_lower")
    for side, idx in ((-1, range(17, 22)), (1, range(22, 27))):
        t = np.linspace(0.0, 1.0, 5)  # 0 = outer, 1 = inner
        if side == 1:
            t = t[::-1]
        x_outer, x_inner = ident.eye_dx + 0.24, 0.09
        xs = side * (x_outer + (x_inner - x_outer) * t)
        xs = xs - side * 0.06 * lower * t  # pulled together
        ys = by - 0.05 * np.sin(np.pi * (0.35 + 0.65 * t))
        ys = ys - 0.16 * inner_up * t ** 1.5 - 0.15 * outer_up * (1 - t) ** 1.2
        ys = ys + 0.12 * lower * (0.4 + 0.6 * t) + 0.03 * inner_up * (1 - t) * (1 - outer_up)
        pts[list(idx), 0] = xs
        pts[list(idx), 1] = ys
    # nose 27-35
    nl = 0.42 * ident.nose_len
    pts[27:31, 0] = 0.0
    pts[27:31, 1] = np.linspace(ident.eye_y + 0.02, ident.eye_y + 0.02 + nl, 4)
    tip = pts[30, 1]
    wr = g("nose_wrinkle")
    pts[31:36, 0] = np.linspace(-ident.nose_w, ident.nose_w, 5) * (1 + 0.1 * wr)
    pts[31:36, 1] = tip + 0.09 - 0.03 * wr + np.array([0.0, 0.02, 0.035, 0.02, 0.0])
    pts[27:31, 1] -= np.array([0, 0.0, 0.01, 0.02]) * wr
    # eyes 36-41 / 42-47
    open_ = max(0.15, 1.0 + 0.85 * g("eye_open"))
    eh = 0.065 * open_
    for side, base in ((-1, 36), (1, 42)):
        cx, cy = side * ident.eye_dx, ident.eye_y + 0.03 * lower
        w = ident.eye_w
        outer, inner = (cx - w, cx + w) if side == -1 else (cx + w, cx - w)
        if side == -1:
            order = [outer, None, None, inner, None, None]
        else:
            order = [inner, None, None, outer, None, None]
        x0, x3 = order[0], order[3]
        xa = x0 + (x3 - x0) / 3
        xb = x0 + 2 * (x3 - x0) / 3
        ring = [(x0, cy), (xa, cy - eh), (xb, cy - eh), (x3, cy), (xb, cy + 0.8 * eh),
                (xa, cy + 0.8 * eh)]
        pts[base : base + 6] = ring
    # mouth 48-59 outer, 60-67 inner
    my = ident.mouth_y + 0.12 * (ident.nose_len - 1)
    mw = ident.mouth_w * (1 + 0.22 * g("lip_stretch") + 0.06 * (g("corner_up_l") + g("corner_up_r"))
                          - 0.1 * g("lip_press"))
    thick = ident.lip_thick * (1 - 0.55 * min(g("lip_press"), 1.0))
    gap = 0.4 * max(jaw_drop, 0.0) + 0.01
    up_l = 0.15 * g("corner_up_l") - 0.12 * g("corner_down")
    up_r = 0.15 * g("corner_up_r") - 0.12 * g("corner_down")
    ul = 0.08 * g("upper_lip_up")
    xl, xr = -mw, mw
    top = my - gap / 2 - ul
    bot = my + gap / 2
    cl = (xl, my - up_l)
    cr = (xr, my - up_r)
    pts[48] = cl
    pts[54] = cr
    xs_up = np.array([-0.62, -0.28, 0.0, 0.28, 0.62]) * mw
    bow = np.array([0.4, 0.0, 0.25, 0.0, 0.4]) * 0.03
    lift = np.interp(xs_up, [xl, 0, xr], [cl[1] - my, 0, cr[1] - my]) * 0.6
    pts[49:54, 0] = xs_up
    pts[49:54, 1] = top - thick + bow + lift
    xs_lo = np.array([0.6, 0.3, 0.0, -0.3, -0.6]) * mw
    lift_lo = np.interp(xs_lo, [xl, 0, xr], [cl[1] - my, 0, cr[1] - my]) * 0.6
    pts[55:60, 0] = xs_lo
    pts[55:60, 1] = bot + thick * 1.25 + lift_lo - 0.01 * np.cos(np.pi * xs_lo / mw)
    pts[60] = (xl + 0.06 * mw, cl[1])
    pts[64] = (xr - 0.06 * mw, cr[1])
    xs_in = np.array([-0.33, 0.0, 0.33]) * mw
    lin = np.interp(xs_in, [xl, 0, xr], [cl[1] - my, 0, cr[1] - my]) * 0.6
    pts[61:64, 0] = xs_in
    pts[61:64, 1] = top + lin
    pts[65:68, 0] = xs_in[::-1]
    pts[65:68, 1] = bot + lin[::-1]
    return pts


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-(((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2) / 2)


def render_face(
    ident: Identity,
    params: np.ndarray,
    *,
    light: tuple[float, float, float] = (0.0, -0.3, 1.0),
    pose: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 0.0),
    size: tuple[int, int] = (256, 256),
    face_px: float = 64.0,
    rng: np.random.Generator | None = None,
    noise: float = 0.02,
    gain: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one gray face; returns ``(image uint8 HxW, landmarks (68, 2) in pixels)``.

    ``pose`` is ``(roll degrees, scale, dx px, dy px)``; ``face_px`` is the pixel size of one
    canonical unit; ``light`` a direction (x right, y down, z towards the camera).
    """
    import cv2

    rng = rng if rng is not None else np.random.default_rng(0)
    h, w = size
    lm = landmarks68(ident, params)
    roll, scale, dx, dy = pose
    cx, cy = w / 2, h / 2 - 0.1 * face_px
    # pixel coordinates of every canonical point: centre the face, then roll/scale/shift
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    X = (xx - cx) / face_px
    Y = (yy - cy) / face_px
    p = params * ident.expressiveness
    jaw = max(float(p[P["jaw_drop"]]), 0.0)
    fw, fh = ident.face_w, ident.face_h + 0.22 * jaw

    # height field
    ey = -0.15
    ry = np.where(Y < ey, 1.35, fh - ey + 0.05)
    head = 1 - (X / (fw + 0.02)) ** 2 - ((Y - ey) / ry) ** 2
    inside = head > 0
    z = np.sqrt(np.clip(head, 0, None)) * 1.0
    nb = lm[27:31]
    z += 0.16 * _gauss(X, Y, 0.0, (nb[0, 1] + nb[3, 1]) / 2, 0.07, (nb[3, 1] - nb[0, 1]) / 1.6)
    z += 0.22 * _gauss(X, Y, 0.0, nb[3, 1] + 0.02, 0.10, 0.07)
    for s in (-1, 1):
        ec = lm[36:42].mean(0) if s == -1 else lm[42:48].mean(0)
        z -= 0.12 * _gauss(X, Y, ec[0], ec[1], 0.15, 0.10)
        bc = lm[17:22].mean(0) if s == -1 else lm[22:27].mean(0)
        z += 0.05 * _gauss(X, Y, bc[0], bc[1] + 0.02, 0.22, 0.05)
        z += 0.08 * _gauss(X, Y, s * 0.45, 0.2 - 0.05 * p[P["corner_up_l" if s < 0 else "corner_up_r"]],
                           0.18, 0.14)
    mc = lm[48:60].mean(0)
    z += 0.05 * _gauss(X, Y, mc[0], mc[1], (lm[54, 0] - lm[48, 0]) / 2.2, 0.07)
    z += 0.06 * _gauss(X, Y, 0.0, lm[8, 1] - 0.12, 0.2, 0.1)
    z = np.where(inside, z, 0)

    # neck and hair silhouettes
    neck = (np.abs(X) < fw * 0.55) & (Y > 0.3)
    gy, gx = np.gradient(z)
    n = np.stack([-gx * face_px, -gy * face_px, np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    lv = np.asarray(light, np.float64)
    lv = lv / np.linalg.norm(lv)
    lam = np.clip(n @ lv, 0, None)
    shade = 0.4 + 0.7 * lam

    bg = ident.background * (0.85 + 0.3 * (xx / w - 0.5) * lv[0])
    img = np.where(neck, ident.skin * 0.55 * (0.6 + 0.4 * lv[2]), bg)
    img = np.where(inside, ident.skin * shade, img)

    # hair cap over the forehead top and sides
    hair_line = -0.86 - 0.08 * ident.hair_style
    hair_outer = 1 - (X / (fw + 0.12)) ** 2 - ((Y + 0.2) / 1.42) ** 2
    hair = (hair_outer > 0) & ((Y < hair_line + 0.12 * (X / fw) ** 2 * (2 - ident.hair_style))
                               | ((~inside) & (Y < 0.1 * ident.hair_style - 0.1)))
    img = np.where(hair, ident.hair * (0.7 + 0.3 * shade), img)

    canvas = np.clip(img, 0, 1).astype(np.float32)
    to_px = lambda q: np.round((np.asarray(q) * face_px + [cx, cy]) * 16).astype(np.int32)  # noqa: E731
    aa = cv2.LINE_AA
    skin_dark = ident.skin * 0.55

    def poly(points, value, closed=True, fill=True, thick=1.0):
        pts_px = to_px(points).reshape(-1, 1, 2)
        if fill:
            cv2.fillPoly(canvas, [pts_px], float(value), aa, shift=4)
        else:
            cv2.polylines(canvas, [pts_px], closed, float(value), max(1, int(thick)), aa, shift=4)

    # wrinkles and folds: multiplicative darkening of the shaded skin
    folds = np.zeros_like(canvas)

    def crease(points, strength, thick):
        pts_px = to_px(points).reshape(-1, 1, 2)
        cv2.polylines(folds, [pts_px], False, float(strength), max(1, int(thick)), aa, shift=4)

    wr = float(p[P["nose_wrinkle"]])
    if wr > 0.05:
        for k in (-1, 1):
            crease(np.array([[k * 0.07, lm[28, 1] - 0.02], [k * 0.16, lm[29, 1]]]), 0.4 * wr,
                   face_px / 40)
    up = float(p[P["brow_inner_up"]] + p[P["brow_outer_up"]])
    if up > 0.4:
        for j in range(2):
            yline = lm[19, 1] - 0.12 - 0.07 * j
            crease(np.array([[-0.35, yline], [0.0, yline - 0.02], [0.35, yline]]),
                   0.18 * min(up, 2), face_px / 48)
    fold = float(p[P["corner_up_l"]] + p[P["corner_up_r"]] + p[P["upper_lip_up"]])
    for k, corner in ((-1, 48), (1, 54)):
        top = np.array([k * (ident.nose_w + 0.05), lm[33, 1] - 0.05])
        crease(np.array([top, (top + lm[corner]) / 2 + [k * 0.06, 0], lm[corner] + [k * 0.06, 0.02]]),
               0.1 + 0.12 * min(max(fold, 0), 2), face_px / 40)
    canvas *= 1 - np.clip(folds, 0, 0.6)
    # eye sockets and the shadow under the brows: darker albedo, as on real faces
    socket = sum(_gauss(X, Y, *lm[i : i + 6].mean(0), 0.17, 0.09) for i in (36, 42))
    canvas *= (1 - 0.22 * socket).astype(np.float32)

    # eyebrows: filled bands
    for idx in (range(17, 22), range(22, 27)):
        b = lm[list(idx)]
        band = np.concatenate([b + [0, -ident.brow_thick / 2], (b + [0, ident.brow_thick / 2])[::-1]])
        poly(band, ident.hair * 0.9 + 0.05)
    # eyes: sclera, iris, lids
    for base in (36, 42):
        e = lm[base : base + 6]
        poly(e, min(0.95, ident.skin + 0.15))
        ec = e.mean(0)
        r = ident.eye_w * 0.55
        mask = np.zeros_like(canvas)
        cv2.fillPoly(mask, [to_px(e).reshape(-1, 1, 2)], 1.0, aa, shift=4)
        iris = np.zeros_like(canvas)
        c = to_px(ec)
        cv2.circle(iris, (int(c[0]), int(c[1])), int(r * face_px * 16), 1.0, -1, aa, shift=4)
        a = mask * iris
        canvas = canvas * (1 - a) + a * ident.iris
        pupil = np.zeros_like(canvas)
        cv2.circle(pupil, (int(c[0]), int(c[1])), int(r * 0.45 * face_px * 16), 1.0, -1, aa, shift=4)
        a = mask * pupil
        canvas = canvas * (1 - a) + a * 0.03
        poly(e[[0, 1, 2, 3]], 0.08, closed=False, fill=False, thick=max(1, face_px / 28))
        poly(e[[3, 4, 5, 0]], skin_dark, closed=False, fill=False, thick=1)
    # nostrils
    for k in (32, 34):
        c = to_px(lm[k] + [0, -0.02])
        axes = (int(0.045 * face_px * 16), int(0.025 * face_px * 16))
        cv2.ellipse(canvas, (int(c[0]), int(c[1])), axes, 0, 0, 360, 0.12, -1, aa, shift=4)
    # mouth: lips then the opening
    outer, inner = lm[48:60], lm[60:68]
    poly(outer, ident.skin * 0.5)
    if (inner[5:8, 1] - inner[1:4][::-1, 1]).max() > 0.025:
        poly(inner, 0.07)
        teeth = np.array([inner[0], inner[1], inner[2], inner[3], inner[4]])
        tb = teeth + [0, 0.035 + 0.03 * jaw]
        band = np.concatenate([teeth, tb[::-1]])
        poly(band, 0.85)
    poly(inner[[0, 1, 2, 3, 4]], 0.15, closed=False, fill=False, thick=max(1, face_px / 40))

    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6 + face_px / 160)
    canvas = canvas * gain + noise * rng.standard_normal(canvas.shape).astype(np.float32)

    # head pose: roll/scale/shift about the nose tip
    nose = lm[30] * face_px + [cx, cy]
    m = cv2.getRotationMatrix2D((float(nose[0]), float(nose[1])), float(roll), float(scale))
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lm_px = lm * face_px + [cx, cy]
    lm_px = lm_px @ m[:, :2].T + m[:, 2]
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8), lm_px.astype(np.float32)
