"""Unicode text read as what it looks like: the forms of Meta's canonical values.

Values typed into forms, phones and spreadsheets carry look-alikes of ASCII: full-width
digits and letters from East Asian input methods (``１２３４５``, ``ＪＯＨＮ``), dashes that word
processors and phones put for "-" (en dash, minus sign, non-breaking hyphen...), no-break and
ideographic spaces, and invisible format characters (zero-width space, byte order mark, soft
hyphen). Spec section 3 ("Unicode"): where Meta's canonical form is ASCII they are normalized
before the rules of the key apply, so ``650–555–1212`` (us) is ``16505551212``.

- ``ascii_form``: Unicode compatibility forms (NFKC), every dash (category Pd) and minus sign
  as "-", every space as " ", format characters removed. For keys whose canonical form is
  ASCII: emails, states, currencies, enum words (countries and genders get the same from
  ``geo.lookup_key``'s NFKD folding).
- ``numeric_form``: ``ascii_form``, decimal digits of any script as ASCII digits, and the
  katakana prolonged sound mark ``ー`` read as a dash: Japanese input methods type it for "-"
  in kana mode. For values made of digits (phones, postal codes, dates of birth, numbers,
  times, IP addresses), where ``ー`` can be nothing else (in a name or a state it is a
  letter) and ``٣`` is a 3 (in an email's local part it is a letter of its own).
- ``fold_presentation_forms``: only full-width/half-width forms and Arabic positional forms,
  for names and cities, which keep letters of any script in NFC (spec); see its docstring.

ASCII text, most values, is returned as is after one ``str.isascii()``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Minus signs outside category Pd: U+2212 minus (Sm; NFKC also makes it of superscript and
# subscript minus), U+02D7 modifier letter minus (Sk), U+2796 heavy minus (So).
MINUS_SIGNS: Final = "\u2212\u02d7\u2796\u207b\u208b"
# U+30FC katakana-hiragana prolonged sound mark; NFKC turns the half-width U+FF70 into it.
NUMERIC_DASHES: Final = "\u30fc\uff70"
# The non-ASCII characters _ascii_char may change: non-ASCII and not a letter or digit (\w):
# dashes, spaces, format characters, symbols, combining marks. Letters, the non-ASCII
# characters of most values ("élodie@exemple.fr"), are passed over in C.
NON_ASCII_NON_WORD = re.compile(r"[^\w\x00-\x7f]")
_NON_ASCII_DIGIT = re.compile(r"[^\D\x00-\x7f]")  # \d is any script's decimal digit
# Half-width and full-width forms (U+FF00-U+FFEF) and Arabic presentation forms A and B
# (U+FB50-U+FDFF, U+FE70-U+FEFF): the same letters as others, in another width or shape.
_PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufeff\uff00-\uffef]+")


def ascii_form(text: str) -> str:
    """Trimmed text with its look-alikes of ASCII read as ASCII (see the module doc).

    ``"６５０–５５５"`` -> ``"650-555"``; ``"\\ufeffann@example.com"`` -> ``"ann@example.com"``.
    Letters of other scripts stay (``"Élodie"`` keeps its ``É``). Cost: linear, two C passes
    (NFKC, a regex) and a callback per non-ASCII non-letter; callers bound the length.
    """
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKC", text)
    if not folded.isascii():
        folded = NON_ASCII_NON_WORD.sub(_ascii_char, folded)
    return folded.strip()


def numeric_form(text: str) -> str:
    """``ascii_form`` for values made of digits (phones, postal codes, dates, numbers, times):
    also ``ー`` as "-" and digits of any script as ASCII (``"٠٦"`` -> ``"06"``)."""
    if text.isascii():
        return text
    folded = ascii_form(text.replace("\u30fc", "-").replace("\uff70", "-"))
    if folded.isascii():
        return folded
    return _NON_ASCII_DIGIT.sub(_ascii_digit, folded)


def _ascii_digit(match: re.Match[str]) -> str:
    return str(unicodedata.decimal(match.group()))  # every Nd character has a decimal value


def _ascii_char(match: re.Match[str]) -> str:
    char = match.group()
    category = unicodedata.category(char)
    if category == "Pd" or char in MINUS_SIGNS:
        return "-"
    if category[0] == "Z":  # Zs spaces NFKC kept (U+1680), line and paragraph separators
        return " "
    if category == "Cf":  # zero-width space, byte order mark, soft hyphen, bidi marks...
        return ""
    return char


def fold_presentation_forms(text: str) -> str:
    """Full-width Latin (``ＪＯＨＮ``), half-width katakana (``ﾔﾏﾀﾞ``) and Arabic positional
    forms as the letters they show (``JOHN``, ``ヤマダ``, base Arabic letters); nothing else.

    Names and cities keep letters of any script in NFC (spec), so they do not get NFKC as a
    whole: it would also rewrite what is spelled on purpose or kept as written, such as
    ligatures (``ﬁ``), superscript and circled letters, digraph letters (``ǆ``) or Hangul
    compatibility jamo. Width and Arabic positional shape are presentation only: input
    methods and PDF text produce them for the plain letter, so they are folded (by NFKC,
    which is what it maps them to).
    """
    if text.isascii() or _PRESENTATION_FORMS.search(text) is None:
        return text
    return _PRESENTATION_FORMS.sub(_nfkc, text)


def _nfkc(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def is_utf8(text: str) -> bool:
    """False for text holding a lone surrogate (it has no UTF-8 form: JSON's ``"\\ud83d"``
    escape of a cut emoji parses into one); ASCII text is answered without a copy."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
