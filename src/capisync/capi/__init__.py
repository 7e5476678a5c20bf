"""The pure core: Meta's Conversions API rules. No I/O, no clock, no environment reads."""
