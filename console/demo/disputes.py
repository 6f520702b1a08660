"""Both sides' statements in the demo's escrow disputes (app.dispute_statements).

The merchant who raised a dispute states its complaint soon after raising it, with the
evidence it attached; the other side answers within two days (a few have not answered
yet). The wording follows the dispute's reason and who raised it, and carries the deal's
own figures (deposit, quantity, days since the deposit).

Drawn from a generator of its own, seeded from the world's generator without advancing
it: adding the statements changes no other table of a seed's world.
"""
from __future__ import annotations

import json

import numpy as np

from console.demo.generate import DAY, HOUR, NA, Table, World

# reason -> (what the buyer says when raising it, what the seller answers)
BUYER_RAISES = {
    "not_delivered": (
        "定金{deposit}元已于{paid}通过平台担保支付，合同约定付定金后{promise}天内交车，至今已过去{days}天仍未交车。"
        "卖方先说车在路上，后来电话不接、微信不回。我方下游客户已经在催，要求全额退还定金。",
        "车辆{qty}台早已到库，我方{paid_plus}就通知买方来提车并结清尾款，买方一直以资金周转为由拖延。"
        "不是我方不交车，是买方不来提，不同意全额退定金。"),
    "wrong_spec": (
        "到店验车发现配置与约定不符：合同写的是顶配（带全景天窗和360影像），实车是次顶配，"
        "且内饰颜色也不对。已现场拍照，卖方承认是发错车但拖着不换，要求退还定金。",
        "合同及聊天记录里买方确认的就是这款配置，是买方客户临时要换顶配。"
        "我方可以协调换车，但需补差价，不接受无条件退定金。"),
    "late_delivery": (
        "约定{paid}后5天内交车，实际拖了{days}天，我方因此被下游客户退订一台。"
        "卖方延误在先，要求退还部分定金作为补偿。",
        "厂家发运计划调整，延迟是不可抗力，我方第一时间在群里告知了买方，买方当时同意等待。"
        "车辆现已到店可提，愿意在尾款中让利1000元，但不同意扣定金。"),
    "price_change": (
        "付定金时谈好的是下{points}点，付完定金后卖方说厂家政策变了，每台要加价{markup}元才肯发车。"
        "临时加价属于违约，要求全额退还定金。",
        "报价单写明有效期3天，买方逾期才付定金，期间厂家商务政策已调整。"
        "我方按新政策报价合情合理，买方不接受可以协商，但定金不应全退。"),
    "damage": (
        "车辆到店PDI检查发现左后门有明显划痕、前保险杠有补漆痕迹，疑似事故或展车。"
        "已请第三方检测出具报告，要求退还定金或按维修费用折价。",
        "发车前我方做过检查并拍了视频，车况完好，损伤是物流运输途中造成的，"
        "应由物流公司承担，不应由我方退定金。交接单上买方也签了字。"),
    "other": (
        "卖方提供的合格证与车辆信息不一致，开票迟迟开不出来，无法上牌。要求退还定金，交易取消。",
        "合格证信息已与厂家核实无误，开票延迟是买方提供的开票资料有误，已让买方重新提供。"),
}
# reason -> (what the seller says when raising it, what the buyer answers)
SELLER_RAISES = {
    "not_delivered": (
        "车已按约定备好{qty}台，买方付了定金{deposit}元后{days}天不来提车也不付尾款，车辆压库产生费用。"
        "买方违约，要求定金归我方。",
        "卖方备的车与约定颜色不符，我方要求换车后才付尾款，并非不提车。"),
    "wrong_spec": (
        "买方收车后以配置不符为由拒付尾款，但合同写明的配置与实车完全一致，"
        "买方是下游客户反悔后找借口。要求放款定金。",
        "实车缺少合同约定的选装包，我方有验车照片，尾款暂不能付。"),
    "late_delivery": (
        "车辆到店后买方一直推迟提车，已超过约定{days}天，我方占用资金和库位。要求按约定扣留定金。",
        "我方已说明提车日期需顺延，卖方当时口头同意，现在翻脸不认。"),
    "price_change": (
        "买方付定金后要求再降价每台{markup}元，否则不提车，这是恶意压价。要求放款定金。",
        "付定金前卖方口头承诺同批次再优惠，我方只是要求兑现承诺。"),
    "damage": (
        "买方称车辆有损伤拒收，但交车时双方签了交接单确认车况无异常，损伤是买方提车后造成的。",
        "交接时天色已晚没有细看，第二天洗车后就发现了划痕，已第一时间联系卖方。"),
    "other": (
        "买方付定金后失联，电话微信均无回应，车辆已为其保留{days}天。要求定金归我方。",
        "公司账户被临时冻结导致无法付尾款，已在处理，请求再给一周时间。"),
}
EVIDENCE = {
    "buyer": [("transfer", "定金支付凭证"), ("chat", "微信聊天记录截图"), ("photo", "验车照片"),
              ("contract", "购车合同（盖章版）"), ("inspection", "第三方检测报告")],
    "seller": [("chat", "沟通记录截图"), ("photo", "发车前车况视频截图"),
               ("logistics", "物流交接单"), ("contract", "报价单与合同"), ("photo", "库存车辆照片")],
}
NO_ANSWER_YET = 0.12       # share of open disputes whose other side has not answered yet


