from __future__ import annotations

import uniflow


def test_all_lists_public_names_sorted():
    public = {
        name
        for name, value in vars(uniflow).items()
        if not name.startswith("_") and not getattr(value, "__file__", None)
    }
    public.discard("annotations")  # from __future__
    assert sorted(uniflow.__all__) == uniflow.__all__
    assert set(uniflow.__all__) - {"__version__"} == public
