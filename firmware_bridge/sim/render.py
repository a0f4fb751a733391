"""Fast offscreen rendering of small MuJoCo scenes (64x64 RGB observations).

Rendering at 64x64 is dominated by shadow maps and reflections, not by pixels: with
``vis.quality.shadowsize = 0`` and the shadow, reflection, skybox and haze flags off, primitive-only
scenes render at thousands of frames per second on a software (llvmpipe) EGL context.
Select the backend with ``MUJOCO_GL`` (``egl`` headless, ``osmesa`` or ``glfw``) before MuJoCo is
imported. Left unset on a Linux machine without a display, MuJoCo picks GLFW, which cannot start
there; the first :class:`FastRenderer` then switches MuJoCo's context class to EGL.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import weakref

import mujoco
import numpy as np

from shared.errors import DaydreamerError

LOGGER = logging.getLogger(__name__)

#: scene flags that cost far more than they show at 64x64.
_EXPENSIVE_FLAGS: tuple[str, ...] = ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX",
                                     "mjRND_HAZE", "mjRND_FOG")


def make_model_cheap_to_render(model: mujoco.MjModel, multisamples: int = 0) -> None:
    """Switch off shadow maps and set multisample anti-aliasing in ``model`` (in place).

    Call before creating a renderer. MuJoCo's default of 4 samples costs about 3x on a software
    renderer at 64x64 (measured on the A1 scene); 0 gives slightly jagged edges.
    """
    model.vis.quality.shadowsize = 0
    model.vis.quality.offsamples = multisamples


class RenderError(DaydreamerError):
    """Rendering was asked of a closed renderer."""


_LIVE: weakref.WeakSet[FastRenderer] = weakref.WeakSet()
_EXIT_HOOK: list[bool] = []


def _close_all() -> None:
    """Free every GL context before interpreter shutdown tears EGL down under it."""
    for renderer in list(_LIVE):
        try:
            renderer.close()
        except Exception:
            LOGGER.debug("renderer close at exit failed", exc_info=True)


def _headless_fallback() -> None:
    """Use EGL when MuJoCo picked GLFW (imported before ``MUJOCO_GL`` was set) on a headless Linux.

    MuJoCo chooses its GL context class once, at import; without a display GLFW cannot start.
    """
    if os.environ.get("DISPLAY") or platform.system() != "Linux":
        return
    from mujoco.rendering.classic import gl_context

    current = getattr(gl_context, "GLContext", None)
    if current is None or not current.__module__.startswith("mujoco.glfw"):
        return
    try:
        from mujoco.egl import GLContext as EglContext
    except ImportError:
        LOGGER.warning("no display and no EGL: offscreen rendering will fail; set MUJOCO_GL")
        return
    LOGGER.info("MUJOCO_GL unset and no display: MuJoCo chose GLFW; "
                "rendering offscreen with EGL instead")
    gl_context.GLContext = EglContext


class FastRenderer:
    """A small offscreen renderer with the expensive effects switched off.

    Args:
        model: the MuJoCo model; its shadow size is set to 0.
        size: output height and width in pixels.
        camera: camera name or id; ``-1`` is the free camera.
        multisamples: anti-aliasing samples (0 = off, fastest; MuJoCo's default is 4).
    """

    def __init__(self, model: mujoco.MjModel, size: int = 64, camera: str | int = -1,
                 multisamples: int = 0) -> None:
        make_model_cheap_to_render(model, multisamples)
        _headless_fallback()
        self._renderer = mujoco.Renderer(model, size, size)
        if not _EXIT_HOOK:  # registered after MuJoCo's own GL exit hook, so it runs before it
            atexit.register(_close_all)
            _EXIT_HOOK.append(True)
        self._camera = camera
        self.frames = 0
        _LIVE.add(self)
        for name in _EXPENSIVE_FLAGS:
            self._renderer.scene.flags[getattr(mujoco.mjtRndFlag, name)] = 0

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The current frame, ``(size, size, 3)`` uint8 RGB (a fresh array)."""
        if self._renderer is None:
            raise RenderError("render() after close()")
        self._renderer.update_scene(data, self._camera)
        self.frames += 1
        return np.array(self._renderer.render(), dtype=np.uint8, copy=True)

    def close(self) -> None:
        """Free the GL context now (letting the garbage collector do it at exit can raise)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            LOGGER.debug("renderer close at garbage collection failed", exc_info=True)
