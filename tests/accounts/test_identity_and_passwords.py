"""Pure rules: ID-card and credit-code checksums, contacts, password strength and argon2id."""

from __future__ import annotations

import pytest

from openmaas.accounts.contacts import contact_for, normalize_phone, registration_contact
from openmaas.accounts.identity import (
    credit_code_check_char,
    id_number_check_char,
    mask,
    validate_credit_code,
    validate_id_number,
)
from openmaas.auth.passwords import Passwords
from openmaas.errors import InvalidField, MissingField


def with_check(first17: str) -> str:
    return first17 + id_number_check_char(first17)


@pytest.mark.parametrize("first17", ["11010519491231002", "44030620000229123", "32010219851105001"])
def test_id_numbers_with_the_right_check_character_pass(first17):
    assert validate_id_number(with_check(first17).lower()) == with_check(first17)


@pytest.mark.parametrize(
    "number, reason",
    [
        ("1101051949123100", "18 characters"),
        ("11010519491231002Y", "18 characters"),
        ("11010519491231002A", "18 characters"),
        ("110105194912310021", "checksum"),
        (with_check("44030619990229123"), "birth date"),  # 1999 was no leap year
        (with_check("44030621000101123"), "birth date"),  # in the future
    ],
)
def test_bad_id_numbers_are_1214_with_a_reason(number, reason):
    with pytest.raises(InvalidField) as caught:
        validate_id_number(number)
    assert caught.value.code == "1214" and reason in caught.value.message
    assert caught.value.param == "id_number"


def test_credit_codes_checksum_and_alphabet():
    valid = "91350100M000100Y43"
    assert validate_credit_code(f" {valid.lower()} ") == valid
    for bad in (valid[:17] + "4", valid[:-1], "91350100M000100I43", "0" + valid[1:]):
        with pytest.raises(InvalidField):
            validate_credit_code(bad)
    first17 = "91110108MA01AB2C3"
    assert validate_credit_code(first17 + credit_code_check_char(first17)).startswith(first17)


def test_mask_keeps_only_the_ends():
    assert mask("91350100M000100Y43") == "9135************43"


def test_contacts_are_normalised_and_exactly_one_identifies_an_account():
    assert contact_for("email", " Ann@Example.COM ").target == "ann@example.com"
    assert normalize_phone("+86 139 0013 9000") == "13900139000"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    with pytest.raises(InvalidField):
        registration_contact("a@example.com", "13900139000")
    with pytest.raises(MissingField):
        registration_contact(None, "")
    with pytest.raises(InvalidField):
        contact_for("fax", "123")


def test_passwords_are_argon2id_and_checked_for_strength():
    passwords = Passwords("CHEAPEST", min_length=8)
    stored = passwords.hash("s3cret-enough")
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    assert passwords.verify(stored, "s3cret-enough") and not passwords.verify(stored, "s3cret-enougH")
    assert not passwords.verify(None, "a password nobody has")  # the dummy hash never matches
    assert not passwords.verify("not a hash", "x")
    for weak in ("short1", "onlyletters", "12345678901", "x" * 129):
        with pytest.raises(InvalidField):
            passwords.check_strength(weak)
    passwords.check_strength("letters+digits1")


def test_a_stronger_profile_asks_for_a_rehash():
    cheap = Passwords("CHEAPEST").hash("s3cret-enough")
    assert Passwords("RFC_9106_LOW_MEMORY").needs_rehash(cheap)
    assert not Passwords("CHEAPEST").needs_rehash(cheap)
