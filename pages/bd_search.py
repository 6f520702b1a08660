"""BD: car-source search (车源寻找) and hand-made matches against an open request."""
import streamlit as st

from console import fmt
from console.grades import GRADES
from console.imports.details import AVAILABILITIES, MARKET_VERSIONS, PORTS
from console.services import deals, search
from console.ui import (enum_label, flash, labelled, lang, pager, require_actor, run_action,
                        run_query, show_flash, t)
from console.ui import import_details as import_ui
from console.ui.bd_credit import badge as credit_badge, buyers_credit
from console.ui.replica import replica_badge
from console.ui.links import record_url
from console.ui.pins import pin_card

PAGE_SIZE = 50
actor = require_actor()
st.title(t("matching.search.title"))
replica_badge(actor)   # the figures' replica lag, when they come from one
show_flash()



@st.cache_data(ttl=300, show_spinner=False, max_entries=64)
def filter_choices(actor_id: int, _actor):
    """The filter widgets' choices (vehicle library, places, colours), asked once per person
    every five minutes instead of on every rerun of the page (each filter change): a brand or
    trim added to the library shows in the pickers within five minutes. A refusal is returned
    as None and not kept."""
    return run_query(search.search_options, actor=_actor)


opts = filter_choices(actor.id, actor)
if opts is None:
    filter_choices.clear()
    st.stop()
brands, series, trims, cities = opts["brands"], opts["series"], opts["trims"], opts["cities"]


def pick(label: str, frame, key: str, **kw):
    """A selectbox over a frame's ids, empty meaning 'any'."""
    names = dict(zip(frame["id"], frame["name"]))
    return st.selectbox(label, [None, *names], key=key, format_func=lambda i: t("common.all")
                        if i is None else names[i], **kw)


c1, c2, c3 = st.columns(3)
with c1:
    brand_id = pick(t("matching.f.brand"), brands, "s_brand")
with c2:
    series_id = pick(t("matching.f.series"), series if brand_id is None
                     else series[series["brand_id"] == brand_id], "s_series")
with c3:
    trim_id = pick(t("matching.f.trim"), trims[trims["series_id"] == series_id] if series_id
                   else trims.iloc[0:0], "s_trim", disabled=series_id is None)

c1, c2, c3 = st.columns(3)
guide = c1.slider(t("matching.f.guide_wan"), 0, 200, (0, 200), key="s_guide")
price = c2.slider(t("matching.f.price_wan"), 0, 200, (0, 200), key="s_price")
points = c3.slider(t("matching.f.points"), -20, 40, (-20, 40), key="s_points",
                   help=t("matching.f.points_help"))

c1, c2, c3, c4 = st.columns(4)
province = c1.selectbox(t("matching.f.province"), [None, *sorted(cities["province"].unique())],
                        key="s_province", format_func=lambda p: t("common.all") if p is None else p)
with c2:
    city_id = pick(t("matching.f.city"), cities if province is None
                   else cities[cities["province"] == province], "s_city")
tier = c3.selectbox(t("matching.f.tier"), [None, 1, 2, 3, 4, 5, 6], key="s_tier",
                    format_func=lambda v: t("common.all") if v is None else enum_label("tier", v))
fresh = c4.selectbox(t("matching.f.fresh"), [None, 1, 3, 7, 30], key="s_fresh",
                     format_func=lambda d: t("common.all") if d is None else t("matching.f.days", n=d))

c1, c2, c3, c4 = st.columns(4)
colors = c1.multiselect(t("matching.f.colors"), list(opts["colors"]["color"]), key="s_colors")
types = c2.multiselect(t("matching.f.merchant_type"), ["4s", "secondary", "resource", "parallel_import"],
                       key="s_types", format_func=lambda v: enum_label("merchant_type", v))
tri = {None: t("common.all"), True: t("common.yes"), False: t("common.no")}
parallel = c3.selectbox(t("matching.f.parallel"), list(tri), key="s_parallel", format_func=tri.get)
self_op = c4.selectbox(t("matching.f.self_operated"), list(tri), key="s_self", format_func=tri.get)

# Parallel imports (issue 21): any of these set finds imports only.
c1, c2, c3 = st.columns(3)
markets = c1.multiselect(t("imports.search.f.market_version"), MARKET_VERSIONS, key="s_markets",
                         format_func=lambda v: t(f"imports.listing.market.{v}"))
ports = c2.multiselect(t("imports.search.f.port"), PORTS, key="s_ports",
                       format_func=lambda v: t(f"imports.listing.port.{v}"))
arrival = c3.selectbox(t("imports.search.f.availability"), [None, *AVAILABILITIES],
                       key="s_availability", format_func=lambda v: t("common.all") if v is None
                       else t(f"imports.listing.availability.{v}"))

