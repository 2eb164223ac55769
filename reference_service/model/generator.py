"""Seeded synthetic card transactions with realistic fields and fraud patterns.

No real transaction data can live in this repository (PCI DSS 6.5.5), so the reference model trains
on this generator. Fields are drawn with plausible marginals and correlations (currency follows
the billing country, ticket size follows the merchant category, card-not-present traffic leans to
e-commerce categories, local hours peak in the day). The fraud label comes from a latent logistic
model with interactions a fraud analyst would recognise: card-not-present + billing/IP mismatch +
new account, night-time high-risk categories, bursts of velocity, a ticket far above the card's
usual, skimmed cards used abroad. The latent score uses the *true* values; the features the model
sees then lose some of them (velocity ~5% missing, as from a degraded feature store; account age
and device flag a few percent), so missing rows carry less signal, as in production.

Everything is drawn from one ``numpy.random.Generator`` seeded by the caller, in a fixed order, so
a seed reproduces the data set exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .features import (
    COUNTRY_UTC_OFFSET_HOURS,
    USD_PER_UNIT,
    MccRisk,
    RawFeatures,
    Velocity,
    mcc_risk,
)

__all__ = ["DEFAULT_SEED", "SyntheticData", "generate"]

DEFAULT_SEED = 20_240_611

# (country, home currency, share of cardholders)
_BILLING: tuple[tuple[str, str, float], ...] = (
    ("US", "USD", 30),
    ("GB", "GBP", 8),
    ("DE", "EUR", 8),
    ("FR", "EUR", 6),
    ("ES", "EUR", 4),
    ("IT", "EUR", 4),
    ("NL", "EUR", 3),
    ("CA", "CAD", 5),
    ("AU", "AUD", 4),
    ("JP", "JPY", 5),
    ("CH", "CHF", 2),
    ("SE", "SEK", 2),
    ("NO", "NOK", 1),
    ("DK", "DKK", 1),
    ("PL", "PLN", 2),
    ("MX", "MXN", 3),
    ("BR", "BRL", 3),
    ("IN", "INR", 3),
    ("SG", "SGD", 2),
    ("HK", "HKD", 1),
    ("ZA", "ZAR", 1),
    ("AE", "AED", 1),
    ("NZ", "NZD", 1),
)
# Every country the offset table knows: destinations for travel and foreign IP addresses.
_ALL_COUNTRIES: tuple[str, ...] = tuple(sorted(COUNTRY_UTC_OFFSET_HOURS))

# (MCC, median ticket in USD, weight card-present, weight card-not-present)
_MCCS: tuple[tuple[str, float, float, float], ...] = (
    ("5411", 45.0, 20.0, 3.0),  # grocery
    ("5541", 50.0, 8.0, 0.0),  # service stations
    ("5542", 55.0, 6.0, 0.0),  # automated fuel dispensers
    ("5812", 60.0, 14.0, 2.0),  # restaurants
    ("5814", 15.0, 12.0, 2.0),  # fast food
    ("5912", 30.0, 6.0, 1.0),  # drug stores
    ("5311", 90.0, 6.0, 6.0),  # department stores
    ("5691", 80.0, 6.0, 8.0),  # clothing
    ("5732", 350.0, 3.0, 8.0),  # electronics
    ("5944", 600.0, 1.0, 2.0),  # jewellery
    ("5999", 70.0, 4.0, 10.0),  # miscellaneous retail
    ("4111", 8.0, 6.0, 2.0),  # commuter transport
    ("4121", 25.0, 3.0, 6.0),  # taxis and ride share
    ("4722", 700.0, 0.5, 4.0),  # travel agencies
    ("3000", 450.0, 0.2, 3.0),  # airline
    ("7011", 250.0, 2.0, 4.0),  # hotels
    ("4900", 120.0, 0.0, 5.0),  # utilities
    ("4814", 60.0, 0.5, 6.0),  # telecom
    ("5816", 20.0, 0.0, 7.0),  # digital goods, games
    ("5967", 40.0, 0.0, 3.0),  # direct marketing, inbound
    ("5968", 30.0, 0.0, 4.0),  # direct marketing, subscriptions
    ("7995", 100.0, 0.3, 3.0),  # gambling
    ("4829", 300.0, 0.3, 2.0),  # money transfer
    ("6051", 250.0, 0.2, 2.0),  # quasi-cash, crypto
    ("8062", 400.0, 1.0, 1.0),  # hospitals
)
_ZERO_DECIMAL = frozenset({"JPY", "KRW"})

# Relative frequency of each local hour 0..23 (night is quiet, lunch and evening peak).
_HOUR_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 11, 12, 13, 12, 11, 11, 11, 12, 13, 13, 11, 9, 6, 4],
    dtype=np.float64,
)

# Latent fraud model (log-odds). The intercept is calibrated for a base rate of about 2%.
_INTERCEPT = -5.6
_MCC_TERM = {MccRisk.LOW: -0.7, MccRisk.STANDARD: 0.0, MccRisk.ELEVATED: 0.5, MccRisk.HIGH: 1.2}

_P_VELOCITY_MISSING = 0.05
_P_AGE_MISSING = 0.03
_P_DEVICE_MISSING = 0.03


@dataclass(frozen=True, slots=True)
class SyntheticData:
    """Generated transactions and their fraud labels (1 = fraud), index-aligned."""

    rows: tuple[RawFeatures, ...]
    labels: npt.NDArray[np.int8]
    seed: int

    @property
    def fraud_rate(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else 0.0


def _p(weights: npt.ArrayLike) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    out: npt.NDArray[np.float64] = w / w.sum()
    return out


def generate(n: int, seed: int = DEFAULT_SEED) -> SyntheticData:
    """Draw ``n`` transactions and labels; the same ``(n, seed)`` always gives the same data."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)

    # Cardholder and channel.
    b_idx = rng.choice(len(_BILLING), size=n, p=_p([b[2] for b in _BILLING]))
    billing = np.array([b[0] for b in _BILLING])[b_idx]
    home_ccy = np.array([b[1] for b in _BILLING])[b_idx]
    cnp = rng.random(n) < 0.45

    # Merchant: category by channel, domestic mostly; cross-border more common online.
    mcc_idx = np.where(
        cnp,
        rng.choice(len(_MCCS), size=n, p=_p([m[3] for m in _MCCS])),
        rng.choice(len(_MCCS), size=n, p=_p([m[2] for m in _MCCS])),
    )
    mcc = np.array([m[0] for m in _MCCS])[mcc_idx]
    group = np.array([int(mcc_risk(m[0])) for m in _MCCS])[mcc_idx]
    foreign_merchant = rng.random(n) < np.where(cnp, 0.18, 0.06)
    merchant = np.where(foreign_merchant, rng.choice(_ALL_COUNTRIES, size=n), billing)
    # Card present: the IP is the terminal's, in the merchant's country. Online: the buyer's IP,
    # usually at home, sometimes travelling or behind a proxy.
    ip_foreign = rng.random(n) < 0.07
    ip = np.where(cnp, np.where(ip_foreign, rng.choice(_ALL_COUNTRIES, size=n), billing), merchant)

    # Currency: the home currency mostly, USD/EUR pricing otherwise.
    ccy = np.where(
        rng.random(n) < 0.85, home_ccy, np.where(rng.random(n) < 0.6, "USD", "EUR")
    ).astype(str)
    typical_ticket = rng.lognormal(np.log(60.0), 0.7, size=n)  # this card's usual spend, USD
    amount_usd = rng.lognormal(np.log(np.array([m[1] for m in _MCCS])[mcc_idx]), 0.9)
    rate = np.array([USD_PER_UNIT[c] for c in ccy])
    decimals = np.array([0 if c in _ZERO_DECIMAL else 2 for c in ccy])
    amount_local = np.maximum(
        np.round(amount_usd / rate * 10.0**decimals) / 10.0**decimals, 10.0**-decimals
    )

    # Time: a local hour from the daily profile, 6% uniform (bots do not sleep).
    local_hour = np.where(
        rng.random(n) < 0.06,
        rng.integers(0, 24, size=n),
        rng.choice(24, size=n, p=_p(_HOUR_WEIGHTS)),
    )
    offset = np.array([COUNTRY_UTC_OFFSET_HOURS[c] for c in billing])
    hour_utc = (local_hour - offset) % 24
    night = local_hour < 6

    # Account age: mostly mature, a few brand-new accounts.
    new_acct = rng.random(n) < 0.04
    age = np.where(
        new_acct, rng.uniform(0.0, 30.0, size=n), rng.lognormal(np.log(600.0), 1.3, size=n)
    )
    age = np.round(age, 2)
    device_known = rng.random(n) < 0.85

    # Velocity of the card (prior transactions), with occasional bursts (card testing).
    lam = rng.gamma(1.5, 1.5, size=n)
    c24 = rng.poisson(lam)
    c1 = rng.binomial(c24, 0.08)
    burst = rng.poisson(5.0, size=n) * (rng.random(n) < 0.025)
    c1 = c1 + burst
    c24 = c24 + burst
    a1 = np.round(c1 * typical_ticket * rng.lognormal(0.0, 0.3, size=n), 2)
    a24 = np.round(c24 * typical_ticket * rng.lognormal(0.0, 0.3, size=n), 2)

    # Latent fraud log-odds.
    mismatch = (ip != billing) & cnp
    cross = merchant != billing
    young = age < 30.0
    hot = c1 >= 4
    risky = group >= int(MccRisk.ELEVATED)
    z = (
        _INTERCEPT
        + 1.1 * cnp
        + 0.9 * mismatch
        + 0.5 * cross
        + np.array([_MCC_TERM[MccRisk(g)] for g in range(4)])[group]
        + 1.0 * young
        + 0.6 * (age < 7.0)
        + 0.7 * night
        + 1.3 * hot
        + 0.25 * np.minimum(c1, 8)
        + 0.5 * (c24 >= 12)
        + 0.6 * np.clip(np.log(amount_usd / typical_ticket), 0.0, 3.0)
        - 0.9 * (cnp & device_known)
        + 1.0 * (mismatch & young)
        + 0.8 * (cnp & night & (group == int(MccRisk.HIGH)))
        + 0.7 * (hot & cnp & risky)
        + 0.5 * (~cnp & cross & (amount_usd > 500.0))
    )
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.int8)

    # What the model gets to see.
    vel_missing = rng.random(n) < _P_VELOCITY_MISSING
    age_missing = rng.random(n) < _P_AGE_MISSING
    device_missing = rng.random(n) < _P_DEVICE_MISSING

    rows = tuple(
        RawFeatures(
            amount=amt,
            currency=cur,
            merchant_category_code=code,
            card_present=not is_cnp,
            merchant_country=mc,
            billing_country=bc,
            ip_country=ipc,
            hour_utc=hr,
            account_age_days=None if no_age else ag,
            device_known=None if (not is_cnp or no_dev) else dev,
            velocity=None if no_vel else Velocity(k1, k24, s1, s24),
        )
        for (
            amt,
            cur,
            code,
            is_cnp,
            mc,
            bc,
            ipc,
            hr,
            ag,
            no_age,
            dev,
            no_dev,
            no_vel,
            k1,
            k24,
            s1,
            s24,
        ) in zip(
            amount_local.tolist(),
            ccy.tolist(),
            mcc.tolist(),
            cnp.tolist(),
            merchant.tolist(),
            billing.tolist(),
            ip.tolist(),
            hour_utc.tolist(),
            age.tolist(),
            age_missing.tolist(),
            device_known.tolist(),
            device_missing.tolist(),
            vel_missing.tolist(),
            c1.tolist(),
            c24.tolist(),
            a1.tolist(),
            a24.tolist(),
            strict=True,
        )
    )
    return SyntheticData(rows=rows, labels=labels, seed=seed)
