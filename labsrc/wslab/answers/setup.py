"""Lesson 00's answer: the warm-up exercise."""


def greeting(name: str) -> str:
    """The greeting for ``name``: ``greeting("Ada")`` returns ``"Hello, Ada!"``."""
    return f"Hello, {name}!"
