"""Speculative decoding's maths (engines/speculative.py), without model weights: greedy
acceptance reproduces the model's own picks, rejection sampling leaves every emitted token
distributed as the model's distribution, that distribution is the one llama.cpp's plain
sampler chain samples from, and prompt lookup proposes what followed the context's tail."""

from __future__ import annotations

import ctypes

import llama_cpp as C
import numpy as np
import pytest

from openmaas.engines.base import SamplingParams
from openmaas.engines.speculative import (
    MIN_P,
    TOP_K,
    Candidates,
    DraftPolicy,
    LookupDrafter,
    accept_greedy,
    accept_sampled,
    candidates,
)


def test_greedy_acceptance_keeps_drafts_while_they_match_then_takes_the_models_pick():
    picks = [7, 8, 9, 10, 11]
    assert accept_greedy([7, 8, 9, 10], picks.__getitem__) == [7, 8, 9, 10, 11]  # all + bonus
    assert accept_greedy([7, 5, 9, 10], picks.__getitem__) == [7, 8]  # correction at 1
    assert accept_greedy([1, 8], picks.__getitem__) == [7]


def _distribution(probs: dict[int, float]) -> Candidates:
    return Candidates(np.array(list(probs)), np.array(list(probs.values())))


@pytest.mark.parametrize("draft", [[0, 0], [2, 1], [3, 3]])  # likely, unlikely, impossible drafts
def test_every_emitted_token_is_distributed_as_the_model_says(draft):
    """First and second emitted tokens over 40k rounds match p to within sampling noise,
    whatever the draft proposed: the draft changes speed, never the output distribution."""
    first = _distribution({0: 0.6, 1: 0.3, 2: 0.1})
    second = _distribution({0: 0.2, 1: 0.5, 2: 0.3})
    rng = np.random.default_rng(1234)
    firsts, seconds = np.zeros(4), np.zeros(4)
    rounds = 40_000
    for _ in range(rounds):
        out = accept_sampled(draft, [first, second, second].__getitem__, rng)
        firsts[out[0]] += 1
        if len(out) > 1:
            seconds[out[1]] += 1
        else:  # the round ended at a rejection: the next round samples it from `second`
            seconds[second.sample(rng)] += 1
    assert np.allclose(firsts[:3] / rounds, first.probs, atol=0.01)
    assert np.allclose(seconds[:3] / rounds, second.probs, atol=0.01)
    assert firsts[3] == seconds[3] == 0  # a token outside p is never emitted


def _llama_cpp_chain_probs(logits: np.ndarray, params: SamplingParams) -> dict[int, float]:
    """llama.cpp's own chain (as llama_runtime.build_sampler builds it, without the final
    draw) applied to `logits`: the surviving ids and their softmax."""
    chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
    for sampler in (
        C.llama_sampler_init_top_k(TOP_K),
        C.llama_sampler_init_top_p(params.top_p, 1),
        C.llama_sampler_init_min_p(MIN_P, 1),
        C.llama_sampler_init_temp(params.temperature),
    ):
        C.llama_sampler_chain_add(chain, sampler)
    data = (C.llama_token_data * len(logits))(
        *[C.llama_token_data(id=i, logit=float(x), p=0.0) for i, x in enumerate(logits)]
    )
    array = C.llama_token_data_array(data=data, size=len(logits), selected=-1, sorted=False)
    C.llama_sampler_apply(chain, ctypes.byref(array))
    C.llama_sampler_free(chain)
    kept = [(data[i].id, data[i].logit) for i in range(array.size)]
    top = max(logit for _, logit in kept)
    weights = {token: np.exp(logit - top) for token, logit in kept}
    total = sum(weights.values())
    return {token: w / total for token, w in weights.items()}


@pytest.mark.parametrize(
    ("temperature", "top_p", "scale"), [(0.95, 0.7, 3.0), (0.7, 0.9, 1.0), (1.0, 1.0, 0.5), (0.3, 0.99, 2.0)]
)
def test_the_distribution_is_the_one_llama_cpps_chain_samples_from(temperature, top_p, scale):
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal(5000) * scale).astype(np.float32)
    params = SamplingParams(max_tokens=1, temperature=temperature, top_p=top_p)
    expected = _llama_cpp_chain_probs(logits, params)
    ours = candidates(logits, params)
    assert set(ours.ids.tolist()) == set(expected)
    for token, prob in zip(ours.ids.tolist(), ours.probs.tolist(), strict=True):
        assert prob == pytest.approx(expected[token], abs=1e-5)


