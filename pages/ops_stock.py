"""Self-operated stock (/stock, 自营库存): the platform's own cars for ops and managers. The
stock list with its filters (warehouse, status, age band, brand and series), each car's days
in stock, holding cost to date and the margin left at its asking price; the ageing chart
(cars and capital by age band); the markdown list with each car's suggested markdown and a
form to apply it; and one car (/stock?car=<id>): its prices and their history, reserve,
release and sell."""
import itertools

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from console import fmt
from console.inventory import holding, prices, sales, stock
from console.settings import get_settings
from console.ui import (enum_label, flash, keep_choices, labelled, lang, pager, require_actor,
                        run_action, run_query, show_flash, t)
from console.ui import seen_versions
from console.ui.links import page_url, parse_id, record_link

PAGE = "pages/ops_stock.py"
ALL = "all"   # the list filters' "every warehouse / band / brand / series"
# What staff act on first (status, days, the margin left) before the table's right edge; the
# warehouse, purchase date and buyer after.
LIST_COLUMNS = ["id", "car", "status", "days", "band", "margin_left", "asking_price",
                "floor_price", "purchase_cost", "holding", "warehouse", "purchase_date", "buyer"]
MARKDOWN_COLUMNS = ["id", "car", "warehouse", "days", "band", "purchase_cost", "first_asking",
                    "asking_price", "floor_price", "holding", "eaten_share", "band_price",
                    "suggested_price", "last_change_at"]
MONEY = ["purchase_cost", "asking_price", "floor_price", "holding", "margin_left",
         "first_asking", "band_price", "suggested_price"]

actor = require_actor()
st.title(t("inv.title"))
s = get_settings()
st.caption(t("inv.caption", rate=fmt.percent(float(s.stock_capital_daily_rate), digits=2),
             fee=fmt.yuan(s.stock_warehouse_yuan_per_day),
             share=fmt.percent(float(s.stock_markdown_share), digits=0)))
with st.container():
    # One block whether or not there is a message: a message added above the tabs moved them,
    # and the browser drew them anew on the first tab (a markdown saved from the markdown list
    # sent the person back to the stock list).
    show_flash()


def yuan(value) -> str:
    return fmt.yuan(value, digits=0)


def open_car(car_id: int) -> None:
    st.switch_page(PAGE, query_params={"car": str(int(car_id))})


def back_to_stock() -> None:
    """The desk again, with the car gone from the address (a page link to this same page
    kept ?car= in the address bar, so a reload opened the car again)."""
    del st.query_params["car"]
    st.rerun()


# A car that moved on since this tab drew it was changed elsewhere (another person, another
# tab), and a form on the old page was dropped unsaved (console/ui/seen_versions.py).
def seen(car_id: int, version: int) -> None:
    seen_versions.note("stock_car", car_id, version)


def changed_elsewhere(car: dict) -> bool:
    return seen_versions.changed_elsewhere("stock_car", car["id"], car["version"])


def buyer_given(buyer) -> bool:
    """An empty merchant number is asked for in words (the service would refuse the 0 it
    becomes as an invalid id)."""
    if buyer is None:
        st.error(t("inv.form.buyer_required"))
        return False
    return True


def count_step(top: int) -> int:
    """A whole-car tick step for the ageing chart's cars axis: 1, 2, 5, 10, 20, 50… for at most
    six steps (the axis otherwise took the capital axis's ticks: 16.7, 33.3 cars)."""
    step, factors = 1, itertools.cycle((2, 2.5, 2))
    while top / step > 6:
        step = int(step * next(factors))
    return step


def car_name(rows):
    return [f"{b} {s} {tr}" for b, s, tr in zip(rows["brand"], rows["series"], rows["trim_name"])]


def shown(rows, columns):
    """The rows as staff read them: money in yuan, days, bands and statuses in words."""
    out = rows.assign(
        car=car_name(rows),
        band=rows["band"].map(lambda b: enum_label("stock_band", b)),
        status=rows["status"].map(lambda v: enum_label("stock_status", v)),
        buyer=[r if isinstance(r, str) else (b if isinstance(b, str) else fmt.MISSING)
               for r, b in zip(rows["reserved_for_name"], rows["sold_to_name"])],
        **{c: rows[c].map(yuan) for c in MONEY if c in rows.columns})
    if "eaten_share" in rows.columns:
        out["eaten_share"] = rows["eaten_share"].map(
            lambda v: t("inv.md.no_margin") if v is None else fmt.percent(v))
    if "suggested_price" in rows.columns:
        out["suggested_price"] = [
            t("inv.md.no_cut") if p is None else (yuan(p) + (t("inv.md.floor_mark") if f else ""))
            for p, f in zip(rows["suggested_price"], rows["at_floor"])]
    return fmt.frame(out, {"purchase_date": "day", "days": "number"}, lang=lang())[columns]


