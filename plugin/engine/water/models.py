"""Pick the water model that fits a stack, by the channels the model declares."""


def stack_channels(descriptions):
    """Upper-case channel names from band descriptions ('' where a band has none)."""
    return [(d or "").strip().upper() for d in descriptions]


def missing_channels(model_channels, descriptions):
    names = set(stack_channels(descriptions))
    return [c for c in model_channels if c.upper() not in names]


def choose_model(models, descriptions):
    """(path, meta) of the water model using the most channels that the stack has.

    ``models``: [(path, meta)] as from ``model.find_models``. Raises ValueError
    naming what the closest model lacks when none fits.
    """
    water = [(p, m) for p, m in models if m.get("task") == "water"]
    if not water:
        raise ValueError("no water model is available: give a model file")
    fitting = [(p, m) for p, m in water if not missing_channels(m["channels"], descriptions)]
    if fitting:
        return max(fitting, key=lambda pm: len(pm[1]["channels"]))
    names = [n for n in stack_channels(descriptions) if n]
    closest = min(water, key=lambda pm: len(missing_channels(pm[1]["channels"], descriptions)))
    lacking = missing_channels(closest[1]["channels"], descriptions)
    raise ValueError(
        f"the stack's bands ({', '.join(names) or 'unnamed'}) do not provide the channels any "
        f"water model needs: e.g. {closest[0].name} needs {', '.join(closest[1]['channels'])} "
        f"and the stack lacks {', '.join(lacking)} (build it with 'Build water stack')"
    )


def check_model_fits(meta, descriptions, count):
    """Refuse a stack that lacks a channel the chosen model needs (by band names)."""
    names = [n for n in stack_channels(descriptions) if n]
    if names:
        lacking = missing_channels(meta["channels"], descriptions)
        if lacking:
            raise ValueError(
                f"the stack lacks channel(s) {', '.join(lacking)} that the model needs "
                f"(model channels {', '.join(meta['channels'])}; stack bands {', '.join(names)})"
            )
    elif count != len(meta["channels"]):
        raise ValueError(
            f"the model needs {len(meta['channels'])} bands ({', '.join(meta['channels'])}) but the "
            f"stack has {count} unnamed band(s)"
        )
