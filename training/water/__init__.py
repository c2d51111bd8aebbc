"""Surface-water U-Net training: ``python -m training water`` (``cli.py``), data in ``data.py``
and ``etci.py``, the loop in ``train.py``, held-out measurement in ``evaluate.py``."""
