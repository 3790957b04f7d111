"""Accuracy, label-free validators, proxy A-distance, translation quality, the guard."""