# ---------------------------------------------------------------- one car
def price_form(car: dict, suggestion, *, key: str) -> None:
    with st.form(f"inv_price_{key}"):
        p1, p2 = st.columns(2)
        asking_default = suggestion.price if suggestion and suggestion.price else car["asking_price"]
        asking = p1.text_input(t("inv.form.asking"), value=f"{asking_default:.2f}", max_chars=40,
                               key=f"inv_asking_{key}")
        floor = p2.text_input(t("inv.form.floor"), value=f"{car['floor_price']:.2f}", max_chars=40,
                              key=f"inv_floor_{key}")
        reason = st.text_area(t("inv.form.reason"), key=f"inv_reason_{key}", height=68,
                              placeholder=t("inv.form.reason_hint"))
        if st.form_submit_button(t("inv.form.reprice"), type="primary"):
            done = run_action(prices.change_prices, actor=actor, stock_car_id=int(car["id"]),
                              version=int(car["version"]), asking_price=asking,
                              floor_price=floor, reason=reason)
            if done:
                seen(car["id"], done.value.version)
                flash(t("inv.done.repriced", id=int(car["id"])))
                st.rerun()


def show_car(car_id: int) -> None:
    page = run_query(stock.car_page, actor=actor, stock_car_id=car_id)
    if page is None:
        return
    car = page.car
    if st.button(t("inv.car.back"), icon=":material/arrow_back:", key="inv_back"):
        back_to_stock()
    if changed_elsewhere(car):
        st.warning(t("inv.car.changed", id=int(car["id"]),
                     status=enum_label("stock_status", car["status"])),
                   icon=":material/update:")
    st.subheader(t("inv.car.heading", id=car["id"], car=f"{car['brand']} {car['series']} "
                   f"{car['trim_name']}", status=enum_label("stock_status", car["status"])))
    st.markdown(t("inv.car.where", warehouse=car["warehouse"], city=car["warehouse_city"],
                  vin=car["vin"] or fmt.MISSING, color=car["exterior_color"],
                  purchased=fmt.day(car["purchase_date"]),
                  listing=f"#{car['listing_id']}" if car["listing_id"] else fmt.MISSING))
    c = st.columns(6)
    c[0].metric(t("inv.car.cost"), yuan(car["purchase_cost"]))
    c[1].metric(t("inv.car.days"), fmt.number(car["days"]),
                help=enum_label("stock_band", car["band"]))
    c[2].metric(t("inv.car.holding"), yuan(car["holding"]),
                help=t("inv.car.daily", daily=fmt.yuan(page.daily_cost, digits=2)))
    c[3].metric(t("inv.car.asking"), yuan(car["asking_price"]))
    c[4].metric(t("inv.car.floor"), yuan(car["floor_price"]))
    if car["status"] == "sold":
        c[5].metric(t("inv.car.realised"), yuan(car["realised_margin"]))
        st.info(t("inv.car.sold_line", buyer=record_link("merchant", car["sold_to"],
                                                           car["sold_to_name"]),
                  price=yuan(car["sold_price"]), when=fmt.when(car["sold_at"]),
                  holding=yuan(car["holding"]), margin=yuan(car["realised_margin"])))
    else:
        c[5].metric(t("inv.car.margin_left"), yuan(car["margin_left"]),
                    help=t("inv.car.margin_at_purchase", margin=yuan(car["margin_at_purchase"])))
    if car["status"] == "reserved":
        st.warning(t("inv.car.reserved_line", buyer=record_link(
            "merchant", car["reserved_for"], car["reserved_for_name"]),
            when=fmt.when(car["reserved_at"])))
    sug = page.suggestion
    if sug is not None and sug.price is not None:
        st.info(t("inv.car.suggestion", price=yuan(sug.price), band_price=yuan(sug.band_price),
                  band=enum_label("stock_band", car["band"]))
                + (t("inv.md.floor_note") if sug.at_floor else ""))

    st.markdown(f"**{t('inv.car.history')}**")
    if page.prices.empty:
        st.caption(t("inv.car.no_history"))
    else:
        hist = page.prices
        st.dataframe(labelled(hist.assign(**{c: hist[c].map(yuan) for c in (
            "asking_before", "asking_after", "floor_before", "floor_after")}), "inv.hist.col"),
            hide_index=True, width="stretch")
    if car["status"] == "sold":
        return
    # The version in the keys: after a change the forms open on the car's new prices.
    key = f"{car['id']}_v{car['version']}"
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('inv.form.price_title')}**")
        # Opens on the car's own prices: someone who only moves the floor must not mark the
        # car down to the suggestion unawares (the markdown list's form applies it).
        price_form(car, None, key=key)
    with right:
        if car["status"] == "in_stock":
            st.markdown(f"**{t('inv.form.reserve_title')}**")
            with st.form(f"inv_reserve_{key}"):
                buyer = st.number_input(t("inv.form.buyer"), step=1, value=None,
                                        key=f"inv_reserve_buyer_{key}")
                note = st.text_input(t("inv.form.note"), max_chars=2000,
                                     key=f"inv_reserve_note_{key}")
                if st.form_submit_button(t("inv.form.reserve")) and buyer_given(buyer):
                    done = run_action(sales.reserve, actor=actor, stock_car_id=int(car["id"]),
                                      version=int(car["version"]), merchant_id=int(buyer),
                                      note=note)
                    if done:
                        seen(car["id"], done.value.version)
                        flash(t("inv.done.reserved", id=int(car["id"])))
                        st.rerun()
        else:
            st.markdown(f"**{t('inv.form.release_title')}**")
            with st.form(f"inv_release_{key}"):
                note = st.text_input(t("inv.form.note"), max_chars=2000,
                                     key=f"inv_release_note_{key}")
                if st.form_submit_button(t("inv.form.release")):
                    done = run_action(sales.release, actor=actor, stock_car_id=int(car["id"]),
                                      version=int(car["version"]), note=note)
                    if done:
                        seen(car["id"], done.value.version)
                        flash(t("inv.done.released", id=int(car["id"])))
                        st.rerun()
        st.markdown(f"**{t('inv.form.sell_title')}**")
        with st.form(f"inv_sell_{key}"):
            s1, s2 = st.columns(2)
            held_for = car["reserved_for"] if car["status"] == "reserved" else None
            buyer = s1.number_input(t("inv.form.buyer"), step=1,
                                    value=int(held_for) if held_for else None,
                                    key=f"inv_sell_buyer_{key}")
            price = s2.text_input(t("inv.form.sold_price"), value=f"{car['asking_price']:.2f}",
                                  max_chars=40, key=f"inv_sell_price_{key}")
            note = st.text_input(t("inv.form.note"), max_chars=2000, key=f"inv_sell_note_{key}")
            st.caption(t("inv.form.sell_hint", floor=yuan(car["floor_price"])))
            if st.form_submit_button(t("inv.form.sell"), type="primary") and buyer_given(buyer):
                done = run_action(sales.sell, actor=actor, stock_car_id=int(car["id"]),
                                  version=int(car["version"]), merchant_id=int(buyer),
                                  sold_price=price, note=note)
                if done:
                    seen(car["id"], done.value.version)
                    flash(t("inv.done.sold", id=int(car["id"])))
                    st.rerun()