c1, c2, c3 = st.columns(3)
grades = c1.multiselect(t("matching.f.grade"), list(GRADES), key="s_grades")
sort = c2.selectbox(t("matching.f.sort"), list(search.SORTS), key="s_sort",
                    format_func=lambda s: t(f"matching.sort.{s}"))
from_names = dict(zip(cities["id"], cities["name"]))
from_city = c3.selectbox(t("matching.f.from_city"), [None, *from_names], key="s_from",
                         format_func=lambda i: t("common.all") if i is None else from_names[i])
if sort == "distance" and from_city is None:
    st.info(t("matching.search.pick_city"))
    st.stop()


def wan_range(lo_hi, top):
    lo, hi = lo_hi
    return (lo * 10_000 if lo > 0 else None, hi * 10_000 if hi < top else None)


filters = search.SearchFilters(
    brand_id=brand_id, series_id=series_id, trim_id=trim_id,
    guide_min=wan_range(guide, 200)[0], guide_max=wan_range(guide, 200)[1],
    price_min=wan_range(price, 200)[0], price_max=wan_range(price, 200)[1],
    points_min=points[0] if points[0] > -20 else None, points_max=points[1] if points[1] < 40 else None,
    province=province, city_id=city_id, tier=tier, colors=tuple(colors), parallel_import=parallel,
    self_operated=self_op, fresh_days=fresh, merchant_types=tuple(types), grades=tuple(grades),
    from_city_id=from_city, market_versions=tuple(markets), ports=tuple(ports),
    availability=arrival, sort=sort)
offset = st.session_state.get("bd_search__offset", 0)
result = run_query(search.search_listings, actor=actor, filters=filters, offset=offset, limit=PAGE_SIZE)
if result is None:
    st.stop()
if grades and not result.grades_available:
    st.caption(t("matching.search.no_grades_yet"))
if result.rows.empty:
    st.info(t("common.none"))
    st.stop()
if result.total_capped:
    st.caption(t("matching.search.capped", n=f"{result.total:,}"))
# One unit per context: the price filters above are in 万元, so are the prices below
# (the unit in the header, the cells bare numbers with separators).
found = result.rows if from_city is not None else result.rows.drop(columns="km")  # km: from a city
found = import_ui.search_columns(found)   # version, port, arrival, documents, reference
rows = fmt.frame(found.assign(merchant_type=found["merchant_type"].map(
    lambda v: enum_label("merchant_type", v))), search.SHOWN_FORMATS, lang=lang())
shown = labelled(rows, "matching.col").rename(columns={
    t(f"matching.col.{c}"): t(f"search.col.{c}", unit=fmt.wan_unit(lang()))
    for c in search.PRICE_COLUMNS})
shown = import_ui.rename_columns(shown)
event = st.dataframe(shown, hide_index=True, width="stretch",
                     on_select="rerun", selection_mode="single-row", key="s_table")
new_offset = pager(key="bd_search", total=result.total, page_size=PAGE_SIZE)
if new_offset != offset:
    st.session_state["bd_search__offset"] = new_offset
    st.rerun()

selected = event.selection.rows if event is not None else []
if not selected:
    st.caption(t("matching.search.select_hint"))
    st.stop()
listing_id = int(result.rows.iloc[selected[0]]["listing_id"])
st.subheader(t("matching.search.manual_match", id=listing_id))
reqs = run_query(search.open_requests_for_listing, actor=actor, listing_id=listing_id)
if reqs is None or reqs.empty:
    st.info(t("matching.search.no_requests"))
    st.stop()
labels = {int(r.request_id): t("matching.search.request_label", id=r.request_id, buyer=r.buyer,
                                 city=r.city, qty=r.quantity,
                                 max=fmt.wan(r.max_price, lang=lang()),
                                 owner=r.owner or "—") for r in reqs.itertuples()}
request_id = st.selectbox(t("matching.search.pick_request"), list(labels), format_func=labels.get)
buyer_id = int(reqs.set_index("request_id").loc[request_id, "buyer_id"])
buyer_badge = credit_badge(buyers_credit(actor, [buyer_id]).get(buyer_id))   # issue 19
if buyer_badge:
    st.markdown(f"{t('bd_credit.buyer')}: {buyer_badge}")
if st.button(t("matching.search.create"), type="primary", key="s_create"):
    made = run_action(deals.create_match, actor=actor, request_id=request_id, listing_id=listing_id)
    if made:
        pin_card(made.value)      # at the top of its column on the board
        flash(t("matching.search.created") + " "
              + t("leads.card_link", id=int(made.value), url=record_url("card", made.value)))
        st.rerun()
