"""Believable document images for the demo's certification cases (issue 14).

A personal case gets the front of a Chinese resident ID card (居民身份证: name, sex,
ethnicity, birth date, address, number, and a grey placeholder silhouette where the photo
goes: no real person); an enterprise case gets a business licence (营业执照: 统一社会信用代码,
name, type, legal representative, registered capital, establishment date, term, address,
a red registration seal that names no real authority). Both carry the fields the merchant
submitted, except for planted mismatches: in ``MISMATCH_RATE`` of the cases one digit of
the ID number differs on the card, or the licence shows a different company name, which
is what a reviewer compares the image with the fields for.

Drawn with Pillow and a CJK font (Debian's fonts-noto-cjk). Without a CJK font there is
nothing legible to draw: ``cjk_font_path()`` is None and the demo seeds no images (the
case page then says there are none), rather than boxes where the characters should be.

Deterministic: everything about a case's image is drawn from a hash of (seed, case id),
never from the world generator's random stream, so adding the images changes no other
demo row. Images are written to app.certification_images (migration 073: why there).

``python -m console.demo.documents`` adds the images to an already seeded database.
"""
from __future__ import annotations

import hashlib
import io
import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_CANDIDATES = (
    # (path, face index of Simplified Chinese in a collection)
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)
SERIF_BOLD = ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2)
MISMATCH_RATE = 0.05
# Which cases get images: every open one, and the ones submitted in the last RECENT_DAYS
# before the newest submission (what a reviewer may still open), at most MAX_CASES.
RECENT_DAYS = 14
MAX_CASES = 400     # ~0.1 s each: the large scale's seed stays within a minute
ID_SIZE = (856, 540)          # ID-1 card, 85.6 x 54 mm at 10 px/mm
LICENCE_SIZE = (1200, 850)


# ------------------------------------------------------------------ fonts
def cjk_font_path() -> tuple[str, int] | None:
    """The first CJK font installed (path, face index), or None."""
    for path, index in FONT_CANDIDATES:
        if Path(path).exists():
            return path, index
    return None


