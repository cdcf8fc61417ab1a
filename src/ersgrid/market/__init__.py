"""Market engine: tariffs and price series (more in later issues: spot prices, DR, reserve)."""

from ersgrid.market.tariff import co2_series, price_series

__all__ = ["co2_series", "price_series"]