raw = st.query_params.get("car")
chosen_car = parse_id(raw)
if raw not in (None, "") and chosen_car is None:
    st.error(t("links.bad_id", kind=t("inv.kind")))
if chosen_car is not None:
    show_car(chosen_car)
    st.stop()

# ---------------------------------------------------------------- the desk
options = run_query(stock.filter_options, actor=actor)
if options is None:
    st.stop()
warehouses = {int(r.id): f"{r.name}（{r.city}）" if lang() == "zh" else f"{r.name} ({r.city})"
              for r in options.warehouses.itertuples()}
tab_list, tab_ageing, tab_markdown = st.tabs([t("inv.tab.list"), t("inv.tab.ageing"),
                                              t("inv.tab.markdown")])

with tab_ageing:
    summary = run_query(stock.ageing_summary, actor=actor)
    if summary is not None:
        labels = [enum_label("stock_band", b) for b in summary["band"]]
        unit = fmt.wan_unit(lang())
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_trace(go.Bar(x=labels, y=[float(v) / 10_000 for v in summary["capital"]],
                             name=f"{t('inv.ageing.capital')} ({unit})"), secondary_y=False)
        fig.add_trace(go.Scatter(x=labels, y=summary["cars"].tolist(), mode="lines+markers+text",
                                 text=[fmt.number(v) for v in summary["cars"]],
                                 textposition="top center", name=t("inv.ageing.cars")),
                      secondary_y=True)
        fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10),
                          legend=dict(orientation="h", y=1.12))
        fig.update_yaxes(title_text=unit, secondary_y=False)
        fig.update_yaxes(title_text=t("inv.ageing.cars"), secondary_y=True, rangemode="tozero",
                         tickmode="linear", tick0=0, tickformat=",d", showgrid=False,
                         dtick=count_step(int(summary["cars"].max())))
        st.plotly_chart(fig, width="stretch", key="inv_ageing_chart")
        table = summary.assign(band=labels, capital=summary["capital"].map(fmt.wan_number),
                               holding=summary["holding"].map(fmt.wan_number),
                               cars=summary["cars"].map(fmt.number))
        st.dataframe(labelled(table, "inv.ageing.col"), hide_index=True, width="stretch")
        st.caption(t("inv.ageing.note", cars=fmt.number(int(summary["cars"].sum())),
                     capital=fmt.wan(sum(summary["capital"]), lang=lang())))

