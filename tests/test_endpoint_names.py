"""One rule for a PJSIP endpoint's name wherever a site's config gives one
(a trunk to the other platform, a linkage unit's trunk): what one accepts,
the other does, and nothing that would add a dial target or option."""

import pytest

from linkdesk.bridge.app.config_error import ConfigError
from linkdesk.bridge.app.dialplan_config import _trunks
from linkdesk.bridge.core.endpoints import is_endpoint_name
from linkdesk.bridge.core.units import UnitConfigError, unit_from_config

GOOD = ["to-12345", "to_gas.2", "a", "T" * 80]
BAD = ["", "-to-gas", ".hidden", "T" * 81, "to gas", "to-gas,30", "to&gas", "to/gas", "to@gas", "tö", "to\ngas", 7]


@pytest.mark.parametrize("name", GOOD)
def test_a_good_endpoint_name_is_taken_as_a_trunk_and_as_a_units_trunk(name):
    assert is_endpoint_name(name)
    assert _trunks(name, "pbx.110.dialplan") == (name, ())
    assert unit_from_config("gas", {"name": "Gas", "number": "1901", "trunk": name}).trunk == name


@pytest.mark.parametrize("name", BAD)
def test_a_bad_endpoint_name_is_refused_as_a_trunk_and_as_a_units_trunk(name):
    assert not is_endpoint_name(name)
    with pytest.raises(ConfigError):
        _trunks([name], "pbx.110.dialplan")     # the loader's type check lets only a str or a list through
    with pytest.raises(ConfigError):
        _trunks(["to-110", name], "pbx.12345.dialplan")
    if name == "":
        return   # a unit without a trunk is dialled PJSIP/<number>: "" is no trunk, not a bad one
    with pytest.raises(UnitConfigError):
        unit_from_config("gas", {"name": "Gas", "number": "1901", "trunk": name})
