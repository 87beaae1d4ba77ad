"""Công Thư: the official e-mail system of a Vietnamese province (Quy chế thư điện tử)."""

__version__ = "0.1.0"
