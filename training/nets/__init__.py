"""Networks in plain torch (no torchvision here)."""
