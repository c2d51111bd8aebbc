"""Cancellation shared by every engine loop (raster windows, downloads, scenes)."""


class Cancelled(Exception):
    """Raised by engine loops when the caller asks to stop."""


def check_cancel(is_canceled):
    if is_canceled is not None and is_canceled():
        raise Cancelled()
