"""Hand-built marketplace rows for the matchmaking tests (no demo generator needed)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import count

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from console import clock

AS_OF = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)   # 12:00 in Shanghai
_seq = count(1)

# name, province, tier, latitude, longitude
CITIES = {
    "上海": ("上海", 1, 31.23, 121.47),
    "杭州": ("浙江", 2, 30.27, 120.15),
    "成都": ("四川", 2, 30.57, 104.07),
    "乌鲁木齐": ("新疆", 4, 43.83, 87.62),
}


@dataclass
class World:
    """Ids of the reference rows every test shares."""
    engine: Engine
    city: dict[str, int]
    brand_id: int
    series_id: int
    trim_a: int          # guide 200,000
    trim_b: int          # same series, guide 220,000
    other_series_trim: int

    def _insert(self, sql: str, **params) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()

    def add_city(self, name: str, *, latitude: float, longitude: float) -> int:
        """A city at given coordinates (e.g. a set distance east or west of another)."""
        self.city[name] = self._insert("""
            INSERT INTO app.cities (name, short_name, adcode, province, tier_level, tier_name,
                                    longitude, latitude)
            VALUES (:n, :n, :ad, '测试', 3, 'x', :lon, :lat) RETURNING id""",
            n=name, ad=f"{200000 + len(self.city)}", lon=longitude, lat=latitude)
        return self.city[name]

    def city_west_of(self, name: str, of: str, *, km: float) -> int:
        """A city ``km`` great-circle kilometres due west of ``of`` (same latitude, so the
        haversine distance is what the longitude difference gives)."""
        import math
        _, _, lat, lon = CITIES[of]
        # haversine at equal latitudes: d = 2R asin(cos(lat) sin(dlon/2))
        dlon = 2 * math.asin(math.sin(km / (2 * 6371.0088)) / math.cos(math.radians(lat)))
        return self.add_city(name, latitude=lat, longitude=lon - math.degrees(dlon))

    def order(self, *, listing_id: int, buyer_id: int, quantity: int, status: str = "created",
              request_id: int | None = None) -> int:
        seller = self._insert("SELECT merchant_id FROM app.listings WHERE id = :l", l=listing_id)
        return self._insert("""
            INSERT INTO app.orders (request_id, listing_id, buyer_id, seller_id, quantity,
                                    unit_price, amount, deposit_amount, status, created_at)
            VALUES (:r, :l, :b, :s, :q, 100000, 100000 * :q, 5000 * :q, :st, :at) RETURNING id""",
            r=request_id, l=listing_id, b=buyer_id, s=seller, q=quantity, st=status,
            at=AS_OF - timedelta(days=1))

    def merchant(self, *, city: str = "上海", status: str = "active",
                 merchant_type: str = "4s", name: str | None = None) -> int:
        n = next(_seq)
        return self._insert("""
            INSERT INTO app.merchants (name, merchant_type, city_id, channel, registered_at, status, phone)
            VALUES (:name, :mt, :city, 'organic', :at, :status, :phone) RETURNING id""",
            name=name or f"车商{n}", mt=merchant_type, city=self.city[city],
            at=AS_OF - timedelta(days=400), status=status, phone=f"138{n:08d}")

    def listing(self, *, merchant_id: int, trim_id: int | None = None, price: float = 180_000,
                guide_price: float = 200_000, color: str = "白", quantity: int = 2,
                city: str = "上海", available_from: date = date(2026, 3, 1),
                published_days_ago: float = 1, status: str = "live",
                parallel: bool = False, self_operated: bool = False) -> int:
        return self._insert("""
            INSERT INTO app.listings (merchant_id, trim_id, exterior_color, interior_color, quantity,
                city_id, price, guide_price, available_from, is_parallel_import, is_self_operated,
                status, published_at)
            VALUES (:m, :t, :c, '黑', :q, :city, :p, :g, :af, :pi, :so, :st, :pub) RETURNING id""",
            m=merchant_id, t=trim_id or self.trim_a, c=color, q=quantity, city=self.city[city],
            p=price, g=guide_price, af=available_from, pi=parallel, so=self_operated, st=status,
            pub=AS_OF - timedelta(days=published_days_ago))

    def request(self, *, merchant_id: int, trim_id: int | None | str = "a", colors: list[str] | None = None,
                quantity: int = 1, city: str = "上海", max_price: float = 190_000,
                needed_by: date | None = None, mode: str = "normal",
                bid_deadline: datetime | None = None, series_id: int | None = None,
                status: str = "open") -> int:
        trim = self.trim_a if trim_id == "a" else trim_id
        # Two months ahead of the real clock: a request past its needed-by day is stale and
        # leaves the lead pool (issue 14), whatever AS_OF the matching runs at.
        needed_by = needed_by or clock.today() + timedelta(days=60)
        return self._insert("""
            INSERT INTO app.requests (merchant_id, series_id, trim_id, accepted_colors, quantity, city_id,
                max_price, needed_by, mode, bid_deadline, status, created_at)
            VALUES (:m, :s, :t, :cols, :q, :city, :mp, :nb, :mode, :dl, :st, :at) RETURNING id""",
            m=merchant_id, s=series_id or self.series_id, t=trim, cols=colors or [], q=quantity,
            city=self.city[city], mp=max_price, nb=needed_by, mode=mode, dl=bid_deadline,
            st=status, at=AS_OF - timedelta(days=2))

    def bid(self, *, request_id: int, seller_id: int, price: float, listing_id: int | None = None,
            quantity: int = 1) -> int:
        return self._insert("""
            INSERT INTO app.bids (request_id, seller_id, listing_id, price, quantity, created_at)
            VALUES (:r, :s, :l, :p, :q, :at) RETURNING id""",
            r=request_id, s=seller_id, l=listing_id, p=price, q=quantity, at=AS_OF)


def build_world(engine: Engine) -> World:
    with engine.begin() as conn:
        city = {}
        for i, (name, (prov, tier, lat, lon)) in enumerate(CITIES.items()):
            city[name] = conn.execute(sa.text("""
                INSERT INTO app.cities (name, short_name, adcode, province, tier_level, tier_name,
                                        longitude, latitude)
                VALUES (:n, :n, :ad, :p, :t, 'x', :lon, :lat) RETURNING id"""),
                {"n": name, "ad": f"{100000 + i}", "p": prov, "t": tier, "lon": lon,
                 "lat": lat}).scalar_one()
        brand = conn.execute(sa.text(
            "INSERT INTO app.brands (name) VALUES ('丰田') RETURNING id")).scalar_one()
        series = conn.execute(sa.text("""
            INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price, max_guide_price,
                                    energy_type, origin)
            VALUES (:b, '凯美瑞', '广汽丰田', 170000, 260000, 'hev', 'joint_venture') RETURNING id"""),
            {"b": brand}).scalar_one()
        other = conn.execute(sa.text("""
            INSERT INTO app.series (brand_id, name, manufacturer, min_guide_price, max_guide_price,
                                    energy_type, origin)
            VALUES (:b, '汉兰达', '广汽丰田', 250000, 350000, 'ice', 'joint_venture') RETURNING id"""),
            {"b": brand}).scalar_one()

        def trim(series_id: int, name: str, price: int) -> int:
            return conn.execute(sa.text("""
                INSERT INTO app.trims (series_id, name, model_year, guide_price, energy_type)
                VALUES (:s, :n, 2025, :p, 'hev') RETURNING id"""),
                {"s": series_id, "n": name, "p": price}).scalar_one()

        trim_a = trim(series, "2025款 2.0E 精英版", 200_000)
        trim_b = trim(series, "2025款 2.5HQ 旗舰版", 220_000)
        other_trim = trim(other, "2025款 2.0T 豪华版", 300_000)
    return World(engine, city, brand, series, trim_a, trim_b, other_trim)