@lru_cache(maxsize=32)
def _font(size: int, serif: bool = False) -> ImageFont.FreeTypeFont:
    if serif and Path(SERIF_BOLD[0]).exists():
        return ImageFont.truetype(SERIF_BOLD[0], size, index=SERIF_BOLD[1])
    found = cjk_font_path()
    if found is None:
        raise FontMissing("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    return ImageFont.truetype(found[0], size, index=found[1])


class FontMissing(RuntimeError):
    pass


# ------------------------------------------------------------------ what is drawn
@dataclass(frozen=True)
class IdCard:
    name: str
    sex: str            # 男 / 女
    ethnicity: str      # 汉 …
    born: date
    address: str
    id_number: str


@dataclass(frozen=True)
class Licence:
    uscc: str
    company_name: str
    company_type: str
    legal_rep: str
    capital_wan: int    # 注册资本, 万元
    established: date
    address: str
    scope: str


def _rng(seed: int, case_id: int, number: str = "") -> random.Random:
    """The case's own stream: its id and submitted number (so another demo world draws
    other images) and the seed."""
    digest = hashlib.sha256(f"documents:{seed}:{case_id}:{number}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sex_of(id_number: str) -> str:
    """The 17th character of an ID number is odd for men, even for women."""
    digit = id_number[16:17]
    return ("男" if int(digit) % 2 else "女") if digit.isdigit() else "男"


def born_of(id_number: str) -> date | None:
    try:
        return datetime.strptime(id_number[6:14], "%Y%m%d").date()
    except ValueError:
        return None


def altered_digit(number: str, rng: random.Random) -> str:
    """The number with one of its first 17 digits changed (a typing slip or a tampered card)."""
    positions = [i for i, ch in enumerate(number[:17]) if ch.isdigit() and not 6 <= i < 14]
    if not positions:
        return number
    i = rng.choice(positions)
    new = rng.choice([d for d in "0123456789" if d != number[i]])
    return number[:i] + new + number[i + 1:]


_NAME_SWAPS = (("销售", "贸易"), ("汽车", "车业"), ("服务", "销售"), ("有限公司", "商贸有限公司"))


def altered_company(name: str, rng: random.Random) -> str:
    """A different company: one business word swapped, or another trade name."""
    for old, new in rng.sample(_NAME_SWAPS, len(_NAME_SWAPS)):
        if old in name:
            return name.replace(old, new, 1)
    return rng.choice(("华信", "恒通", "鑫源", "博远")) + name


_DISTRICTS = ("朝阳区", "西湖区", "天河区", "武侯区", "江北区", "鼓楼区", "新城区", "高新区",
              "经开区", "滨江区", "南山区", "金水区")
_ROADS = ("人民路", "建设路", "解放大道", "中山路", "长江路", "和平街", "文化路", "车城大道",
          "汽车城路", "迎宾大道", "工业园路", "花园街")
_ETHNICITIES = ("汉",) * 46 + ("回", "满", "壮", "蒙古")
_CAPITALS = (100, 200, 300, 500, 500, 1000, 1000, 2000, 3000, 5000)


def address(rng: random.Random, province: str, city: str) -> str:
    city_part = city if city != province else ""
    return (f"{province}{city_part}{rng.choice(_DISTRICTS)}{rng.choice(_ROADS)}"
            f"{rng.randint(1, 899)}号")


def planned_id_card(case: dict[str, Any], *, seed: int) -> tuple[IdCard, bool]:
    """The card of a personal case and whether its number was planted wrong."""
    number = (case["id_number"] or "").strip().upper()
    rng = _rng(seed, case["id"], number)
    mismatch = rng.random() < MISMATCH_RATE
    shown = altered_digit(number, rng) if mismatch else number
    born = born_of(number) or date(1985, 1, 1)
    return IdCard(name=case["real_name"] or "", sex=sex_of(number),
                  ethnicity=rng.choice(_ETHNICITIES), born=born,
                  address=address(rng, case["province"], case["city"]),
                  id_number=shown), mismatch and shown != number


def planned_licence(case: dict[str, Any], *, seed: int) -> tuple[Licence, bool]:
    """The licence of an enterprise case and whether its company name was planted wrong."""
    rng = _rng(seed, case["id"], case["uscc"] or "")
    mismatch = rng.random() < MISMATCH_RATE
    name = case["company_name"] or ""
    shown = altered_company(name, rng) if mismatch else name
    submitted = case["submitted_at"]
    submitted_day = submitted.date() if isinstance(submitted, datetime) else date.today()
    established = submitted_day - timedelta(days=rng.randint(200, 4000))
    return Licence(uscc=(case["uscc"] or "").strip().upper(), company_name=shown,
                   company_type="有限责任公司", legal_rep=case["legal_rep"] or "",
                   capital_wan=rng.choice(_CAPITALS), established=established,
                   address=address(rng, case["province"], case["city"]),
                   scope="汽车销售；汽车零配件零售；二手车经纪；汽车租赁；信息咨询服务"
                         "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"), \
        mismatch and shown != name


# ------------------------------------------------------------------ drawing
def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=82, optimize=True)
    return buf.getvalue()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Lines of at most ``width`` pixels; a run of digits or Latin letters is not split."""
    import re
    lines, line = [], ""
    for token in re.findall(r"[0-9A-Za-z,.]+|.", text):
        if line and draw.textlength(line + token, font=font) > width:
            lines.append(line)
            line = token
        else:
            line += token
    return lines + ([line] if line else [])


def _silhouette(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    """A grey head-and-shoulders placeholder where the holder's photo would be."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = x0 + w // 2
    shade = (176, 186, 196)
    draw.ellipse((cx - w * 0.22, y0 + h * 0.12, cx + w * 0.22, y0 + h * 0.55), fill=shade)
    draw.rectangle((cx - w * 0.07, y0 + h * 0.5, cx + w * 0.07, y0 + h * 0.64), fill=shade)
    draw.chord((x0 + w * 0.04, y0 + h * 0.6, x1 - w * 0.04, y1 + h * 0.45), 180, 360, fill=shade)


def draw_id_card(card: IdCard) -> bytes:
    """The card's front (the side with the photo and the number) as a JPEG."""
    w, h = ID_SIZE
    img = Image.new("RGB", (w, h), (236, 242, 246))
    draw = ImageDraw.Draw(img)
    for y in range(h):  # a faint diagonal sheen like the card's printed background
        tone = int(8 * ((y / h) - 0.5))
        draw.line([(0, y), (w, y)], fill=(236 + tone, 242 + tone, 247))
    for x in range(-h, w, 18):
        draw.line([(x, h), (x + h, 0)], fill=(226, 234, 241), width=1)
    draw.rounded_rectangle((4, 4, w - 5, h - 5), radius=28, outline=(190, 200, 210), width=3)
    label, value = _font(26), _font(30)
    big = _font(34)
    blue = (60, 110, 160)
    ink = (25, 25, 30)
    x_label, x_value = 60, 150
    draw.text((x_label, 58), "姓  名", font=label, fill=blue)
    draw.text((x_value, 52), card.name, font=big, fill=ink)
    draw.text((x_label, 122), "性  别", font=label, fill=blue)
    draw.text((x_value, 118), card.sex, font=value, fill=ink)
    draw.text((x_value + 110, 122), "民  族", font=label, fill=blue)
    draw.text((x_value + 200, 118), card.ethnicity, font=value, fill=ink)
    draw.text((x_label, 182), "出  生", font=label, fill=blue)
    born = f"{card.born.year}  年  {card.born.month}  月  {card.born.day}  日"
    draw.text((x_value, 178), born, font=value, fill=ink)
    draw.text((x_label, 242), "住  址", font=label, fill=blue)
    for i, line in enumerate(_wrap(draw, card.address, value, 430)[:3]):
        draw.text((x_value, 238 + i * 42), line, font=value, fill=ink)
    draw.text((x_label, 440), "公民身份号码", font=label, fill=blue)
    number_font = _font(36)
    draw.text((250, 434), " ".join([card.id_number[:6], card.id_number[6:14],
                                    card.id_number[14:]]), font=number_font, fill=ink)
    photo = (610, 60, 800, 300)
    draw.rectangle(photo, fill=(214, 222, 230))
    _silhouette(draw, photo)
    draw.text((622, 312), "样本 · 非真实证件", font=_font(20), fill=(150, 160, 170))
    return _jpeg(img.filter(ImageFilter.SMOOTH_MORE))


def draw_licence(lic: Licence) -> bytes:
    """The licence's original (正本) as a JPEG."""
    w, h = LICENCE_SIZE
    img = Image.new("RGB", (w, h), (250, 244, 230))
    draw = ImageDraw.Draw(img)
    red = (190, 40, 40)
    ink = (30, 30, 30)
    draw.rectangle((18, 18, w - 19, h - 19), outline=red, width=6)
    draw.rectangle((34, 34, w - 35, h - 35), outline=(214, 150, 120), width=2)
    for x in range(40, w - 40, 24):  # the border's printed pattern
        draw.ellipse((x, 38, x + 8, 46), outline=(222, 170, 140))
        draw.ellipse((x, h - 46, x + 8, h - 38), outline=(222, 170, 140))
    title = _font(86, serif=True)
    tw = draw.textlength("营 业 执 照", font=title)
    draw.text(((w - tw) / 2, 70), "营 业 执 照", font=title, fill=red)
    small, field_font = _font(22), _font(26)
    draw.text((70, 96), "统一社会信用代码", font=small, fill=ink)
    draw.text((70, 128), lic.uscc, font=_font(28), fill=ink)
    draw.text((w - 250, 110), "（副  本）", font=_font(26), fill=ink)
    rows = [("名        称", lic.company_name), ("类        型", lic.company_type),
            ("法定代表人", lic.legal_rep), ("经营范围", lic.scope)]
    right = [("注册资本", f"人民币{lic.capital_wan:,}万元"),
             ("成立日期", f"{lic.established.year}年{lic.established.month:02d}月"
                          f"{lic.established.day:02d}日"),
             ("营业期限", f"{lic.established.year}年{lic.established.month:02d}月"
                          f"{lic.established.day:02d}日 至 长期"),
             ("住        所", lic.address)]
    y = 250
    for name, text in rows:
        draw.text((80, y), name, font=field_font, fill=ink)
        lines = _wrap(draw, text, field_font, 400)[:5]
        for i, line in enumerate(lines):
            draw.text((230, y + i * 36), line, font=field_font, fill=ink)
        y += 36 * max(1, len(lines)) + 26
    y = 250
    for name, text in right:
        draw.text((680, y), name, font=field_font, fill=ink)
        lines = _wrap(draw, text, field_font, 330)[:4]
        for i, line in enumerate(lines):
            draw.text((820, y + i * 36), line, font=field_font, fill=ink)
        y += 36 * max(1, len(lines)) + 26
    # The registration seal: a red ring with a star; it names no real authority.
    cx, cy, r = 930, 680, 92
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=6)
    star = [(cx + (34 if k % 2 == 0 else 14) * _cos(90 + 36 * k),
             cy - 10 - (34 if k % 2 == 0 else 14) * _sin(90 + 36 * k)) for k in range(10)]
    draw.polygon(star, fill=red)
    seal = _font(22)
    sw = draw.textlength("登记机关", font=seal)
    draw.text((cx - sw / 2, cy + 34), "登记机关", font=seal, fill=red)
    draw.text((cx - 150, cy + 92), f"{lic.established.year}年{lic.established.month:02d}月"
                                    f"{lic.established.day:02d}日", font=small, fill=ink)
    draw.text((80, 740), "样本 · 非真实证照", font=small, fill=(120, 110, 100))
    return _jpeg(img)


