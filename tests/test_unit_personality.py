"""Unit tests of appliers/personality.py: without personality(2) a configured domain fails create."""
import pytest

from oci_runtime.appliers import personality
from oci_runtime.errors import ConfigError
from oci_runtime.model import Linux, Spec


def test_personality_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^config.json: linux.personality: not supported by oci-runtime yet \(it needs personality\)$"):
        personality.check(Spec("1.0.0", linux=Linux(personality={"domain": "LINUX32"})))


def test_absent_personality_passes() -> None:
    personality.check(Spec("1.0.0"))
