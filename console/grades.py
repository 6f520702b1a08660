"""The credit grades, best first, and what each is worth to a match.

One definition for the scorecard (which grades a total earns), the credit metrics, the
match score, the car-source search, the merchant directory and the pages' pickers.
"""
from __future__ import annotations

from collections.abc import Mapping

GRADES: tuple[str, ...] = ("AAA", "AA", "A", "BBB", "BB", "B", "C")   # rank = index + 1

# A seller's credit component in the match score (0..1): even steps of 0.15 from AAA down.
# An unrated seller gets the neutral value (console.services.matching.NEUTRAL).
GRADE_POINTS: Mapping[str, float] = {
    "AAA": 1.0, "AA": 0.85, "A": 0.7, "BBB": 0.55, "BB": 0.4, "B": 0.25, "C": 0.1}
