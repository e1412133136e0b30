"""Margin formulas of the original (spec 11.2). ``p`` is the cost basis (or the price, see D12)."""


def _short_per_share(p: float) -> float:
    return max(1.5 * p, 5.0) if p >= 5 else max(p, 2.5)


def maintenance_margin(quantity: float, price: float) -> float:
    """Long: ``q × p × 0.5``; short: ``|q| × (p >= 5 ? max(1.5p, 5) : max(p, 2.5))``; flat: 0."""
    if quantity < 0:
        return -quantity * _short_per_share(price)
    return quantity * price * 0.5


def initial_margin(quantity: float, price: float) -> float:
    """Margin an opening fill of signed ``quantity`` at ``price`` needs: long ``q × p × 0.5``,
    short the short maintenance rule, 0 when the quantity is 0."""
    if quantity > 0:
        return quantity * price * 0.5
    if quantity < 0:
        return -quantity * _short_per_share(price)
    return 0.0
