"""Personal data is masked for roles that do not need it."""
import pandas as pd
import pytest

from console.masking import id_number_for, mask_frame, mask_id_number, mask_phone, phone_for
from console.roles import Actor


def actor(*roles):
    return Actor(id=1, username="u", display_name="U", roles=frozenset(roles))


def test_mask_shapes():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_phone(None) is None


@pytest.mark.parametrize("roles, phone, id_number", [
    (("ops",), "13812341234", "11010519491231002X"),
    (("risk",), "13812341234", "11010519491231002X"),
    (("bd",), "13812341234", "110***********002X"),
    (("manager",), "138****1234", "110***********002X"),
    (("admin",), "138****1234", "110***********002X"),
    (("manager", "bd"), "13812341234", "110***********002X"),
])
def test_what_each_role_sees(roles, phone, id_number):
    a = actor(*roles)
    assert phone_for(a, "13812341234") == phone
    assert id_number_for(a, "11010519491231002X") == id_number
    frame = mask_frame(pd.DataFrame({"phone": ["13812341234"], "id_number": ["11010519491231002X"]}), a)
    assert frame.iloc[0].tolist() == [phone, id_number]