def _cos(deg: float) -> float:
    import math
    return math.cos(math.radians(deg))


def _sin(deg: float) -> float:
    import math
    return math.sin(math.radians(deg))


# ------------------------------------------------------------------ into the database
_CASES_SQL = f"""
SELECT c.id, c.kind, c.real_name, c.id_number, c.company_name, c.uscc, c.legal_rep,
       c.submitted_at, ci.province, ci.name AS city
FROM app.certifications c
JOIN app.merchants m ON m.id = c.merchant_id
JOIN app.cities ci ON ci.id = m.city_id
WHERE (c.status IN ('pending', 'in_review')
       OR c.submitted_at >= (SELECT max(submitted_at) FROM app.certifications)
                            - interval '{RECENT_DAYS} days')
  AND NOT EXISTS (SELECT 1 FROM app.certification_images i WHERE i.certification_id = c.id)
ORDER BY c.status IN ('pending', 'in_review') DESC, c.submitted_at DESC, c.id
LIMIT {MAX_CASES}
"""
_COLUMNS = ("certification_id", "doc_code", "content_type", "image", "width", "height",
            "uploaded_at")


def image_for(case: dict[str, Any], *, seed: int) -> tuple[str, bytes, tuple[int, int], bool]:
    """(document code, JPEG, size, planted mismatch) of one case."""
    if case["kind"] == "personal":
        card, wrong = planned_id_card(case, seed=seed)
        return "id_front", draw_id_card(card), ID_SIZE, wrong
    lic, wrong = planned_licence(case, seed=seed)
    return "business_licence", draw_licence(lic), LICENCE_SIZE, wrong