def test_banned_tokens_get_no_probability():
    logits = np.zeros(100, dtype=np.float32)
    logits[5], logits[6] = 10.0, 9.0
    ours = candidates(logits, SamplingParams(max_tokens=1, temperature=1.0, top_p=1.0), banned=[5])
    assert 5 not in ours.ids.tolist() and ours.ids[0] == 6 and ours.probs.sum() == pytest.approx(1.0)


def test_prompt_lookup_proposes_what_followed_the_latest_match_of_the_tail():
    drafter = LookupDrafter(longest=3, shortest=2)
    context = [1, 2, 3, 4, 5, 9, 2, 3, 4, 6, 7, 8, 0, 2, 3, 4]
    assert drafter.propose(context, 3) == [6, 7, 8]  # the later of two matches of [2, 3, 4]
    assert drafter.propose([5, 6, 7, 8], 3) == []  # the tail never occurred before
    assert drafter.propose([4, 4, 4], 5) == [4]  # an overlapping match proposes what follows it
    assert drafter.propose([1], 3) == []


def _policy(**overrides) -> DraftPolicy:
    # the packaged 1.5B's verify costs here (26 ms for 1 token ... 102 ms for 5), the 0.5B drafting
    fields = {"verify_seconds": (0.026, 0.049, 0.068, 0.085, 0.102), "draft_seconds": 0.0157} | overrides
    return DraftPolicy(**fields)


def test_no_draft_when_verifying_costs_as_much_as_plain_steps_but_a_probe_now_and_then():
    policy = _policy(kept=99.0, rejected=1.0)  # even at 99 % acceptance a draft does not pay
    lengths = [policy.draft_length() for _ in range(64)]
    assert lengths.count(4) == 2 and lengths.count(0) == 62  # a probe every 32 plain steps


def test_cheap_verification_and_good_acceptance_draft_the_best_length():
    cheap = (0.026, 0.028, 0.030, 0.032, 0.034)  # batched tokens nearly free (memory-bound)
    good = _policy(verify_seconds=cheap, draft_seconds=0.004, kept=9.0, rejected=1.0)
    assert good.draft_length() == 4
    poor = _policy(verify_seconds=cheap, draft_seconds=0.004, kept=1.0, rejected=9.0)
    assert poor.draft_length() in (0, 1)
    assert _policy(always=True).draft_length() == 4


def test_acceptance_follows_what_rounds_keep():
    policy = _policy()
    for _ in range(40):
        policy.observe(drafted=4, kept=0)
    assert policy.acceptance < 0.05
    for _ in range(40):
        policy.observe(drafted=4, kept=4)
    assert policy.acceptance > 0.95


def test_a_draft_that_cannot_pay_even_fully_kept_is_refused():
    assert not _policy().can_pay()  # 0.5B drafting for the packaged 1.5B on 2 cores
    assert _policy(draft_seconds=0.0).can_pay()  # prompt lookup: 5 tokens in 102 ms > 1 in 26
    assert not _policy(draft_seconds=0.0, verify_seconds=(0.026, 0.052, 0.078)).can_pay()


def test_rounds_slower_than_plain_steps_stop_drafting_whatever_the_cost_model_says():
    cheap = (0.026, 0.028, 0.030, 0.032, 0.034)
    policy = _policy(verify_seconds=cheap, draft_seconds=0.0, kept=9.0, rejected=1.0)
    assert policy.draft_length() == 4
    for _ in range(10):
        policy.observe_time(1, 0.026, drafted=False)  # plain: 38 tok/s
        policy.observe_time(3, 0.120, drafted=True)  # rounds: 25 tok/s
    assert policy.draft_length() == 0
    for _ in range(40):
        policy.observe_time(5, 0.050, drafted=True)  # rounds got fast: 100 tok/s
    assert policy.draft_length() == 4
