"""Seeing inside a network: gradient checks, gradient-flow monitoring, problem detectors, explain mode."""

from .gradcheck import gradcheck

__all__ = ["gradcheck"]
