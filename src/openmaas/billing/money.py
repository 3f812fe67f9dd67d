"""Money arithmetic: integer micro-yuan (µ元 = 1e-6 元), never floats.

Rounding rule: a charge is rounded UP to the next µ元, so non-zero use at a non-zero
price never costs zero; a zero price costs zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MICRO_PER_YUAN = 1_000_000


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def yuan_to_micro(yuan: str | int | Decimal) -> int:
    value = Decimal(str(yuan)) * MICRO_PER_YUAN
    if value != value.to_integral_value():
        raise ValueError(f"{yuan} 元 is finer than 1 µ元")
    return int(value)


def micro_to_yuan(micro: int) -> str:
    """For display: 元 with 6 decimals, trailing zeros kept to 2 (e.g. '0.10', '0.000123')."""
    text = f"{Decimal(micro) / MICRO_PER_YUAN:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def round_yuan(micro: int) -> str:
    return str((Decimal(micro) / MICRO_PER_YUAN).quantize(Decimal("0.01"), ROUND_HALF_UP))


@dataclass(frozen=True)
class Price:
    """µ元 per 1,000 tokens for input and output; µ元 per image."""

    input_per_1k: int = 0
    output_per_1k: int = 0
    per_image: int = 0

    def token_cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        return ceil_div(prompt_tokens * self.input_per_1k + completion_tokens * self.output_per_1k, 1000)

    def scaled(self, percent: int) -> Price:
        """This price at `percent` % (rounded up per 1k, so a discount never makes it free)."""
        if percent == 100:
            return self
        return Price(
            *(ceil_div(v * percent, 100) for v in (self.input_per_1k, self.output_per_1k, self.per_image))
        )

    @property
    def free(self) -> bool:
        return not (self.input_per_1k or self.output_per_1k or self.per_image)
