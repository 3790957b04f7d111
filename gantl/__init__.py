"""gantl: GAN-based transfer learning as a versioned, reproducible pipeline."""

__version__ = "0.1.0"
