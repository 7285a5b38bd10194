"""Credit bureau data (征信): the provider interface and a deterministic simulated bureau.

A bank reads the PBOC credit report (人行征信) or a licensed private bureau (百行, 朴道) through an
adapter that implements :class:`CreditBureau`; the decision path sees only a :class:`BureauReport`,
already reduced to the few facts the features use. Until a bank wires a real provider, the
:class:`SimulatedBureau` answers: a report drawn from a generator seeded by a hash of the customer
key, so the same customer always gets the same report (tests, demos and benchmarks repeat exactly)
and a population of keys has realistic shares of thin files, heavy inquirers and delinquents.
No I/O here: a real provider's network call lives in an adapter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from typing import Final, Protocol

from dipper.kernel.errors import ValidationFailed

__all__ = ["BureauReport", "CreditBureau", "SimulatedBureau"]

_MAX_KEY: Final = 200


@dataclass(frozen=True, slots=True)
class BureauReport:
    """What the features read from one credit report. Money in integer fen."""

    provider: str
    thin_file: bool  # 白户: no credit history at all
    inquiries_3m: int  # hard inquiries (loan and card approvals) in 3 months
    inquiries_6m: int
    current_delinquency: bool  # an account is past due now
    delinquencies_24m: int  # months with a delinquency in 24 months
    max_dpd_24m: int
    open_accounts: int
    monthly_debt_minor: int  # repayments due each month on open loans and cards
    card_utilisation: float | None  # card balances over limits; None without cards

    def __post_init__(self) -> None:
        counts = (self.inquiries_3m, self.inquiries_6m, self.delinquencies_24m, self.max_dpd_24m)
        if min(*counts, self.open_accounts, self.monthly_debt_minor) < 0:
            raise ValidationFailed(
                "bureau counts and amounts cannot be negative", code="invalid_bureau_report"
            )
        if self.inquiries_3m > self.inquiries_6m:
            raise ValidationFailed(
                "inquiries in 3 months cannot exceed those in 6 months", code="invalid_bureau_report"
            )

    def as_inputs(self) -> dict[str, object]:
        """The report under the feature inputs' names (``bureau_*``)."""
        return {
            "bureau_thin_file": self.thin_file,
            "bureau_inquiries_3m": self.inquiries_3m,
            "bureau_inquiries_6m": self.inquiries_6m,
            "bureau_current_delinquency": self.current_delinquency,
            "bureau_delinquencies_24m": self.delinquencies_24m,
            "bureau_max_dpd_24m": self.max_dpd_24m,
            "bureau_open_accounts": self.open_accounts,
            "bureau_monthly_debt_minor": self.monthly_debt_minor,
            "bureau_card_utilisation": self.card_utilisation,
        }


class CreditBureau(Protocol):
    """A source of credit reports. ``customer_key`` is the bank's stable key for the person (a
    customer id, or a hash of the ID number: never the plain ID in logs)."""

    @property
    def name(self) -> str: ...

    def report(self, customer_key: str, as_of: dt.date) -> BureauReport: ...


class SimulatedBureau:
    """A made-up but plausible bureau: deterministic per (seed, customer key).

    ``as_of`` does not change the report: a simulated customer's history stands still, which keeps
    a decision replayable. Shares over many keys: about 12% thin files, 2% currently delinquent.
    """

    def __init__(self, seed: str = "dipper-simulated-bureau-v1") -> None:
        self._seed = seed

    @property
    def name(self) -> str:
        return "simulated"

    def _rng(self, customer_key: str) -> random.Random:
        if not isinstance(customer_key, str) or not customer_key.strip() or len(customer_key) > _MAX_KEY:
            raise ValidationFailed(
                f"a customer key is a non-empty text of at most {_MAX_KEY} characters",
                code="invalid_customer_key",
            )
        digest = hashlib.sha256(f"{self._seed}\x1f{customer_key}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def report(self, customer_key: str, as_of: dt.date) -> BureauReport:
        rng = self._rng(customer_key)
        if rng.random() < 0.12:
            # A thin file still shows the inquiries the applicant triggered while shopping for credit.
            inq6 = rng.choices((0, 1, 2), (0.6, 0.3, 0.1))[0]
            inq3 = min(inq6, rng.choices((0, 1), (0.5, 0.5))[0])
            return BureauReport(self.name, True, inq3, inq6, False, 0, 0, 0, 0, None)
        risk = rng.betavariate(2.0, 5.0)  # a latent riskiness: most customers are good, a tail is not
        inq6 = min(30, int(rng.expovariate(1.0 / (1.0 + 10.0 * risk))))
        inq3 = min(inq6, round(inq6 * rng.uniform(0.3, 0.8)))
        current = rng.random() < 0.01 + 0.12 * risk**2
        delinquencies = 0 if rng.random() > 0.15 + risk else rng.randint(1, 2 + int(8 * risk))
        if current:
            delinquencies = max(delinquencies, 1)
        max_dpd = 0 if delinquencies == 0 else rng.choice((5, 15, 30, 45, 60, 90, 120)[: 3 + int(4 * risk)])
        accounts = rng.randint(1, 4 + int(8 * risk))
        # Monthly repayments: log-normal, median near 1,500 yuan, growing with the number of accounts.
        debt_yuan = rng.lognormvariate(7.0 + 0.1 * accounts, 0.8) if rng.random() < 0.85 else 0.0
        has_cards = rng.random() < 0.7
        utilisation = round(min(1.5, rng.betavariate(1.5 + 4.0 * risk, 3.0)), 4) if has_cards else None
        return BureauReport(
            provider=self.name,
            thin_file=False,
            inquiries_3m=inq3,
            inquiries_6m=inq6,
            current_delinquency=current,
            delinquencies_24m=delinquencies,
            max_dpd_24m=max_dpd,
            open_accounts=accounts,
            monthly_debt_minor=int(debt_yuan) * 100,
            card_utilisation=utilisation,
        )
