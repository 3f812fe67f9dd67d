"""Chinese identity numbers: the resident ID card (GB 11643) and the unified social credit
code (GB 32100), both 18 characters ending in a checksum."""

from __future__ import annotations

import re
from datetime import date

from openmaas.errors import InvalidField

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_PATTERN = re.compile(r"^[1-9A-HJ-NP-RTUWXY][0-9A-HJ-NP-RTUWXY]\d{6}[0-9A-HJ-NP-RTUWXY]{10}$")


def id_number_check_char(first17: str) -> str:
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str, field: str = "id_number") -> str:
    """The normalised 18-character resident ID number, or InvalidField."""
    number = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidField(field, "18 characters: 17 digits and a digit or X")
    if not _is_birth_date(number[6:14]):
        raise InvalidField(field, "the birth date in it is not a real date")
    if id_number_check_char(number[:17]) != number[17]:
        raise InvalidField(field, "checksum does not match")
    return number


def _is_birth_date(digits: str) -> bool:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def credit_code_check_char(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str, field: str = "credit_code") -> str:
    """The normalised 18-character unified social credit code, or InvalidField."""
    code = value.strip().upper()
    if not CREDIT_PATTERN.match(code):
        raise InvalidField(field, "18 characters of digits and capitals except I, O, S, V, Z")
    if credit_code_check_char(code[:17]) != code[17]:
        raise InvalidField(field, "checksum does not match")
    return code


def mask(identifier: str) -> str:
    """First 4 and last 2 characters: enough to recognise, not enough to reuse."""
    return f"{identifier[:4]}{'*' * (len(identifier) - 6)}{identifier[-2:]}"
