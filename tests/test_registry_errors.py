import pytest

from explainendo.errors import ConfigError, ExplainendoError, InvalidImageError, ManifestError, ModelFileError
from explainendo.registry import Registry


def test_registry_register_get_list():
    reg = Registry("widget")

    @reg.register("color_a")
    class A:
        pass

    @reg.register("shape_b")
    def b():
        return 1

    assert reg.get("color_a") is A and A.registry_name == "color_a"
    assert reg.list("color*") == ["color_a"] and reg.list() == ["color_a", "shape_b"]
    assert "shape_b" in reg and len(reg) == 2
    with pytest.raises(ConfigError, match="unknown widget 'nope'.*color_a"):
        reg.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("color_a")(object)


def test_error_messages_name_source_and_hint():
    e = InvalidImageError("zero bytes", source="/data/x.jpg", hint="re-export it")
    assert str(e) == "'/data/x.jpg': zero bytes (re-export it)"
    assert isinstance(e, ExplainendoError) and isinstance(e, ValueError)
    assert isinstance(ModelFileError("tampered"), OSError)
    assert isinstance(ManifestError("bad", problems=[1]), ValueError)
