"""Names, phones and identity documents of the demo merchants (all invented, all well-formed)."""
from __future__ import annotations

import numpy as np

from console.checks import USCC_ALPHABET, make_id_number, make_uscc

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
            "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹")
GIVEN_CHARS = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明",
               "超", "秀", "霞", "平", "刚", "桂", "华", "建", "国", "文", "辉", "鹏", "志", "红", "斌",
               "宇", "浩", "凯", "晨", "欣", "婷", "雪", "峰", "海", "亮")
TRADE_FIRST = ("恒", "永", "广", "中", "利", "宝", "鑫", "华", "瑞", "锦", "诚", "汇", "鼎", "博", "腾",
               "安", "众", "盛", "金", "福", "德", "新", "东", "正", "通", "远", "嘉", "隆", "兴", "泰")
TRADE_SECOND = ("通", "达", "汇", "升", "星", "信", "丰", "程", "源", "盛", "远", "吉", "辉", "悦", "驰",
                "骏", "途", "顺", "和", "昌", "邦", "聚", "诚", "润", "旺", "捷", "宏", "瀚", "祥", "泽")
PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                  "152", "153", "155", "156", "158", "159", "166", "173", "175", "176", "177",
                  "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")

SHOP_SUFFIX = {"4s": "{brand}4S店", "secondary": "车行", "resource": "汽车贸易",
               "parallel_import": "平行进口车"}
COMPANY_SUFFIX = {"4s": "汽车销售服务有限公司", "secondary": "汽车销售有限公司",
                  "resource": "汽车贸易有限公司", "parallel_import": "国际贸易有限公司"}


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    sur = rng.choice(SURNAMES, n)
    g1 = rng.choice(GIVEN_CHARS, n)
    g2 = np.where(rng.random(n) < 0.7, rng.choice(GIVEN_CHARS, n), "")
    return np.char.add(np.char.add(sur, g1), g2)


def trade_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.char.add(rng.choice(TRADE_FIRST, n), rng.choice(TRADE_SECOND, n))


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = rng.choice(PHONE_PREFIXES, n)
    body = rng.integers(0, 100_000_000, n)
    return np.array([f"{p}{b:08d}" for p, b in zip(prefix, body)])


def id_number(rng: np.random.Generator, region: str, anchor_year: int) -> str:
    """A valid 居民身份证号码 of an adult aged 24-60 born in ``region``."""
    year = anchor_year - int(rng.integers(24, 61))
    born = np.datetime64(f"{year}-01-01") + np.timedelta64(int(rng.integers(0, 365)), "D")
    return make_id_number(region, born.astype(object), int(rng.integers(0, 1000)))


def uscc(rng: np.random.Generator, region: str) -> str:
    """A valid 统一社会信用代码 of a company (registration dept 9, kind 1) in ``region``."""
    body = "".join(USCC_ALPHABET[i] for i in rng.integers(0, len(USCC_ALPHABET), 9))
    return make_uscc(region, body)


def spoil_id_check(value: str) -> str:
    """Same number with a wrong check digit (still 0-9 or X, so only the check catches it)."""
    options = [c for c in "0123456789X" if c != value[-1]]
    return value[:-1] + options[(ord(value[5]) + len(value)) % len(options)]


def spoil_uscc_check(value: str) -> str:
    options = [c for c in USCC_ALPHABET if c != value[-1]]
    return value[:-1] + options[(ord(value[4]) * 7) % len(options)]
