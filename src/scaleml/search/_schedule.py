"""Successive halving and Hyperband schedules: how many models, trained how far.

Pure bookkeeping, no estimators: a :class:`Bracket` starts ``n`` models, trains
each to ``budgets[0]`` partial_fit calls, keeps the best ``1/aggressiveness`` of
them, trains those to ``budgets[1]``, and so on (Jamieson & Talwalkar 2016).
Hyperband runs several brackets at once, from many models trained briefly to a
few trained fully (Li et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Bracket:
    """One successive-halving run.

    Attributes
    ----------
    index : int
        The bracket's number (Hyperband's ``s``; 0 for a lone run).
    counts : list of int
        Models at each rung, first to last.
    budgets : list of int
        partial_fit calls each model at that rung has received in total.
    """

    index: int
    counts: list[int]
    budgets: list[int]
    rung: int = 0
    scores: dict[int, float] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)

    @property
    def planned_calls(self) -> int:
        calls, previous = 0, 0
        for count, budget in zip(self.counts, self.budgets):
            calls += count * (budget - previous)
            previous = budget
        return calls

    @property
    def done(self) -> bool:
        return self.rung >= len(self.budgets)

    def start(self, model_ids: list[int]) -> None:
        self.members = list(model_ids)
        self.counts[0] = len(model_ids)  # the sampler may give fewer (a small grid)
        for i in range(1, len(self.counts)):
            self.counts[i] = min(self.counts[i], self.counts[i - 1])

    def report(self, model_id: int, score: float) -> list[int] | None:
        """Record a score; when the rung is complete, return the models promoted.

        Returns None while the rung still waits for scores, and an empty list
        when the bracket has finished. Ties go to the model started first; a
        failed model (NaN) is never promoted ahead of one that scored.
        """
        self.scores[model_id] = score
        if len(self.scores) < len(self.members):
            return None
        self.rung += 1
        if self.done:
            return []
        keep = self.counts[self.rung]
        ranked = sorted(self.members, key=lambda m: (-_finite(self.scores[m]), m))
        self.members = [m for m in ranked[:keep] if not math.isnan(self.scores[m])]
        self.scores = {}
        if not self.members:
            self.rung = len(self.budgets)
        return list(self.members)


def _finite(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def halving_bracket(n_models: int, first_budget: int, aggressiveness: int, max_budget: int | None) -> Bracket:
    """A lone successive-halving run: rungs until one model is left or ``max_budget`` reached."""
    counts, budgets = [n_models], [first_budget]
    while counts[-1] > 1 and (max_budget is None or budgets[-1] < max_budget):
        counts.append(max(1, counts[-1] // aggressiveness))
        budget = budgets[-1] * aggressiveness
        budgets.append(budget if max_budget is None else min(budget, max_budget))
    return Bracket(0, counts, budgets)


def hyperband_brackets(max_budget: int, aggressiveness: int) -> list[Bracket]:
    """Hyperband's brackets for a most-trained model of ``max_budget`` partial_fit calls.

    Bracket ``s`` starts ``ceil((s_max + 1) / (s + 1) * eta**s)`` models at
    ``max_budget / eta**s`` calls each, so every bracket spends about the same
    compute; the most aggressive first.
    """
    eta = aggressiveness
    s_max = 0
    while eta ** (s_max + 1) <= max_budget:
        s_max += 1
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * eta**s / (s + 1))
        counts = [max(1, n // eta**i) for i in range(s + 1)]
        budgets = [max(1, max_budget // eta ** (s - i)) for i in range(s + 1)]
        brackets.append(Bracket(s, counts, budgets))
    return brackets