def copy_images(cursor, *, seed: int = 7) -> int:
    """Draw the images of the cases that get one and have none, and COPY them in (a
    psycopg2 cursor, inside the caller's transaction). Returns the number written; 0 when
    no CJK font is installed."""
    if cjk_font_path() is None:
        print("console.demo.documents: no CJK font installed; no document images seeded",
              file=sys.stderr)
        return 0
    cursor.execute("SELECT count(*) FROM ops.cert_documents "
                   "WHERE code IN ('id_front', 'business_licence')")
    if cursor.fetchone()[0] < 2:
        # The document list comes with migration 010 (a seed with --force keeps it:
        # console.demo.MIGRATION_ROWS); a document it does not name cannot be stored.
        print("console.demo.documents: ops.cert_documents lacks id_front/business_licence; "
              "no document images seeded", file=sys.stderr)
        return 0
    cursor.execute(_CASES_SQL)
    names = [d[0] for d in cursor.description]
    cases = [dict(zip(names, row)) for row in cursor.fetchall()]
    if not cases:
        return 0
    buf = io.StringIO()
    for case in cases:
        code, jpeg, (w, h), _ = image_for(case, seed=seed)
        buf.write(f"{case['id']},{code},image/jpeg,\\x{jpeg.hex()},{w},{h},"
                  f"{case['submitted_at'].isoformat()}\n")
    buf.seek(0)
    cursor.copy_expert(f"COPY app.certification_images ({', '.join(_COLUMNS)}) "
                       "FROM STDIN WITH (FORMAT csv)", buf)
    return len(cases)


def seed_images(engine, *, seed: int = 7) -> int:
    """Add the images to an already seeded database (its own transaction)."""
    with engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        return copy_images(cursor, seed=seed)


def main(argv: list[str]) -> int:
    from console import db
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 7
    n = seed_images(db.get_engine(role="owner"), seed=seed)
    print(f"document images seeded: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
