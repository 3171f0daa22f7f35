"""Scheduler choices offered to users, by short name. Class names only: diffusers is imported lazily."""

from __future__ import annotations

# name -> (diffusers class name, extra config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, object]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}

# The names other tools (AUTOMATIC1111) write in their "Sampler:" metadata field.
A1111_SAMPLER_NAMES = {
    "euler": "Euler",
    "euler-a": "Euler a",
    "dpm++": "DPM++ 2M",
    "dpm++-karras": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "pndm": "PLMS",
    "lms": "LMS",
    "heun": "Heun",
    "unipc": "UniPC",
}


def make_scheduler(name: str, base_config: dict):
    """Build the named scheduler from a pipeline's own scheduler config."""
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    cls = getattr(diffusers, class_name)
    return cls.from_config(base_config, **overrides)