def _day(ts: int) -> str:
    return np.datetime_as_string(np.datetime64(int(ts) + 8 * HOUR, "s"), unit="D").item()


def _evidence(rng: np.random.Generator, side: str, reason: str) -> str:
    pool = EVIDENCE[side]
    picked = rng.choice(len(pool), size=int(rng.integers(1, 4)), replace=False)
    items = []
    for k in sorted(picked):
        kind, title = pool[int(k)]
        count = int(rng.integers(2, 9)) if kind in ("photo", "chat") else 1
        items.append({"kind": kind, "title": f"{title}（{count}张）" if count > 1 else title})
    if side == "buyer" and reason == "damage" and not any(i["kind"] == "photo" for i in items):
        items.append({"kind": "photo", "title": "车身损伤照片（6张）"})
    return json.dumps(items, ensure_ascii=False)


def statements(w: World) -> Table:
    """Statements of every dispute in the world (app.disputes must be generated)."""
    state = w.rng.bit_generator.state["state"]["state"]      # read, not advanced
    rng = np.random.default_rng([int(state) % 2**63, 14])
    d = w.tables["app.disputes"].columns
    o = w.tables["app.orders"].columns
    rows: dict[str, list] = {k: [] for k in ("id", "dispute_id", "merchant_id", "side", "body",
                                              "evidence", "created_at")}

    def add(dispute: int, merchant: int, side: str, body: str, reason: str, at: int) -> None:
        rows["id"].append(len(rows["id"]) + 1)
        rows["dispute_id"].append(dispute)
        rows["merchant_id"].append(merchant)
        rows["side"].append(side)
        rows["body"].append(body)
        rows["evidence"].append(_evidence(rng, side, reason))
        rows["created_at"].append(at)

    for k in range(len(d["id"])):
        order = int(d["order_id"][k]) - 1
        buyer, seller = int(o["buyer_id"][order]), int(o["seller_id"][order])
        raiser, reason, created = int(d["raised_by"][k]), str(d["reason"][k]), int(d["created_at"][k])
        paid = int(o["deposit_paid_at"][order]) if o["deposit_paid_at"][order] not in (None, NA) else created
        raised_by_buyer = raiser == buyer
        complaint, answer = (BUYER_RAISES if raised_by_buyer else SELLER_RAISES)[reason]
        facts = {"deposit": f"{float(o['deposit_amount'][order]):,.0f}", "paid": _day(paid),
                 "paid_plus": _day(paid + 2 * DAY), "qty": int(o["quantity"][order]),
                 "days": max(3, (created - paid) // DAY), "points": int(rng.integers(4, 15)),
                 "markup": int(rng.integers(2, 9)) * 1000}
        facts["promise"] = max(1, facts["days"] - 2)
        first = min(created + int(rng.integers(10 * 60, 3 * HOUR)), w.anchor - 120)
        add(k + 1, raiser, "buyer" if raised_by_buyer else "seller",
            complaint.format(**facts), reason, first)
        if d["status"][k] == "open" and rng.random() < NO_ANSWER_YET:
            continue
        reply = first + int(rng.integers(HOUR, 2 * DAY))
        if reply >= w.anchor - 60:
            continue
        other = seller if raised_by_buyer else buyer
        add(k + 1, other, "seller" if raised_by_buyer else "buyer", answer.format(**facts),
            reason, reply)
    return w.add(Table("app.dispute_statements", rows))
