"""mftctl: train, diagnose and compare two-layer denoising networks whose weight pairs form blobs."""

__version__ = "0.1.0"