with tab_list:
    # The filters keep their choices through a language switch, shown in the new language;
    # "all" is a choice of its own (a None value would read as no choice after the switch).
    keep_choices("inv_f_wh", "inv_f_status", "inv_f_band", "inv_f_brand", "inv_f_series",
                 page="stock")
    st.session_state.setdefault("inv_f_status", ["in_stock", "reserved"])   # keep_choices

    def every(labels):
        return lambda v: t("common.all") if v == ALL else labels(v)

    f1, f2, f3, f4, f5 = st.columns([1.6, 1.6, 1.2, 1.3, 1.3])
    wh = f1.selectbox(t("inv.f.warehouse"), [ALL, *warehouses], key="inv_f_wh",
                      format_func=every(warehouses.get))
    statuses = f2.multiselect(t("inv.f.status"), list(stock.STATUSES), key="inv_f_status",
                              format_func=lambda v: enum_label("stock_status", v))
    band = f3.selectbox(t("inv.f.band"), [ALL, *holding.BAND_CODES], key="inv_f_band",
                        format_func=every(lambda b: enum_label("stock_band", b)))
    brands = dict(zip(options.series["brand_id"], options.series["brand"]))
    brand = f4.selectbox(t("inv.f.brand"), [ALL, *brands], key="inv_f_brand",
                         format_func=every(brands.get))
    in_brand = (options.series[options.series["brand_id"] == brand] if brand != ALL
                else options.series)
    series = dict(zip(in_brand["series_id"], in_brand["series"]))
    serie = f5.selectbox(t("inv.f.series"), [ALL, *series], key="inv_f_series",
                         format_func=every(series.get))
    filters = stock.StockFilters(
        warehouse_id=None if wh == ALL else int(wh), statuses=tuple(statuses),
        band=None if band == ALL else band,
        brand_id=None if brand == ALL else int(brand),
        series_id=int(serie) if serie != ALL and serie in series else None)
    size = get_settings().page_size
    offset = (st.session_state.get("inv_list__page", 1) - 1) * size
    found = run_query(stock.stock_list, actor=actor, filters=filters, limit=size, offset=offset)
    if found is not None:
        if found.rows.empty:
            st.info(t("inv.list.empty"))
        else:
            event = st.dataframe(labelled(shown(found.rows, LIST_COLUMNS), "inv.col"),
                                 hide_index=True, width="stretch", on_select="rerun",
                                 selection_mode="single-row", key="inv_list_table")
            picked = event.selection.rows if event is not None else []
            if picked:
                chosen = int(found.rows.iloc[picked[0]]["id"])
                if st.button(t("inv.list.open", id=chosen), key="inv_open_selected",
                             icon=":material/open_in_new:"):
                    open_car(chosen)
        if pager(key="inv_list", total=found.total, page_size=size) != offset:
            st.rerun()

with tab_markdown:
    md = run_query(stock.markdown_list, actor=actor)
    if md is not None:
        st.caption(t("inv.md.caption", share=fmt.percent(md.share, digits=0),
                     points=" / ".join(f"{enum_label('stock_band', b)} {p}"
                                       for b, p in zip(holding.BAND_CODES,
                                                       holding.terms().band_points))))
        if md.rows.empty:
            st.info(t("inv.md.empty"))
        else:
            if md.total > len(md.rows):
                st.caption(t("inv.md.first", shown=fmt.number(len(md.rows)),
                             total=fmt.number(md.total)))
            event = st.dataframe(labelled(shown(md.rows, MARKDOWN_COLUMNS), "inv.md.col"),
                                 hide_index=True, width="stretch", on_select="rerun",
                                 selection_mode="single-row", key="inv_md_table")
            picked = event.selection.rows if event is not None else []
            if picked:
                row = md.rows.iloc[picked[0]]
                st.markdown(t("inv.md.apply_title", id=int(row["id"]),
                              link=page_url("stock", car=int(row["id"]))))
                suggestion = holding.Suggestion(band_price=row["band_price"],
                                                price=row["suggested_price"],
                                                at_floor=bool(row["at_floor"]))
                price_form(dict(row), suggestion,
                           key=f"md_{int(row['id'])}_v{int(row['version'])}")
