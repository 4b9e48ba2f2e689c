"""Every rule answers promptly or refuses with the limit named (issue 12): the trig and sine rules
refuse radii above bounds.MAX_RADIUS and double-angle counts above MAX_SQUARINGS instead of
searching for minutes."""

import pytest

import bounds
from bounds.rules import MAX_RADIUS, MAX_SQUARINGS


@pytest.mark.parametrize("function", ["cos", "cosh", "sin", "sinh"])
@pytest.mark.parametrize("r", [MAX_RADIUS * 1.0001, 1e6, 1e300])
def test_radius_beyond_the_limit_is_refused_naming_it(function, r):
    with pytest.raises(ValueError, match="MAX_RADIUS = 32"):
        bounds.choose_for(function, 3, 1e-3, r=r)


@pytest.mark.parametrize("choose", [bounds.trig.choose_trig, bounds.sine.choose_sine])
def test_too_many_double_angles_is_refused(choose):
    function = "cos" if choose is bounds.trig.choose_trig else "sin"
    with pytest.raises(ValueError, match=f"\\[0, {MAX_SQUARINGS}\\]"):
        choose(function, 3, 1e-3, 1.0, s=10**6)
    choice = choose(function, 2, 1e-2, 1.0, s=1)  # inside the limits: answered
    assert choice.s == 1
