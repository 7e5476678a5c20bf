"""The pure core: Meta's Conversions API rules. No I/O, no clock, no environment reads."""


def is_compiled() -> bool:
    """Whether the per-row modules run compiled (mypyc, at install) or interpreted."""
    from capisync.capi import batch

    return not batch.__file__.endswith(".py")
